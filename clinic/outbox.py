"""The mail outbox: claim due rows atomically, send them by SMTP or into .eml files, retry with back-off.

A row goes pending -> sending -> sent, or back to pending with a later next_attempt_at after a
temporary failure, or to failed after a permanent (5xx) answer or too many attempts. While a row
is 'sending', next_attempt_at is its lease: a sender that crashed mid-send leaves a row whose
lease runs out, and the next pass picks it up again, so no notification is ever lost.
"""
import logging
import os
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import text

from clinic.db import BUSY_TIMEOUT_MS, DatabaseBusy, connect, is_sqlite, transaction
from clinic.notifications import build_message
from clinic.private_files import private_folder

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")
ERROR_TEXT_MAX = 200


@dataclass(frozen=True)
class MailSettings:
    mail_dir: str
    base_url: str
    clinic_name: str
    clinic_phone: str
    # The rest come from the site's settings (clinic/settings.py holds their defaults).
    mail_from: str
    staff_emails: tuple
    smtp_host: str  # empty: write .eml files into mail_dir instead
    smtp_port: int
    smtp_starttls: bool
    smtp_user: str
    smtp_password: str = field(repr=False)
    smtp_timeout: float
    max_attempts: int
    retry_seconds: int  # first retry after this; doubled each time up to retry_max_seconds
    lease_seconds: int  # well above smtp_timeout (settings check it): a live sender finishes inside its lease
    retry_max_seconds: int = 3600


def parse_addresses(value):
    """'a@x, b@y' (or a JSON list from FLASK_STAFF_EMAILS='["a@x"]') -> ('a@x', 'b@y')."""
    if not value:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(item.strip() for item in items if item and item.strip())


class TemporaryFailure(Exception):
    """Try again later: a 4xx answer, a refused or dropped connection, a timeout.

    `whole_batch`: the server itself is unusable (down, or refusing our login), so the other rows
    of this pass wait too instead of each trying again.
    """

    def __init__(self, text, whole_batch=False):
        super().__init__(text)
        self.whole_batch = whole_batch


class PermanentFailure(Exception):
    """Never retry: a 5xx answer."""


def scrub(text):
    """SMTP answers quote addresses ('<x@y>: mailbox unknown'); keep the code and the words only."""
    return _ADDRESS.sub("<address>", " ".join(str(text).split()))[:ERROR_TEXT_MAX]


def smtp_error_text(error):
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        return f"recipients refused ({', '.join(str(c) for c in codes)})"
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return scrub(f"{error.smtp_code} {text}")
    return type(error).__name__  # connection errors: the class says enough, the text may hold a host name


def classify(error):
    """TemporaryFailure or PermanentFailure for an exception raised while sending."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        permanent = all(500 <= code < 600 for code, _ in error.recipients.values())
    elif isinstance(error, smtplib.SMTPResponseException):
        permanent = 500 <= error.smtp_code < 600
    else:
        permanent = False
    kind = PermanentFailure if permanent else TemporaryFailure
    return kind(smtp_error_text(error))


def claim_lock(conn):
    """PostgreSQL: lock the claimed rows, skipping those another sender holds (its own claim in flight)."""
    return "" if is_sqlite(conn) else " FOR UPDATE OF o SKIP LOCKED"


class Outbox:
    def __init__(self, conn, settings, clock=time.time):
        self.conn = conn
        self.settings = settings
        self.clock = clock

    def claim(self, limit=20):
        """Rows due now, marked 'sending' under a lease, so two senders (threads, processes or hosts) can never
        claim the same row: on SQLite BEGIN IMMEDIATE holds the one write lock; on PostgreSQL the rows are locked
        FOR UPDATE, and SKIP LOCKED lets another host's pass take the rows this one did not."""
        now = int(self.clock())
        with transaction(self.conn):
            # A digest (kind staff_digest) has no request: it counts the requests stored past the ceiling since it
            # was queued, when it is sent.
            due = ("SELECT o.id, o.kind, o.attempts, o.created_at, r.reference, r.email, r.flagged, r.answers_language,"
                   " (SELECT COUNT(*) FROM requests h WHERE h.past_ceiling = 1 AND h.created_at >= o.created_at) AS held"
                   " FROM outbox o LEFT JOIN requests r ON r.id = o.request_id"
                   " WHERE o.status IN ('pending', 'sending') AND o.next_attempt_at <= :now"
                   " ORDER BY o.next_attempt_at, o.id LIMIT :limit")
            rows = self.conn.execute(text(due + claim_lock(self.conn)),
                                     {"now": now, "limit": limit}).mappings().all()
            for row in rows:
                self.conn.execute(
                    text("UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = :lease"
                         " WHERE id = :id"),
                    {"lease": now + self.settings.lease_seconds, "id": row["id"]},
                )
        # attempts as stored after the claim: the later UPDATEs match on it, so a sender whose
        # lease ran out (and whose row someone else took over) cannot overwrite the newer state.
        return [dict(row, attempts=row["attempts"] + 1) for row in rows]

    def mark_sent(self, row):
        self._finish(row, "UPDATE outbox SET status = 'sent', sent_at = :now, last_error = NULL",
                     {"now": int(self.clock())})

    def mark_failed(self, row, error_text):
        self._finish(row, "UPDATE outbox SET status = 'failed', last_error = :error", {"error": error_text})

    def mark_retry(self, row, error_text):
        if row["attempts"] >= self.settings.max_attempts:
            return self.mark_failed(row, f"gave up after {row['attempts']} attempts: {error_text}")
        delay = min(self.settings.retry_seconds * 2 ** (row["attempts"] - 1), self.settings.retry_max_seconds)
        self._finish(row, "UPDATE outbox SET status = 'pending', next_attempt_at = :due, last_error = :error",
                     {"due": int(self.clock()) + delay, "error": error_text})

    def _finish(self, row, update, params):
        self.conn.execute(text(f"{update} WHERE id = :id AND status = 'sending' AND attempts = :attempts"),  # noqa: S608
                          {**params, "id": row["id"], "attempts": row["attempts"]})

    def recipients(self, row):
        if row["kind"] == "patient_receipt":
            return (row["email"],)
        return self.settings.staff_emails

    def message(self, row):
        s = self.settings
        return build_message(kind=row["kind"], outbox_id=row["id"], reference=row["reference"],
                             created_at=row["created_at"], mail_from=s.mail_from, recipients=self.recipients(row),
                             base_url=s.base_url, clinic_name=s.clinic_name, clinic_phone=s.clinic_phone,
                             priority=bool(row.get("flagged")), held=row.get("held") or 0,
                             language=row.get("answers_language") or "en")

    def send_pending(self, limit=20):
        """One pass: claim what is due and try each once. Returns counts {'sent', 'retry', 'failed'}."""
        counts = {"sent": 0, "retry": 0, "failed": 0}
        rows = self.claim(limit)
        if not rows:
            return counts
        smtp = None
        try:
            for position, row in enumerate(rows):
                try:
                    message = self.message(row)
                    if not self.settings.smtp_host:
                        self._write_eml(row, message)
                    else:
                        if not self.recipients(row):
                            raise TemporaryFailure("no recipients: set FLASK_STAFF_EMAILS")
                        smtp = smtp or self._open_smtp()
                        self._send_smtp(smtp, row, message)
                except (PermanentFailure, TemporaryFailure) as failure:
                    self._count(counts, self._record(row, failure))
                    if getattr(failure, "whole_batch", False) or isinstance(
                            failure.__cause__, (OSError, smtplib.SMTPServerDisconnected)):
                        # The rest of this batch waits for the next pass instead of each
                        # waiting out its own connection timeout.
                        for later in rows[position + 1:]:
                            self._count(counts, self._record(later, failure))
                        break
                else:
                    self.mark_sent(row)
                    counts["sent"] += 1
                    log.info("outbox row %s (%s) sent", row["id"], row["kind"])
        finally:
            _close(smtp)
        if counts["retry"] or counts["failed"]:
            log.warning("outbox pass: %(sent)d sent, %(retry)d to retry, %(failed)d failed", counts)
        return counts

    def _record(self, row, failure):
        if isinstance(failure, PermanentFailure):
            self.mark_failed(row, str(failure))
            return "failed"
        self.mark_retry(row, str(failure))  # which gives up (failed) after max_attempts
        return "failed" if row["attempts"] >= self.settings.max_attempts else "retry"

    @staticmethod
    def _count(counts, outcome):
        counts[outcome] += 1

    def _open_smtp(self):
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            try:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
            except BaseException:
                _close(smtp)
                raise
            return smtp
        except (smtplib.SMTPException, OSError) as error:
            # Even a 5xx here (a wrong password, TLS refused) is about our settings, not this message:
            # retry, so fixing the settings delivers everything that waited.
            raise TemporaryFailure(smtp_error_text(error), whole_batch=True) from error

    def _send_smtp(self, smtp, row, message):
        try:
            smtp.send_message(message, from_addr=parseaddr(self.settings.mail_from)[1],
                              to_addrs=list(self.recipients(row)))
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error) from error

    def _write_eml(self, row, message):
        """No SMTP server configured: one file per row, named by the row so a retry overwrites, never doubles."""
        try:
            self._write_file(row, message)
        except OSError as error:  # a full or read-only disk: keep the row and retry later
            raise TemporaryFailure(type(error).__name__) from error

    def _write_file(self, row, message):
        folder = Path(self.settings.mail_dir)
        private_folder(folder)
        target = folder / f"{row['created_at']}-{row['id']}-{row['kind']}.eml"
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)  # readers never see half a file


def _close(smtp):
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
    return None


def retry_failed(conn):
    """Put every failed row back in the queue with a fresh count of attempts (after fixing the settings)."""
    cursor = conn.execute(text("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = 0"
                               " WHERE status = 'failed'"))
    return cursor.rowcount


def send_pending(database, settings, clock=time.time, limit=20, busy_timeout_ms=BUSY_TIMEOUT_MS):
    """One pass on its own connection; returns the counts. For the CLI and the sender thread."""
    conn = connect(database, busy_timeout_ms=busy_timeout_ms)
    try:
        total = {"sent": 0, "retry": 0, "failed": 0}
        while True:
            counts = Outbox(conn, settings, clock).send_pending(limit)
            for key, value in counts.items():
                total[key] += value
            if sum(counts.values()) < limit:
                return total
    finally:
        conn.close()


class Sender:
    """A daemon thread that drains the outbox: woken after each new request, and every `interval` for retries.

    Started lazily from the first request a process serves, so a pre-forking server (gunicorn
    with preload) gets one thread per worker, never one stranded in the master. Housekeeping runs
    on the same kind of thread (`name` tells them apart in a thread dump and the log).
    """

    def __init__(self, run_pass, interval=30.0, name="outbox-sender"):
        self.run_pass = run_pass
        self.interval = interval
        self.name = name
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._pid = None

    def ensure_started(self):
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self.stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wake(self):
        self.ensure_started()
        self.wakeup.set()

    def stop(self, timeout=5.0):
        self.stopping.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self):
        while not self.stopping.is_set():
            try:
                self.run_pass()
            except DatabaseBusy as error:
                # Another writer held the lock past the busy timeout: nothing is lost (claimed rows are taken
                # again when their lease runs out), and the next pass will most likely get through. One line.
                log.warning("%s pass skipped: the database is busy (%s); trying again in %g s",
                            self.name, error, self.interval)
            except Exception:
                # A locked database, a bug: the rows stay where they are (a claimed row's lease runs
                # out and it is taken again), and the thread lives on to try at the next tick.
                log.exception("%s pass failed", self.name)
            self.wakeup.wait(self.interval)
            self.wakeup.clear()
