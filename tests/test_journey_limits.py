"""How many journeys can be made (issue 11 M2): a row only once the first question is answered, a rate limit per
client address, and a ceiling on journeys made in the last hour with a friendly 429 page."""

import pytest

from tests.conftest import ROOT, journey_rows
from tests.support.storage import execute

pytestmark = pytest.mark.both_databases

FIXTURE_CONTENT = str(ROOT / "tests" / "fixtures" / "content")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    """The small fixture journey: start (info) -> safety (the first question) -> ..."""
    return make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False)


def first_answer(app, address="192.0.2.1", headers=None):
    """A new visitor from `address` presses Start and answers the first question."""
    client = app.test_client()
    environ = {"REMOTE_ADDR": address}
    assert client.post("/journey/start", environ_base=environ).status_code == 303
    return client.post("/journey/safety", data={"bladder": "no"}, environ_base=environ, headers=headers or {})


def test_pressing_start_makes_no_journey_row_until_the_first_answer(app):
    client = app.test_client()
    for _ in range(200):  # the probe's loop: one cookie, Start again and again
        assert client.post("/journey/start").headers["Location"] == "/journey/safety"
    assert journey_rows(app) == 0
    page = client.get("/journey/safety")
    assert page.status_code == 200 and "Save and continue later" not in page.get_data(as_text=True)
    assert client.post("/journey/safety", data={"bladder": "no"}).headers["Location"] == "/journey/surgery"
    assert journey_rows(app) == 1
    assert client.get("/journey/surgery").status_code == 200
    assert client.post("/journey/surgery", data={"surgery": "other"}).status_code == 303
    assert journey_rows(app) == 1


def test_an_answer_with_errors_makes_no_row(app):
    client = app.test_client()
    client.post("/journey/start")
    assert client.post("/journey/safety", data={}).status_code == 200
    assert journey_rows(app) == 0


def test_one_address_can_start_only_so_many_journeys(app):
    """The probe made 16,000 rows from one address; now the 11th in a minute gets the friendly page."""
    statuses = [first_answer(app).status_code for _ in range(40)]
    assert statuses == [303] * 10 + [429] * 30
    assert journey_rows(app) == 10
    assert first_answer(app, address="192.0.2.2").status_code == 303  # another address is not affected


def test_the_limit_page_is_friendly_and_gives_the_clinics_phone(app):
    for _ in range(10):
        first_answer(app)
    for headers in ({}, HTMX):
        response = first_answer(app, headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "Please wait a moment" in html
        assert 'href="tel:' in html and app.extensions["journey"].clinic_phone in html
        assert ("<html" in html) == (not headers)  # htmx gets the partial to swap in


def test_past_the_hourly_ceiling_nobody_can_start_until_the_hour_has_passed(make_app):
    app = make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False, JOURNEY_HOURLY_CEILING=5)
    for number in range(5):
        assert first_answer(app, address=f"198.51.100.{number}").status_code == 303
    response = first_answer(app, address="203.0.113.9")
    assert response.status_code == 429 and "Please wait a moment" in response.get_data(as_text=True)
    assert journey_rows(app) == 5
    execute(app, "UPDATE journeys SET created_at = created_at - 3601")
    assert first_answer(app, address="203.0.113.9").status_code == 303


def test_journeys_already_going_are_never_held_back(make_app):
    app = make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False, JOURNEY_HOURLY_CEILING=1)
    client = app.test_client()
    client.post("/journey/start")
    assert client.post("/journey/safety", data={"bladder": "no"}).status_code == 303
    assert first_answer(app, address="203.0.113.9").status_code == 429
    assert client.post("/journey/surgery", data={"surgery": "other"}).status_code == 303


def test_nginx_limits_journey_posts_per_address():
    site = (ROOT / "deploy" / "nginx-fbss-journey.conf").read_text()
    assert "limit_req_zone $fbss_journey_post zone=fbss_journey_posts" in site
    assert "limit_req zone=fbss_journey_posts" in site
    assert "limit_req_status 429;" in site
