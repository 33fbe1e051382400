"""Races between two workers or hosts on one database (issue 21), each forced into its worst order and checked
on SQLite and on the throwaway PostgreSQL cluster, then once more on PostgreSQL with its lock taken out, to show
that the lock is what wins the race and that the test can fail.

Every case runs the store's own code on two connections (tests/support/interleave.py): the first is stopped inside
its transaction right after the statement that takes the lock (or would have); the second then starts and has to
wait for that lock (seen in pg_stat_activity), skip the locked row, or, on SQLite, is refused by BEGIN IMMEDIATE
and goes ahead once the first has committed. Nothing sleeps in the hope that the two overlap.

SQLite's one writer keeps every one of these out by itself; PostgreSQL runs READ COMMITTED, where each needs the
mechanism named in its test.
"""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from clinic import answer_store, factors, inbox, insights, outbox, requests, staff
from clinic.answer_store import AnswerStore
from clinic.db import IntegrityError, connect
from clinic.outbox import MailSettings, Outbox
from clinic.requests import NewRequest, RequestStore, new_submission_id
from tests.conftest import migrated_database
from tests.support.factors import TOTP_SECRET
from tests.support.interleave import drop_from_statements, race
from tests.support.staff import FAST_ARGON2
from tests.support.storage import rows, scalar

NOW = 1_800_000_000


@dataclass(frozen=True)
class Case:
    database: str
    dialect: str
    lock_removed: bool


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-without-lock"])
def case(request, tmp_path):
    if request.param == "sqlite":
        return Case(str(migrated_database(tmp_path / "clinic.sqlite3")), "sqlite", False)
    return Case(request.getfixturevalue("migrated_pg"), "postgresql", request.param.endswith("without-lock"))


@pytest.fixture(params=["sqlite", "postgresql"])
def either(request, tmp_path):
    """For a race won by a single statement, with no lock of its own to take out: SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return Case(str(migrated_database(tmp_path / "clinic.sqlite3")), "sqlite", False)
    return Case(request.getfixturevalue("migrated_pg"), "postgresql", False)


@pytest.fixture
def conn(case):
    connection = connect(case.database)
    yield connection
    connection.close()


def without_advisory_lock(monkeypatch, module, prefix):
    """Take out the advisory locks whose names start with `prefix` that `module` asks clinic.db for (no others)."""
    real = module.advisory_lock
    monkeypatch.setattr(module, "advisory_lock",
                        lambda conn, name: None if name.startswith(prefix) else real(conn, name))


def expected_wait(case, wait_event):
    """How the second transaction met the first: PostgreSQL waits for `wait_event`, SQLite refuses at once."""
    return ("refused", None) if case.dialect == "sqlite" else ("waited", wait_event)


# --- the outbox: two senders never claim the same mail ------------------------------------------------------
def mail_settings():
    return MailSettings(mail_dir="/nonexistent", base_url="https://clinic.test", clinic_name="Test Clinic",
                        clinic_phone="+1 555 0100", mail_from="site@clinic.test", staff_emails=("staff@clinic.test",),
                        smtp_host="", smtp_port=587, smtp_starttls=False, smtp_user="", smtp_password="",
                        smtp_timeout=5, max_attempts=4, retry_seconds=60, lease_seconds=300)


def new_request(**fields):
    values = {"submission_id": new_submission_id(), "name": "Sam", "email": "sam@example.com", "phone": None,
              "contact_by": "email", "description": "words"}
    return NewRequest(**{**values, **fields})


def test_two_senders_claim_each_due_mail_once(case, conn, monkeypatch):
    """PostgreSQL: FOR UPDATE OF o SKIP LOCKED (clinic/outbox.py claim_lock): a second host's pass skips the rows
    the first is claiming and takes the others, without waiting. Without it, both send the first mail."""
    if case.lock_removed:
        monkeypatch.setattr(outbox, "claim_lock", lambda conn: "")
    for _ in range(2):
        RequestStore(conn, lambda: NOW).submit(new_request())
    mails = [row["id"] for row in rows(conn, "SELECT id FROM outbox ORDER BY id")]

    def claim(limit):
        return lambda c: [row["id"] for row in Outbox(c, mail_settings(), lambda: NOW + 1).claim(limit)]

    outcome = race(case.database, claim(1), claim(20), pause_after="FROM outbox o LEFT JOIN requests")
    attempts = [row["attempts"] for row in rows(conn, "SELECT attempts FROM outbox ORDER BY id")]
    if case.lock_removed:
        assert outcome.how == "ran"
        assert (outcome.first, outcome.second, attempts) == ([mails[0]], mails, [2, 1]), "the race did not show"
        return
    assert outcome.how == ("refused" if case.dialect == "sqlite" else "ran")  # SKIP LOCKED: no waiting
    assert (outcome.first, outcome.second, attempts) == ([mails[0]], [mails[1]], [1, 1])


# --- a journey's answers: two posts at once (two tabs, a double tap) both keep theirs ---------------------------
def test_two_answers_posted_at_once_to_one_journey_are_both_kept(case, conn, monkeypatch):
    """PostgreSQL: SELECT ... FOR UPDATE on the journey row (row_lock() in AnswerStore._load_for_update): the
    second read waits for the first write. Without it, the first overwrites the second's answer (a lost update)."""
    if case.lock_removed:
        monkeypatch.setattr(answer_store, "row_lock", lambda conn: "")
    journey = AnswerStore(conn, lambda: NOW).create()

    def answer(question, value):
        return lambda c: AnswerStore(c, lambda: NOW).save_answers(journey, {question: value})

    outcome = race(case.database, answer("pain_where", "legs"), answer("since", "years"),
                   pause_after="SELECT answers, seen, counted FROM journeys")
    answers = AnswerStore(conn, lambda: NOW).load(journey, keep_days=30)[0]
    if case.lock_removed:
        assert outcome.how == "ran"
        assert answers == {"pain_where": "legs"}, "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "transactionid")
    assert answers == {"pain_where": "legs", "since": "years"}


def test_one_continue_later_link_confirmed_in_two_browsers_at_once_opens_the_journey_in_one(either):
    """One UPDATE gives the journey its new id (AnswerStore.move). PostgreSQL: the second UPDATE waits for the
    first's row lock, then checks its WHERE again on the row the first wrote, whose id is no longer the old one."""
    conn = connect(either.database)
    try:
        journey = AnswerStore(conn, lambda: NOW).create()

        def confirm(c):
            return AnswerStore(c, lambda: NOW).move(journey, keep_days=7)

        outcome = race(either.database, confirm, confirm, pause_after="UPDATE journeys SET id")
        assert (outcome.how, outcome.wait_event) == expected_wait(either, "transactionid")
        assert outcome.first is not None and outcome.second is None
        assert rows(conn, "SELECT id FROM journeys") == [{"id": outcome.first}]
        assert scalar(conn, "SELECT SUM(count) FROM insight_events WHERE event = 'link_used'") == 1
    finally:
        conn.close()


# --- the hourly journey ceiling -------------------------------------------------------------------------------
def test_two_journeys_started_at_once_never_pass_the_hourly_ceiling(case, conn, monkeypatch):
    """PostgreSQL: an advisory lock ("journeys.hourly_ceiling") around the count and the insert. Without it both
    count the same room under the ceiling and both make a journey."""
    if case.lock_removed:
        without_advisory_lock(monkeypatch, answer_store, "journeys.hourly_ceiling")

    def start(c):
        return AnswerStore(c, lambda: NOW).create(ceiling=1)

    outcome = race(case.database, start, start, pause_after="SELECT COUNT(*) FROM journeys")
    made = scalar(conn, "SELECT COUNT(*) FROM journeys")
    if case.lock_removed:
        assert outcome.how == "ran"
        assert (outcome.first is not None, outcome.second is not None, made) == (True, True, 2), "no race"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "advisory")
    assert (outcome.first is not None, outcome.second, made) == (True, None, 1)


# --- sign-in attempts: counted and recorded one after the other per account -------------------------------------
def sign_in_throttle(**limits):
    values = {"pair_failures": 100, "ip_failures": 1000, "window": 900, "account_slowdown": 1000}
    return staff.Throttle(**{**values, **limits})


@pytest.fixture
def hasher():
    return staff.make_hasher(FAST_ARGON2)


def guess(hasher, throttle, address):
    return lambda c: staff.sign_in(c, "nurse@clinic.test", "a wrong guess", address, hasher, NOW, throttle)[0]


def failures(conn):
    return scalar(conn, "SELECT COUNT(*) FROM sign_in_attempts WHERE outcome = 'failed'")


def assert_the_second_guess_waits_and_is_refused(case, conn, outcome):
    """Two wrong passwords raced past the limit: the second waits for the advisory lock, then is refused without its
    password being checked (3 failures). With the lock taken out both are checked (4)."""
    if case.lock_removed:
        assert outcome.how == "ran"
        assert ((outcome.first, outcome.second), failures(conn)) == (("wrong", "wrong"), 4), "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "advisory")
    assert ((outcome.first, outcome.second), failures(conn)) == (("wrong", "locked"), 3)


def test_two_guesses_at_once_from_one_address_never_pass_the_failure_limit(case, conn, hasher, monkeypatch):
    """PostgreSQL: the account's and the address's advisory locks (staff.sign_in_lock) around the count and the
    pending attempt's insert. Without them both guesses see room for one more and both passwords are checked."""
    staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)
    throttle = sign_in_throttle(pair_failures=3)
    for _ in range(2):
        assert staff.sign_in(conn, "nurse@clinic.test", "wrong", "198.51.100.7", hasher, NOW - 100, throttle)[0] == "wrong"
    if case.lock_removed:
        without_advisory_lock(monkeypatch, staff, "sign_in.")
    attempt = guess(hasher, throttle, "198.51.100.7")
    outcome = race(case.database, attempt, attempt, pause_after="INSERT INTO sign_in_attempts")
    assert_the_second_guess_waits_and_is_refused(case, conn, outcome)


def test_two_guesses_at_once_from_two_addresses_meet_the_account_wide_slowdown(case, conn, hasher, monkeypatch):
    """PostgreSQL: the account's own advisory lock (the address locks differ here). Without it the second address
    counts the account's failures before the first's attempt is in, and escapes the slowdown it has earned."""
    staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)
    throttle = sign_in_throttle(account_slowdown=3)
    for address in ("203.0.113.1", "203.0.113.2"):
        assert staff.sign_in(conn, "nurse@clinic.test", "wrong", address, hasher, NOW - 100, throttle)[0] == "wrong"
    if case.lock_removed:
        without_advisory_lock(monkeypatch, staff, "sign_in.account.")
    outcome = race(case.database, guess(hasher, throttle, "198.51.100.7"), guess(hasher, throttle, "198.51.100.8"),
                   pause_after="INSERT INTO sign_in_attempts")
    assert_the_second_guess_waits_and_is_refused(case, conn, outcome)


# --- requests: the hourly ceiling and its one digest ----------------------------------------------------------
def week_boundary():
    """A Monday 00:00 UTC: the second before it and the second at it count in different weeks of the report."""
    day = datetime.fromtimestamp(NOW, UTC)
    monday = (day - timedelta(days=day.weekday())).replace(hour=0, minute=0, second=0)
    boundary = int(monday.timestamp())
    assert insights.week_of(boundary - 1) != insights.week_of(boundary)
    return boundary


def submit_at(moment, ceiling):
    return lambda c: RequestStore(c, lambda: moment).submit(new_request(), hourly_ceiling=ceiling)[1]


def by_kind(conn):
    found = rows(conn, "SELECT kind, COUNT(*) AS n FROM outbox GROUP BY kind")
    return {row["kind"]: row["n"] for row in found}


# Within one week both requests add one to the same report counter row (insight_events), and the second waits
# for the first's row lock there, before it counts: that serialises them by accident. Across a week's boundary
# (Sunday 23:59:59 and Monday 00:00:00, one hour for the ceiling) the counters are two rows and only the advisory
# lock keeps the two counts apart, so that is where these two races are run.
def test_two_requests_at_once_never_pass_the_hourly_ceiling(case, conn, monkeypatch):
    """PostgreSQL: an advisory lock ("requests.hourly_ceiling") around the count. Without it both count no other
    request in the hour and both email staff, one past the ceiling of 1."""
    if case.lock_removed:
        without_advisory_lock(monkeypatch, requests, "requests.hourly_ceiling")
    boundary = week_boundary()
    outcome = race(case.database, submit_at(boundary - 1, 1), submit_at(boundary, 1),
                   pause_after="SELECT COUNT(*) FROM requests WHERE created_at")
    assert (outcome.first, outcome.second) == (True, True)  # both stored, always
    past = scalar(conn, "SELECT COUNT(*) FROM requests WHERE past_ceiling = 1")
    if case.lock_removed:
        assert outcome.how == "ran"
        assert (by_kind(conn), past) == ({"staff_notification": 2}, 0), "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "advisory")
    assert (by_kind(conn), past) == ({"staff_notification": 1, "staff_digest": 1}, 1)


def test_two_requests_past_the_ceiling_at_once_queue_one_digest(case, conn, monkeypatch):
    """PostgreSQL: the same lock makes the second see the digest the first queued. Without it each finds none
    waiting and queues its own: staff get two digests in the hour."""
    if case.lock_removed:
        without_advisory_lock(monkeypatch, requests, "requests.hourly_ceiling")
    boundary = week_boundary()
    assert submit_at(boundary - 10, 1)(conn)
    outcome = race(case.database, submit_at(boundary - 1, 1), submit_at(boundary, 1),
                   pause_after="FROM outbox WHERE kind")
    past = scalar(conn, "SELECT COUNT(*) FROM requests WHERE past_ceiling = 1")
    if case.lock_removed:
        assert outcome.how == "ran"
        assert (by_kind(conn), past) == ({"staff_notification": 1, "staff_digest": 2}, 2), "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "advisory")
    assert (by_kind(conn), past) == ({"staff_notification": 1, "staff_digest": 1}, 2)


def test_one_request_posted_twice_at_once_is_stored_once_and_both_posts_get_its_reference(case, conn, monkeypatch):
    """A double click reaching two workers. PostgreSQL: an advisory lock on the submission id
    ("requests.submission.<id>"): the second waits for the first to commit, then finds its reference. Without it
    both find no request yet, and the later insert breaks the UNIQUE submission id: a server error for a double
    click."""
    if case.lock_removed:
        without_advisory_lock(monkeypatch, requests, "requests.submission.")
    same = new_request()

    def post(c):
        try:
            return RequestStore(c, lambda: NOW).submit(same)
        except IntegrityError as error:
            return error

    outcome = race(case.database, post, post, pause_after="SELECT reference FROM requests WHERE submission_id")
    stored = [row["reference"] for row in rows(conn, "SELECT reference FROM requests")]
    assert len(stored) == 1 and by_kind(conn) == {"staff_notification": 1}
    if case.lock_removed:
        assert outcome.how == "ran"
        assert isinstance(outcome.first, IntegrityError), "the race did not show"
        assert outcome.second == (stored[0], True)
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "advisory")
    assert (outcome.first, outcome.second) == ((stored[0], True), (stored[0], False))


# --- a TOTP code opens one sign-in ------------------------------------------------------------------------------
def race_a_conditional_update(case, attempt, condition, statement, accepted, refused):
    """`attempt` twice at once, the first stopped after `statement` (an UPDATE ... WHERE ... `condition`): the second
    waits for the first's row lock, then finds the row changed and is refused. With `condition` taken out of the
    statement (case.lock_removed) it still waits, but both are accepted."""
    tamper = drop_from_statements(condition, statement) if case.lock_removed else None
    outcome = race(case.database, attempt, attempt, pause_after=statement, tamper=tamper)
    if case.lock_removed:
        assert (outcome.how, outcome.first, outcome.second) == ("waited", accepted, accepted), "the race did not show"
    else:
        assert (outcome.how, outcome.wait_event) == expected_wait(case, "transactionid")
        assert (outcome.first, outcome.second) == (accepted, refused)


def test_one_totp_code_sent_twice_at_once_is_accepted_once(case, conn, hasher):
    """PostgreSQL: the conditional UPDATE (clinic/factors.py accept_totp, WHERE totp_last_step < :step). The second
    UPDATE waits for the first's row lock, then checks its WHERE again on the row the first wrote. Without that
    condition both requests with the one code sign in."""
    member = staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)
    factors.enrol_totp(conn, member.id, TOTP_SECRET, NOW - 1000, hasher, last_step=factors.time_step(NOW) - 2)
    code = factors.code_at(TOTP_SECRET, factors.time_step(NOW))

    def accept(c):
        return factors.accept_totp(c, member.id, code, NOW)

    race_a_conditional_update(case, accept, " AND totp_last_step < %(step)s", "UPDATE staff SET totp_last_step",
                              accepted=True, refused=False)
    assert scalar(conn, "SELECT totp_last_step FROM staff WHERE id = :id", id=member.id) == factors.time_step(NOW)


def test_one_recovery_code_sent_twice_at_once_opens_one_sign_in(case, conn, hasher):
    """PostgreSQL: the conditional UPDATE (clinic/factors.py use_recovery_code, WHERE ... AND used_at IS NULL), as
    for TOTP codes. Without that condition the one code is spent twice."""
    member = staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)
    codes = factors.enrol_totp(conn, member.id, TOTP_SECRET, NOW - 1000, hasher)

    def use(c):
        return factors.use_recovery_code(c, member.id, codes[3], NOW, hasher)

    race_a_conditional_update(case, use, " AND used_at IS NULL", "UPDATE staff_recovery_codes SET used_at",
                              accepted=9, refused=None)  # the codes left after the first


def test_two_loads_of_the_enrolment_page_at_once_show_the_one_secret_that_is_kept(case, conn, hasher, monkeypatch):
    """PostgreSQL: SELECT ... FOR UPDATE on the account (row_lock() in factors.pending_secret): the second load
    waits and shows the secret the first made. Without it each makes its own and the later write wins, so one page
    shows a QR code whose secret is not the one kept: the phone that scanned it never gets a code accepted."""
    if case.lock_removed:
        monkeypatch.setattr(factors, "row_lock", lambda conn: "")
    member = staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)

    def load(c):
        return factors.pending_secret(c, member.id)

    outcome = race(case.database, load, load, pause_after="SELECT totp_pending_secret FROM staff")
    kept = scalar(conn, "SELECT totp_pending_secret FROM staff WHERE id = :id", id=member.id)
    if case.lock_removed:
        assert outcome.how == "ran"
        assert outcome.first != outcome.second and kept == outcome.first, "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "transactionid")
    assert outcome.first == outcome.second == kept


# --- the inbox: two staff changing one request's status ------------------------------------------------------
def test_two_status_changes_at_once_are_audited_in_the_order_they_happened(case, conn, hasher, monkeypatch):
    """PostgreSQL: SELECT ... FOR UPDATE on the request (row_lock() in inbox.change_status). Without it both read
    "new", and the audit trail says "new -> closed" for a request that was "contacted" by then."""
    if case.lock_removed:
        monkeypatch.setattr(inbox, "row_lock", lambda conn: "")
    reference, _ = RequestStore(conn, lambda: NOW).submit(new_request())
    nurse = staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)

    def change(status):
        return lambda c: inbox.change_status(c, nurse, reference, status, NOW + 60)

    outcome = race(case.database, change("contacted"), change("closed"),
                   pause_after="SELECT status FROM requests WHERE reference")
    assert (outcome.first, outcome.second) == (True, True)
    trail = [row["detail"] for row in rows(conn, "SELECT detail FROM audit_log WHERE action = 'status_changed'"
                                                 " ORDER BY id")]
    status = scalar(conn, "SELECT status FROM requests WHERE reference = :reference", reference=reference)
    if case.lock_removed:
        assert outcome.how == "ran"
        assert (trail, status) == (["new -> closed", "new -> contacted"], "contacted"), "the race did not show"
        return
    assert (outcome.how, outcome.wait_event) == expected_wait(case, "transactionid")
    assert (trail, status) == (["new -> contacted", "contacted -> closed"], "closed")


def test_one_passkey_assertion_replayed_at_once_signs_in_once(case, conn, hasher):
    """PostgreSQL: the conditional UPDATE on the passkey's counter (factors.passkey_used, WHERE sign_count =
    :old_count): the second waits for the first's row lock, then finds the counter moved. Without that condition a
    cloned key or a replayed assertion signs in beside the real one."""
    member = staff.create_staff(conn, "nurse@clinic.test", "correct horse battery", hasher, NOW - 1000)
    passkey = factors.add_passkey(conn, member.id, b"credential", b"public key", 4, "Phone", NOW - 1000)

    def used(c):
        return factors.passkey_used(c, passkey, 4, 5, NOW)

    race_a_conditional_update(case, used, " AND sign_count = %(old_count)s", "UPDATE staff_passkeys SET sign_count",
                              accepted=True, refused=False)
