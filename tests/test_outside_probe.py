"""What the outside probe found (issue 22 part C): each finding as the behaviour that must hold, with real parts
(the SQLite file, aiosmtpd, gunicorn) where the finding is about them. Each of these tests failed before its fix."""
import pytest

from tests.conftest import content_dir
from tests.test_staff import FAST_ARGON2, Clock, create_staff, sign_in


@pytest.fixture
def staff_app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2, STAFF_CLOCK=Clock())


@pytest.fixture
def signed_in(staff_app):
    create_staff(staff_app)
    client = staff_app.test_client()
    assert sign_in(client).status_code == 303
    return client


# --- L2: a fresh sign-in is never undone by the stale cookie's deletion -------------------------------------
def test_signing_in_with_a_stale_staff_cookie_keeps_the_new_session(staff_app):
    create_staff(staff_app)
    client = staff_app.test_client()
    client.set_cookie(staff_app.config["STAFF_COOKIE_NAME"], "a-session-that-ended-long-ago")
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/staff"
    staff_cookies = [h for h in response.headers.getlist("Set-Cookie")
                     if h.startswith(staff_app.config["STAFF_COOKIE_NAME"] + "=")]
    assert len(staff_cookies) == 1 and "Expires=Thu, 01 Jan 1970" not in staff_cookies[0], staff_cookies
    assert client.get("/staff").status_code == 200
