"""Security headers on every response: each GET route in the URL map, each error page, static files; cookies; cross-site posts."""
import base64
import hashlib
import re

import pytest
from flask import abort
from itsdangerous import URLSafeTimedSerializer

from blueprints.journey import CONTINUE_SALT
from tests.conftest import ROOT, TEST_SECRET, content_dir, journey_rows, route_to_summary, walk_to_summary
from tests.helpers import reference_in, submit_request
from tests.support import factors as factor_support

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # beside frame-ancestors 'none', for browsers that predate it
}
NO_STORE_BLUEPRINTS = {"journey", "requests", "staff"}


STAFF_EMAIL, STAFF_PASSWORD = "nurse@clinic.test", "correct horse battery"


@pytest.fixture
def app(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, REQUEST_MIN_SECONDS=0,
                   STAFF_ARGON2={"time_cost": 1, "memory_cost": 8192, "parallelism": 1})

    # Test-only routes, so the 500 and 429 pages can be reached through the real error handlers.
    @app.get("/_test/crash")
    def crash():
        raise RuntimeError("boom")

    @app.get("/_test/too-many")
    def too_many():
        abort(429)

    return app


def expected_csp(app):
    return ("default-src 'self'; img-src 'self' data:; script-src 'self' " + app.extensions["inline_script_hash"]
            + "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def assert_security_headers(app, response, where):
    headers = response.headers
    assert headers.get("Content-Security-Policy") == expected_csp(app), where
    assert "unsafe-inline" not in headers["Content-Security-Policy"], where
    assert "unsafe-eval" not in headers["Content-Security-Policy"], where
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (where, name)
    assert "Strict-Transport-Security" not in headers, f"{where}: HSTS on plain HTTP"


def sample_urls(app, token, reference="FBS-AAAA"):
    """One URL per GET rule, with arguments that reach the view (a real step, a live continue-later token,
    a real request reference)."""
    journey = app.extensions["journey"]
    samples = {
        "step_id": journey.first_step,
        "token": token,
        "filename": "site.css",
        "reference": reference,
    }
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {arg: samples.get(arg, "1") for arg in rule.arguments}
        urls.append((rule, adapter.build(rule.endpoint, values)))
    # Every step, not only the first: each is a page (or a redirect to where the person is).
    urls += [(None, f"/journey/{step_id}") for step_id in journey.steps]
    return urls


def _journey_id(app, client):
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    return serializer.loads(client.get_cookie("session").value)["journey_id"]


def test_every_get_route_in_the_url_map_sends_all_security_headers(app, client):
    """Each GET route, as a page and as an htmx partial, for three visitors: a patient in the middle of the
    journey, a patient who has just sent a request, and a signed-in staff member (who can open that request)."""
    walk_to_summary(client, app.extensions["journey"])  # routes that need a journey cookie get one
    journey_cookie = client.get_cookie("session").value
    token = URLSafeTimedSerializer(TEST_SECRET, salt=CONTINUE_SALT).dumps(_journey_id(app, client))
    checked = {}

    def sweep(urls, cookie, staff=None):
        for rule, url in urls:
            client.set_cookie("session", cookie)
            if staff:
                client.set_cookie("staff", staff)
            else:
                client.delete_cookie("staff")
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, headers=headers)
                checked[(url, cookie)] = response.status_code
                assert response.status_code < 500 or url == "/_test/crash", url
                assert_security_headers(app, response, url)
                if rule is not None and rule.endpoint.partition(".")[0] in NO_STORE_BLUEPRINTS:
                    assert "no-store" in response.headers.get("Cache-Control", ""), url

    sweep(sample_urls(app, token), journey_cookie)

    client.set_cookie("session", journey_cookie)
    confirmation = submit_request(client, follow_redirects=True)
    reference = reference_in(confirmation.get_data(as_text=True))
    assert reference
    sent_cookie = client.get_cookie("session").value
    runner = app.test_cli_runner()
    runner.invoke(args=["staff", "create", STAFF_EMAIL, "--password-stdin", "--role", "admin"],
                  input=STAFF_PASSWORD + "\n")
    # A new account: the password, then it sets up its authenticator app and sees its recovery codes (200).
    assert factor_support.sign_in(client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 200
    staff_cookie = client.get_cookie("session").value
    staff_token = client.get_cookie("staff").value
    urls = sample_urls(app, token, reference)
    assert len(urls) >= 10
    sweep(urls, sent_cookie)
    sweep(urls, staff_cookie, staff_token)
    assert checked[(f"/staff/requests/{reference}", staff_cookie)] == 200
    assert checked[("/request/sent", sent_cookie)] == 200
    assert checked[(f"/journey/{app.extensions['journey'].first_step}", journey_cookie)] == 200


def test_summary_and_every_journey_step_are_never_stored_by_the_browser(app, client):
    summary = walk_to_summary(client, app.extensions["journey"])
    for step, _ in route_to_summary(app.extensions["journey"]):
        assert client.get(f"/journey/{step.id}").headers["Cache-Control"] == "no-store"
    assert client.get(summary).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method, url, code", [
    ("GET", "/no-such-page", 404),
    ("PUT", "/", 405),
    ("DELETE", "/journey/restart", 405),
    ("GET", "/_test/too-many", 429),
    ("GET", "/_test/crash", 500),
])
def test_error_pages_send_all_security_headers_and_a_friendly_page(app, client, method, url, code):
    response = client.open(url, method=method)
    assert response.status_code == code
    assert_security_headers(app, response, url)
    assert "<html" in response.get_data(as_text=True)


def test_the_real_rate_limit_page_429_sends_all_security_headers(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, REQUEST_RATE_LIMIT="1 per minute")
    client = app.test_client()
    client.post("/request", data={})
    response = client.post("/request", data={})
    assert response.status_code == 429
    assert_security_headers(app, response, "429")
    assert response.headers["Cache-Control"] == "no-store"


def test_too_large_body_gets_a_friendly_413_page_with_security_headers(app, client):
    first = app.extensions["journey"].first_step
    response = client.post(f"/journey/{first}", data={"x": "a" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert response.status_code == 413
    assert "That was too much text" in response.get_data(as_text=True)
    assert_security_headers(app, response, "413")


def test_expired_csrf_token_page_sends_all_security_headers(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))  # CSRF on
    response = app.test_client().post(f"/journey/{app.extensions['journey'].first_step}", data={})
    assert response.status_code == 400
    assert "This page has expired" in response.get_data(as_text=True)
    assert_security_headers(app, response, "csrf")


@pytest.mark.parametrize("path", ["/static/site.css", "/static/favicon.svg", "/static/vendor/htmx-2.0.11.min.js"])
def test_static_files_send_all_security_headers(app, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(app, response, path)


def test_hsts_only_on_https_responses(app, client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert client.get("/no-such-page", base_url="https://localhost").headers["Strict-Transport-Security"]


def test_the_csp_hash_matches_the_one_inline_script_in_the_page(app, client):
    html = client.get("/").get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode("utf-8")).digest()).decode("ascii")
    assert f"'sha256-{digest}'" in client.get("/").headers["Content-Security-Policy"]
    assert "style=" not in html  # inline styles would be blocked by the policy


def test_production_session_cookie_is_host_prefixed_secure_httponly_and_lax(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, PRODUCTION=True)
    client = app.test_client()
    response = client.post(f"/journey/{app.extensions['journey'].first_step}", data={}, base_url="https://localhost")
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("__Host-session="))
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert not any(a.startswith("domain=") for a in attributes)


def test_development_cookie_is_still_httponly_and_lax(app, client):
    response = client.post(f"/journey/{app.extensions['journey'].first_step}", data={})
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- Cross-site posts ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # the browser's word wins
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_posts_from_other_sites_are_refused_with_a_friendly_403(app, client, headers, method):
    before = journey_rows(app)
    response = client.open(f"/journey/{app.extensions['journey'].first_step}", method=method, headers=headers, data={})
    assert response.status_code == 403
    assert "<html" in response.get_data(as_text=True)
    assert_security_headers(app, response, "403")
    assert journey_rows(app) == before


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed in the address bar or a bookmark
    {"Origin": "http://localhost"},
    {},  # no browser headers at all: the CSRF token is the guard
])
def test_posts_from_our_own_pages_go_through(app, client, headers):
    response = client.post(f"/journey/{app.extensions['journey'].first_step}", headers=headers, data={})
    assert response.status_code in (200, 303)


def test_cross_site_post_is_refused_before_the_csrf_check(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))  # CSRF on
    response = app.test_client().post("/journey/restart", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


def test_cross_site_get_is_allowed_so_links_from_other_sites_work(app, client):
    assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


@pytest.mark.parametrize("url", ["/request", "/staff/sign-in", "/journey/start"])
def test_a_file_sent_in_place_of_a_text_field_is_refused_with_a_friendly_400(app, client, url):
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"; filename=\"x.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nalex@example.com\r\n--XyZ--\r\n")
    response = client.post(url, data=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 400
    assert "<html" in response.get_data(as_text=True)
    assert_security_headers(app, response, url)
    assert journey_rows(app) == 0



def test_the_session_serializer_kept_per_key_follows_a_change_of_secret_key(make_app):
    """blueprints/security.py SessionCookies keeps the signing serializer per key: after a key change, a cookie
    signed with the old key opens only while that key is a fallback, and the new key signs what is set."""
    from flask.sessions import SecureCookieSessionInterface

    app = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"), WTF_CSRF_ENABLED=False)
    plain = SecureCookieSessionInterface()
    client = app.test_client()
    assert client.post("/journey/start").status_code == 303  # the start page read: "journey_seen" in the cookie
    old_cookie = client.get_cookie("session").value
    assert plain.get_signing_serializer(app).loads(old_cookie)["journey_seen"] == ["start"]
    assert client.get("/journey/safety").status_code == 200

    old_key, new_key = app.secret_key, "another-test-secret-key-0123456789abcdef0123456789"
    app.secret_key = app.config["SECRET_KEY"] = new_key
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert client.get("/journey/safety").status_code == 200  # the old cookie still opens
    assert client.post("/journey/start").status_code == 303
    new_cookie = client.get_cookie("session").value
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert plain.get_signing_serializer(app).loads(new_cookie)["journey_seen"] == ["start"]  # signed with the new key
    client.set_cookie("session", old_cookie)
    assert client.get("/journey/safety").status_code == 302  # the old key is gone: its cookie is refused


@pytest.mark.parametrize("path", ["/compare", "/about", "/references", "/privacy", "/es/compare", "/healthz"])
def test_a_page_without_a_form_makes_no_csrf_token_and_sets_no_cookie(make_app, path):
    """Issue 21: a CSRF token is made (and the session cookie written) only by a page with a form to post."""
    client = make_app().test_client()
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert "<form" not in response.get_data(as_text=True), f"{path} has a form now: pick another page"
        assert "Set-Cookie" not in response.headers, path
    assert "Set-Cookie" in client.get("/").headers  # the first step has a form: its token is in the new cookie
