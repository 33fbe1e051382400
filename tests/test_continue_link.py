"""Continue-later links (issue 11 M1): opening one changes nothing until a POST confirms; confirming moves the
answers to a new journey id, so the link works once; staff and patient state live in separate cookies."""
import re
import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.conftest import ROOT, LiveServer, assert_no_axe_violations, pages_site
from tests.helpers import sign_in, tampered
from tests.support import factors as factor_support
from tests.support.staff import EMAIL, FAST_ARGON2, PASSWORD, create_staff
from tests.support.storage import stored

pytestmark = pytest.mark.both_databases

FIXTURE_CONTENT = str(ROOT / "tests" / "fixtures" / "content")
CONFIRM = "Continue your saved answers?"


@pytest.fixture
def app(make_app):
    """The small fixture journey: start -> safety -> (urgent | surgery -> (causes ->) summary)."""
    return make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2)


def walk(client, surgery="fusion", to_summary=True):
    client.post("/journey/start")
    client.post("/journey/safety", data={"bladder": "no"})
    client.post("/journey/surgery", data={"surgery": surgery})
    if to_summary and surgery == "fusion":
        client.post("/journey/causes")


def save_link(client):
    """The path of the continue-later link the save page offers this browser."""
    html = client.get("/journey/save").get_data(as_text=True)
    return re.search(r'href="http://clinic\.test(/journey/continue/[^"]+)"', html).group(1)


def journeys(app):
    return {row["id"]: row["answers"] for row in stored(app, "SELECT id, answers FROM journeys")}


def journey_id_in_cookie(client):
    cookie = client.get_cookie("session")
    return client.application.session_interface.get_signing_serializer(client.application).loads(cookie.value).get(
        "journey_id") if cookie else None


def summary_text(client):
    response = client.get("/journey/summary")
    return response.get_data(as_text=True) if response.status_code == 200 else response.headers.get("Location")


# --- Opening a link -------------------------------------------------------------------------------------------
def test_opening_someone_elses_link_changes_nothing_in_this_browser(app):
    attacker, patient = app.test_client(), app.test_client()
    walk(attacker, surgery="other")
    link = save_link(attacker)
    walk(patient, surgery="fusion")
    before_id, before_rows = journey_id_in_cookie(patient), journeys(app)

    page = patient.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and CONFIRM in html
    assert "answers in progress in this browser" in html  # the person is told, and can choose
    assert 'href="/journey/summary"' in html  # "keep the answers in this browser" goes back to where they were
    assert re.search(rf'<form method="post" action="{re.escape(link)}"', html)
    assert journey_id_in_cookie(patient) == before_id and journeys(app) == before_rows
    assert "<dd>Fusion</dd>" in summary_text(patient)  # still the patient's own answers
    assert "<dd>Other</dd>" not in summary_text(patient)


def test_the_confirmation_page_shows_no_answers(app):
    owner = app.test_client()
    walk(owner, surgery="other")
    html = app.test_client().get(save_link(owner)).get_data(as_text=True)
    assert CONFIRM in html and "<dd>" not in html and "Other" not in html
    assert "answers in progress in this browser" not in html  # this browser has none


def test_confirming_moves_the_answers_to_a_new_journey_and_every_other_holder_loses_them(app):
    owner, other_device = app.test_client(), app.test_client()
    walk(owner, surgery="other")
    link = save_link(owner)
    (old_id,) = journeys(app)

    response = other_device.post(link)
    assert response.status_code == 303 and response.headers["Location"] == "/journey/summary"
    (new_id,) = journeys(app)
    assert new_id != old_id
    assert "<dd>Other</dd>" in summary_text(other_device)
    assert summary_text(owner) == "/"  # the browser that made the link no longer has them
    assert owner.get(link).status_code == 410  # the link worked once
    assert app.test_client().post(link).status_code == 410


def test_confirming_in_a_browser_with_other_answers_replaces_and_deletes_them(app):
    owner, patient = app.test_client(), app.test_client()
    walk(owner, surgery="other")
    link = save_link(owner)
    walk(patient, surgery="fusion")
    assert len(journeys(app)) == 2
    assert patient.post(link).status_code == 303
    (answers,) = journeys(app).values()
    assert '"surgery": "other"' in answers
    assert "<dd>Other</dd>" in summary_text(patient)


def test_opening_your_own_link_in_the_same_browser_goes_straight_back(app):
    owner = app.test_client()
    walk(owner)
    response = owner.get(save_link(owner))
    assert response.status_code == 302 and response.headers["Location"] == "/journey/summary"


@pytest.mark.parametrize("mangle", [tampered, lambda t: "not-a-token", lambda t: t + "x"])
def test_a_tampered_link_gives_a_friendly_page_and_keeps_this_browsers_answers(app, mangle):
    client = app.test_client()
    walk(client)
    token = save_link(client).rsplit("/", 1)[1]
    for method in (client.get, client.post):
        response = method(f"/journey/continue/{mangle(token)}")
        assert response.status_code == 410
        assert "This link no longer works" in response.get_data(as_text=True)
    assert "<dd>Fusion</dd>" in summary_text(client)


def test_an_expired_link_gives_the_friendly_page(app, monkeypatch):
    client = app.test_client()
    walk(client)
    link = save_link(client)
    later = time.time() + 8 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    assert app.test_client().get(link).status_code == 410
    assert app.test_client().post(link).status_code == 410


def test_the_link_carries_only_the_signed_id(app):
    client = app.test_client()
    walk(client)
    token = save_link(client).rsplit("/", 1)[1]
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="journey-continue-later")
    assert serializer.loads(token) == next(iter(journeys(app)))


def test_confirming_needs_a_csrf_token(make_app):
    app = make_app(CONTENT_DIR=FIXTURE_CONTENT)
    owner = app.test_client()
    owner.get("/")
    # CSRF on: walk by hand with the page's token.
    token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get("/").get_data(as_text=True)).group(1)
    owner.post("/journey/start", data={"csrf_token": token})
    owner.post("/journey/safety", data={"bladder": "no", "csrf_token": token})
    link = save_link(owner)
    assert app.test_client().post(link).status_code == 400
    assert len(journeys(app)) == 1 and summary_text(owner) != "/"


# --- Staff and patient state in separate cookies --------------------------------------------------------------
def staff_sign_in(client, **options):
    return factor_support.sign_in(client, EMAIL, PASSWORD, **options)


def test_staff_sign_in_lives_in_its_own_cookie_so_journey_actions_never_sign_staff_out(app):
    create_staff(app)
    owner, browser = app.test_client(), app.test_client()
    walk(owner)
    link = save_link(owner)
    assert staff_sign_in(browser).status_code == 303
    assert browser.get_cookie("staff") is not None
    walk(browser)
    assert journey_id_in_cookie(browser) is not None
    restart = {"confirm": "yes"}
    for action in (lambda: browser.get(link), lambda: browser.post(link), lambda: browser.post("/journey/restart", data=restart)):
        action()
        assert browser.get("/staff").status_code == 200


def test_production_staff_cookie_is_host_prefixed_secure_httponly_and_lax(make_app):
    app = make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, PRODUCTION=True)
    create_staff(app)
    response = staff_sign_in(app.test_client(), base_url="https://localhost")
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("__Host-staff="))
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert not any(a.startswith(("domain=", "max-age=", "expires=")) for a in attributes)


# --- The attack in Chromium: a page on another origin navigates the patient to the attacker's link ---------------
def attacker_site(target):
    """A page on 127.0.0.2 (another site to the browser) that navigates whoever opens it to `target`."""
    page = f'<!doctype html><title>Free advice</title><script>location.href = "{target}";</script>'
    return LiveServer(pages_site({"/": page}), host="127.0.0.2")


def browser_walk(page, base, surgery):
    page.goto(base + "/")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/journey/safety$"))
    page.locator("input[name=bladder][value=no]").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/journey/surgery$"))
    page.locator(f"input[name=surgery][value={surgery}]").check()
    page.get_by_role("button", name="Continue").click()
    if surgery == "fusion":
        page.wait_for_url(re.compile(r"/journey/causes$"))
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/journey/summary$"))


@pytest.mark.browser
def test_a_link_opened_from_another_site_neither_replaces_the_patients_answers_nor_signs_staff_out(make_app, phone):
    app = make_app(CONTENT_DIR=FIXTURE_CONTENT, STAFF_ARGON2=FAST_ARGON2)  # CSRF on: the browser carries tokens
    create_staff(app)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        attacker = phone().new_page()
        browser_walk(attacker, server.url, "other")
        attacker.goto(server.url + "/journey/save")
        link = attacker.locator("a.continue-link").get_attribute("href")
        assert link.startswith(server.url + "/journey/continue/")

        patient_context = phone()
        patient = patient_context.new_page()
        sign_in(patient, server)  # a nurse trying the guide on the clinic's own phone
        patient.wait_for_url(re.compile(r"/staff$"))
        browser_walk(patient, server.url, "fusion")

        with attacker_site(link) as site:
            patient.goto(site.url + "/")
            patient.wait_for_url(lambda url: url.startswith(server.url))  # the other site sent the browser here
            patient.wait_for_load_state()
        assert CONFIRM in patient.content(), patient.url
        assert "answers in progress in this browser" in patient.content()

        checker = phone(bypass_csp=True).new_page()  # axe on the confirmation page, as the patient sees it
        checker.context.add_cookies(patient_context.cookies())
        checker.goto(link)
        assert_no_axe_violations(checker)

        patient.goto(server.url + "/journey/summary")
        assert "<dd>Fusion</dd>" in patient.content() and "<dd>Other</dd>" not in patient.content()
        patient.goto(server.url + "/staff")
        assert patient.url.endswith("/staff"), "opening the link signed the nurse out"

        # Even if talked into confirming, the patient takes the answers away from the attacker.
        patient.goto(link)
        patient.get_by_role("button", name="Continue my saved answers").click()
        patient.wait_for_url(re.compile(r"/journey/summary$"))
        assert "<dd>Other</dd>" in patient.content()
        attacker.goto(server.url + "/journey/summary")
        assert attacker.url == server.url + "/", "the attacker still holds the journey"
        attacker.goto(link)
        assert "This link no longer works" in attacker.content()
        patient.goto(server.url + "/staff")
        assert patient.url.endswith("/staff")
