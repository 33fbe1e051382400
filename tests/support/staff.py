"""Staff accounts and requests in tests: an account made as `staff create` makes it (its second factor enrolled),
a request stored through the request form's own store, signing in with a test client, the audit rows, a clock."""
import json
import time

from clinic import staff as staff_store
from clinic.db import connect
from clinic.requests import NewRequest, RequestStore, new_submission_id
from tests.support import factors as factor_support
from tests.support.storage import rows, run

# Cheap argon2id for tests (STAFF_ARGON2): an account's ten recovery codes are hashed each time one is made. Without
# it the app hashes at the library's full cost, checked once (tests/test_settings.py).
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
EMAIL = "nurse@clinic.test"
PASSWORD = "correct horse battery"


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self):
        self.now = int(time.time())

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def db(app):
    return connect(app.config["DATABASE_URL"])


def create_staff(app, email=EMAIL, password=PASSWORD, role="admin", enrolled=True):
    """An account as `staff create --role ROLE` makes it; `enrolled`: its authenticator app already set up (with
    tests.support.factors.TOTP_SECRET), as after its first sign-in."""
    conn = db(app)
    try:
        member = staff_store.create_staff(conn, email, password, app.extensions["staff_hasher"], time.time(), role=role)
    finally:
        conn.close()
    if enrolled:
        factor_support.enrol(app, email)
    return member


LEGACY_ANSWERS = [["Which operation did you have?", "Spinal fusion"], ["Do you have new weakness?", "No"]]


def add_request(app, created_at=None, status="new", journey_answers=LEGACY_ANSWERS, **fields):
    """Store a request through the request form's own store; returns its reference.

    With `answers` (clinic.request_answers.StoredAnswers) it is a request of today: ids, version, language.
    Without, it is a request as the code before ids saved it: `journey_answers` text pairs (a list or its JSON)
    and no content version, which is what staff pages must still show as it was stored.
    `status` other than new/spam is set afterwards as staff would, but without an audit row.
    """
    values = {
        "submission_id": new_submission_id(),
        "name": "Alex Example",
        "email": "alex@example.org",
        "phone": "+44 20 7946 0000",
        "contact_by": "email",
        "description": "Still have leg pain after my fusion.",
    }
    values.update(fields)
    legacy = "answers" not in fields
    if isinstance(journey_answers, str):
        journey_answers = json.loads(journey_answers)
    if status == "spam":
        values["spam_reason"] = values.get("spam_reason") or "honeypot"
    when = created_at if created_at is not None else time.time()
    conn = db(app)
    try:
        reference, created = RequestStore(conn, clock=lambda: when).submit(NewRequest(**values))
        assert created
        if legacy:
            # What that code stored of a flag's signs: their label and tier.
            signs = [{"label": sign.label, "tier": sign.tier} for sign in values["flag"].signs] if "flag" in values else []
            run(conn, "UPDATE requests SET journey_answers = :answers, warning_signs = :signs, content_version = NULL,"
                " answers_language = NULL, warning_sign_ids = NULL WHERE reference = :reference",
                answers=json.dumps(journey_answers) if journey_answers else None,
                signs=json.dumps(signs) if signs else None, reference=reference)
        if status not in ("new", "spam"):
            run(conn, "UPDATE requests SET status = :status WHERE reference = :reference", status=status, reference=reference)
    finally:
        conn.close()
    return reference


def sign_in(client, email=EMAIL, password=PASSWORD, **extra):
    """The password, then (when it was right) the code from the phone: the answer to the last post."""
    return factor_support.sign_in(client, email, password, data=extra)


def audit_rows(app, action=None):
    conn = db(app)
    try:
        found = rows(conn, "SELECT * FROM audit_log ORDER BY id")
    finally:
        conn.close()
    return [r for r in found if action is None or r["action"] == action]
