"""The request store and the mail outbox: references, phone numbers, atomic claims, retries, leases, .eml files."""
import email
import threading
import time
from dataclasses import replace

import pytest

from clinic.db import DatabaseError, connect
from clinic.outbox import MailSettings, Outbox, Sender, parse_addresses, retry_failed, scrub, send_pending
from clinic.request_answers import StoredAnswers
from clinic.requests import (
    REFERENCE_ALPHABET,
    NewRequest,
    ReferenceSpaceFull,
    RequestStore,
    new_reference,
    new_submission_id,
    normalise_phone,
)
from tests.conftest import EVENT_TIMEOUT_SECONDS
from tests.support.storage import rows, scalar

T0 = 1_800_000_000


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


pytestmark = pytest.mark.both_databases


@pytest.fixture
def database(fresh_database):
    return fresh_database


@pytest.fixture
def conn(database):
    connection = connect(database)
    yield connection
    connection.close()


@pytest.fixture
def clock():
    return Clock()


def settings(tmp_path, smtp=None, **overrides):
    values = {"mail_dir": str(tmp_path / "mail"), "base_url": "https://clinic.test", "clinic_name": "Test Clinic",
              "clinic_phone": "+1 555 0100", "mail_from": "Clinic <site@clinic.test>",
              "staff_emails": ("staff@clinic.test",), "retry_seconds": 60, "max_attempts": 4, "lease_seconds": 300,
              "smtp_host": "", "smtp_port": 587, "smtp_starttls": True, "smtp_user": "", "smtp_password": "",
              "smtp_timeout": 20}
    if smtp is not None:
        values.update(smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False, smtp_timeout=5)
    values.update(overrides)
    return MailSettings(**values)


def add_request(conn, clock, receipt=False, **fields):
    values = {"submission_id": new_submission_id(), "name": "Sam", "email": "sam@example.com", "phone": None,
              "contact_by": "email", "description": "words"}
    values.update(fields)
    return RequestStore(conn, clock).submit(NewRequest(**values), patient_receipt=receipt)[0]


def outbox_rows(conn):
    return rows(conn, "SELECT id, status, attempts, next_attempt_at, last_error, sent_at FROM outbox ORDER BY id")


# --- References, phone numbers and the store --------------------------------------------------------------
def test_references_use_an_alphabet_without_look_alike_characters():
    assert not set("01IOL") & set(REFERENCE_ALPHABET)
    for _ in range(200):
        reference = new_reference()
        assert reference.startswith("FBS-") and len(reference) == 8 and set(reference[4:]) <= set(REFERENCE_ALPHABET)


def test_a_reference_collision_draws_another_in_the_same_transaction(conn, clock):
    drawn = iter(["FBS-AAAA", "FBS-AAAA", "FBS-AAAA", "FBS-BBBB"])
    store = RequestStore(conn, clock, make_reference=lambda: next(drawn))
    first = store.submit(NewRequest(new_submission_id(), "A", "a@x.org", None, "email", "d"))
    second = store.submit(NewRequest(new_submission_id(), "B", "b@x.org", None, "email", "d"))
    assert first == ("FBS-AAAA", True) and second == ("FBS-BBBB", True)
    assert scalar(conn, "SELECT COUNT(*) FROM outbox") == 2


def test_when_every_reference_is_taken_nothing_is_written(conn, clock):
    RequestStore(conn, clock, make_reference=lambda: "FBS-AAAA").submit(
        NewRequest(new_submission_id(), "A", "a@x.org", None, "email", "d"))
    with pytest.raises(ReferenceSpaceFull):
        RequestStore(conn, clock, make_reference=lambda: "FBS-AAAA").submit(
            NewRequest(new_submission_id(), "B", "b@x.org", None, "email", "d"))
    assert scalar(conn, "SELECT COUNT(*) FROM requests") == 1
    assert scalar(conn, "SELECT COUNT(*) FROM outbox") == 1


def test_the_same_submission_id_returns_the_first_request(conn, clock):
    submission = new_submission_id()
    first = add_request(conn, clock, submission_id=submission)
    again = RequestStore(conn, clock).submit(NewRequest(submission, "Other", "o@x.org", None, "email", "other"))
    assert again == (first, False)
    assert scalar(conn, "SELECT COUNT(*) FROM requests") == 1


def test_spam_is_stored_with_its_reason_and_no_outbox_row(conn, clock):
    add_request(conn, clock, spam_reason="honeypot", receipt=True)
    assert rows(conn, "SELECT status, spam_reason FROM requests") == [{"status": "spam", "spam_reason": "honeypot"}]
    assert outbox_rows(conn) == []


@pytest.mark.parametrize(("typed", "stored"), [
    ("01632 960 001", "01632960001"),
    ("+44 (0)20 7946-0018", "+442079460018"),
    ("0044 20 7946 0018", "+442079460018"),
    ("(555) 010.0199", "5550100199"),
    ("+1 555 0100", "+15550100"),
    ("555 010 0199 ext 12", "5550100199 ext 12"),  # issue 9 E: extensions are accepted
    ("+1 (555) 010-0199 ext. 7", "+15550100199 ext 7"),
    ("555-010-0199 x304", "5550100199 ext 304"),
    ("555 010 0199 extension 12", "5550100199 ext 12"),
])
def test_phone_numbers_are_normalised_for_dialling(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", ["", "12ab", "123", "+", "1234567890123456", "٠١٢٣٤٥٦٧٨", "555 0100 ext", "ext 12",
                                   "555 010 0199 ext 1234567", None])
def test_things_that_are_not_phone_numbers_are_refused(typed):
    assert normalise_phone(typed) is None


def test_staff_addresses_are_read_from_a_comma_list_or_a_json_list():
    assert parse_addresses(" a@x.org, b@y.org ,") == ("a@x.org", "b@y.org")
    assert parse_addresses(["a@x.org"]) == ("a@x.org",)
    assert parse_addresses("") == () and parse_addresses(None) == ()


# --- Sending by SMTP --------------------------------------------------------------------------------------
def test_smtp_down_keeps_the_row_and_a_later_pass_delivers_it_exactly_once(database, conn, clock, tmp_path, smtp_server):
    reference = add_request(conn, clock)
    smtp_server.stop()
    mail = settings(tmp_path, smtp_server)
    assert send_pending(database, mail, clock) == {"sent": 0, "retry": 1, "failed": 0}
    [row] = outbox_rows(conn)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["next_attempt_at"] == T0 + 60
    assert row["last_error"] == "ConnectionRefusedError"

    smtp_server.start()
    assert send_pending(database, mail, clock) == {"sent": 0, "retry": 0, "failed": 0}  # not due yet
    clock.now += 60
    assert send_pending(database, mail, clock) == {"sent": 1, "retry": 0, "failed": 0}
    clock.now += 3600
    assert send_pending(database, mail, clock) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtp_server.messages) == 1 and reference in smtp_server.messages[0][2].decode()
    [row] = outbox_rows(conn)
    assert row["status"] == "sent" and row["sent_at"] == T0 + 60 and row["last_error"] is None


def test_a_temporary_answer_is_retried_with_doubling_back_off_then_given_up(database, conn, clock, tmp_path, smtp_server):
    add_request(conn, clock)
    smtp_server.reply = "451 4.3.0 Mailbox busy, try again later"
    mail = settings(tmp_path, smtp_server, max_attempts=4)
    waits = []
    for _ in range(3):
        assert send_pending(database, mail, clock)["retry"] == 1
        [row] = outbox_rows(conn)
        waits.append(row["next_attempt_at"] - clock.now)
        clock.now = row["next_attempt_at"]
    assert waits == [60, 120, 240]
    assert row["last_error"] == "451 4.3.0 Mailbox busy, try again later"
    assert send_pending(database, mail, clock) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = outbox_rows(conn)
    assert row["status"] == "failed" and row["attempts"] == 4
    assert row["last_error"] == "gave up after 4 attempts: 451 4.3.0 Mailbox busy, try again later"
    clock.now += 10**6
    assert send_pending(database, mail, clock) == {"sent": 0, "retry": 0, "failed": 0}
    assert smtp_server.messages == []


def test_a_permanent_answer_fails_at_once_keeping_only_the_smtp_code_and_text(database, conn, clock, tmp_path, smtp_server):
    add_request(conn, clock, receipt=True, email="patient.secret@example.com")
    smtp_server.reply = "550 5.1.1 <patient.secret@example.com>: Recipient address rejected"
    assert send_pending(database, settings(tmp_path, smtp_server), clock) == {"sent": 0, "retry": 0, "failed": 2}
    errors = {r["last_error"] for r in outbox_rows(conn)}
    assert errors == {"550 5.1.1 <address>: Recipient address rejected"}
    assert {r["status"] for r in outbox_rows(conn)} == {"failed"}


def test_a_server_that_refuses_our_settings_keeps_every_row_for_later(database, conn, clock, tmp_path, smtp_server):
    add_request(conn, clock)
    add_request(conn, clock)
    # STARTTLS asked of a server that does not offer it: a settings problem, not a bad message.
    counts = send_pending(database, settings(tmp_path, smtp_server, smtp_starttls=True), clock)
    assert counts == {"sent": 0, "retry": 2, "failed": 0}
    assert {r["status"] for r in outbox_rows(conn)} == {"pending"}
    assert {r["last_error"] for r in outbox_rows(conn)} == {"SMTPNotSupportedError"}
    clock.now += 60
    assert send_pending(database, settings(tmp_path, smtp_server), clock)["sent"] == 2


def test_failed_rows_can_be_queued_again_once_the_problem_is_fixed(database, conn, clock, tmp_path, smtp_server):
    add_request(conn, clock)
    smtp_server.reply = "554 5.7.1 Relay access denied"
    assert send_pending(database, settings(tmp_path, smtp_server), clock)["failed"] == 1
    smtp_server.reply = None
    assert retry_failed(conn) == 1
    assert send_pending(database, settings(tmp_path, smtp_server), clock)["sent"] == 1
    assert outbox_rows(conn)[0]["attempts"] == 1 and len(smtp_server.messages) == 1


def test_error_text_never_keeps_an_address():
    assert scrub("550 5.1.1 <a.b@c.org>: no\r\n such user x@y.z") == "550 5.1.1 <address>: no such user <address>"
    assert len(scrub("4" * 1000)) == 200


def test_no_staff_address_keeps_the_notification_waiting(database, conn, clock, tmp_path, smtp_server):
    add_request(conn, clock)
    counts = send_pending(database, settings(tmp_path, smtp_server, staff_emails=()), clock)
    assert counts == {"sent": 0, "retry": 1, "failed": 0}
    assert outbox_rows(conn)[0]["last_error"] == "no recipients: set FLASK_STAFF_EMAILS"


def test_the_message_holds_no_patient_data_in_body_or_headers(database, conn, clock, tmp_path, smtp_server):
    canary = "kq9canary"
    reference = add_request(conn, clock, name=f"N {canary}", email=f"{canary}@example.com", phone="+15550100999",
                            contact_by="phone", description=f"D {canary}",
                            answers=StoredAnswers(free_text={"q": f"A {canary}"}))
    send_pending(database, settings(tmp_path, smtp_server), clock)
    [(_, recipients, raw)] = smtp_server.messages
    assert canary not in raw.decode() and "0100999" not in raw.decode()
    message = email.message_from_bytes(raw)
    assert message["Subject"] == "New second-opinion request" and recipients == ["staff@clinic.test"]
    assert message["Message-ID"].endswith("@clinic.test>") and message["Reply-To"] is None
    assert f"https://clinic.test/staff/requests/{reference}" in message.get_payload()


# --- Leases and concurrent senders -------------------------------------------------------------------------
def test_a_row_left_sending_by_a_crashed_sender_is_sent_after_its_lease_runs_out(database, conn, clock, tmp_path,
                                                                                   smtp_server):
    add_request(conn, clock)
    mail = settings(tmp_path, smtp_server)
    [claimed] = Outbox(conn, mail, clock).claim()  # ...and the process dies before sending
    assert outbox_rows(conn)[0]["status"] == "sending"
    clock.now += 299
    assert send_pending(database, mail, clock)["sent"] == 0
    clock.now += 1
    assert send_pending(database, mail, clock)["sent"] == 1
    # The crashed sender's late report cannot undo the newer state.
    Outbox(conn, mail, clock).mark_retry(claimed, "ConnectionResetError")
    assert outbox_rows(conn)[0]["status"] == "sent"
    assert len(smtp_server.messages) == 1


def test_concurrent_senders_never_claim_the_same_row(database, conn, clock, tmp_path):
    for _ in range(40):
        add_request(conn, clock)
    mail = settings(tmp_path)
    claimed, errors = [], []
    start = threading.Barrier(4)

    def sender():
        own = connect(database)
        try:
            start.wait()
            for _ in range(20):
                claimed.extend(row["id"] for row in Outbox(own, mail, clock).claim(limit=3))
        except DatabaseError as error:
            errors.append(error)
        finally:
            own.close()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(claimed) == sorted(r["id"] for r in outbox_rows(conn))  # every row once, none twice


# --- Without an SMTP server: .eml files ---------------------------------------------------------------------
def test_without_an_smtp_host_each_message_is_written_as_an_eml_file(database, conn, clock, tmp_path):
    reference = add_request(conn, clock, receipt=True)
    assert send_pending(database, settings(tmp_path), clock) == {"sent": 2, "retry": 0, "failed": 0}
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert [f.name.split("-", 2)[2] for f in files] == ["staff_notification.eml", "patient_receipt.eml"]
    staff = email.message_from_bytes(files[0].read_bytes())
    assert staff["To"] == "staff@clinic.test" and reference in staff.get_payload()
    receipt = email.message_from_bytes(files[1].read_bytes())
    assert receipt["To"] == "sam@example.com" and "+1 555 0100" in receipt.get_payload()
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert not list((tmp_path / "mail").glob("*.tmp"))


# --- The sender thread ------------------------------------------------------------------------------------------
def test_the_sender_thread_sends_when_woken_without_waiting_for_its_interval(database, conn, tmp_path):
    mail = settings(tmp_path)
    sender = Sender(lambda: send_pending(database, mail), interval=60)
    sender.ensure_started()
    try:
        add_request(conn, time.time)
        sender.wake()
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while outbox_rows(conn)[0]["status"] != "sent" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert outbox_rows(conn)[0]["status"] == "sent"
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    finally:
        sender.stop()


def test_settings_repr_hides_the_smtp_password(tmp_path):
    assert "hunter2" not in repr(replace(settings(tmp_path), smtp_password="hunter2"))
