"""Signing staff in with their second factor in tests: accounts enrolled with a known TOTP secret through the same
store function the enrolment page uses, and the code a phone would show at the app's clock.

Nothing here is a bypass: every sign-in still posts the password and then a real code through the real routes.
"""
import re
import time

from sqlalchemy import text

from clinic import factors
from clinic.db import connect, transaction

# Base32, as pyotp.random_base32() makes them; one secret for every test account is enough.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SETUP_KEY = re.compile(r'id="setup-key"><code>([A-Z2-7 ]+)</code>')
RECOVERY_CODE = re.compile(r"<code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code>")


def app_now(app):
    clock = app.config.get("STAFF_CLOCK")
    return clock() if clock else time.time()


def enrol(app, email, secret=TOTP_SECRET):
    """Give the account `secret` as its authenticator app; returns its ten recovery codes."""
    conn = connect(app.config["DATABASE_URL"])
    try:
        staff_id = conn.execute(text("SELECT id FROM staff WHERE email = :email"), {"email": email.lower()}).scalar_one()
        return factors.enrol_totp(conn, staff_id, secret, app_now(app), app.extensions["staff_hasher"], last_step=0)
    finally:
        conn.close()


def next_code(app, email, secret=TOTP_SECRET):
    """The code the phone shows now. The app refuses a code at or before the last one it accepted, so when a test
    signs the same account in twice within 30 seconds of its clock, the stored step is moved back first, as if the
    phone had shown the next code (tests of that refusal post codes themselves, never through this)."""
    step = factors.time_step(app_now(app))
    conn = connect(app.config["DATABASE_URL"])
    try:
        with transaction(conn):
            conn.execute(text("UPDATE staff SET totp_last_step = :before WHERE email = :email AND totp_last_step >= :step"),
                         {"before": step - 1, "email": email.lower(), "step": step})
    finally:
        conn.close()
    return factors.code_at(secret, step)


def csrf_token(html):
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return found.group(1) if found else None


def post_code(client, email, **options):
    """After a right password (a 303 to the code page): post the current code; returns the answer.
    `options` go to both requests (environ_base for the client's address)."""
    app = client.application
    page = client.get("/staff/sign-in/code", **options).get_data(as_text=True)
    data = {"code": next_code(app, email)}
    if csrf_token(page):
        data["csrf_token"] = csrf_token(page)
    return client.post("/staff/sign-in/code", data=data, **options)


def sign_in(client, email, password, data=None, **options):
    """The whole sign-in with a test client: the password (with `data`, e.g. next or csrf_token), then the code, or
    for an account without a second factor the enrolment through its page. Returns the answer to the last post."""
    response = client.post("/staff/sign-in", data={"email": email, "password": password, **(data or {})}, **options)
    if needs_code(response):
        return post_code(client, email, **options)
    if needs_enrolment(response):
        return enrol_through_page(client, response)[0]
    return response


def needs_enrolment(response):
    return response.status_code == 303 and response.headers.get("Location", "").startswith("/staff/sign-in/enrol")


def needs_code(response):
    return response.status_code == 303 and response.headers.get("Location", "").startswith("/staff/sign-in/code")


def enrol_through_page(client, response):
    """A right password for an account without a second factor (`response`, a 303 to the enrolment page): read the
    setup key off the page as a person would, post its code; returns (the answer, the recovery codes shown)."""
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    secret = SETUP_KEY.search(page).group(1).replace(" ", "")
    code = factors.code_at(secret, factors.time_step(app_now(client.application)))
    data = {"code": code}
    if csrf_token(page):
        data["csrf_token"] = csrf_token(page)
    answer = client.post("/staff/sign-in/enrol", data=data)
    return answer, RECOVERY_CODE.findall(answer.get_data(as_text=True))


def browser_sign_in(page, server, email, password, start="/staff"):
    """In a Playwright page: open `start` (a signed-out browser lands on sign-in), the sign-in form, then (when the
    password was right) the code from the phone."""
    page.goto(f"{server.url}{start}")
    assert "/staff/sign-in" in page.url
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/staff/sign-in/code" in page.url:
        page.get_by_label("Code from your authenticator app").fill(next_code(server.app, email))
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
