"""Second-opinion requests: store one with its notification rows in one transaction, references, phone and email."""
import re
import secrets
import time
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import text

from clinic import insights, request_answers
from clinic.callback import CallBack, consent_version
from clinic.db import IntegrityError, advisory_lock, transaction, unique_violation
from clinic.request_answers import StoredAnswers
from clinic.triage import Flag

# No 0/O, 1/I/L: a reference read out over the phone cannot be misheard as another.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_PREFIX = "FBS-"
REFERENCE_LENGTH = 4
REFERENCE_ATTEMPTS = 20
REFERENCE_PATTERN = re.compile(re.escape(REFERENCE_PREFIX) + f"[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}")
SUBMISSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SPAM_REASONS = ("honeypot", "too_fast", "too_old", "bad_timestamp")
STAFF_NOTIFICATION = "staff_notification"
STAFF_DIGEST = "staff_digest"  # one email an hour about every request stored past the hourly ceiling
CEILING_SECONDS = 3600
DIGEST_DELAY_SECONDS = 600  # a digest covers the next 10 minutes of a flood, not only its first request
PATIENT_RECEIPT = "patient_receipt"

_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
PHONE_MIN_DIGITS = 7
PHONE_MAX_DIGITS = 15  # E.164
# "555 010 0199 ext 12", "ext. 12", "extension 12", "x12": an extension of up to 6 digits at the end.
_PHONE_EXTENSION = re.compile(r"\s*(?:,|;|#|x|ext\.?|extension)\s*(\d{1,6})\s*$", re.I)
# Before the @: letters (any script), digits and . _ - + ' = only. RFC 5322 allows more (%, ?, #, !, &, /, ...),
# but those mean source routing, bang paths or mailto: header fields to mail programs, and no patient needs them.
_REPLYABLE_LOCAL_PART = re.compile(r"[\w.+'=-]+")


class ReferenceSpaceFull(RuntimeError):
    """Every reference tried was taken: time for a longer REFERENCE_LENGTH."""


def new_reference():
    return REFERENCE_PREFIX + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def is_reference(value):
    """True for text shaped like a reference we hand out (FBS- and four letters of the alphabet), known or not."""
    return isinstance(value, str) and REFERENCE_PATTERN.fullmatch(value) is not None


def new_submission_id():
    return secrets.token_urlsafe(24)


def is_submission_id(value):
    return isinstance(value, str) and SUBMISSION_ID_PATTERN.fullmatch(value) is not None


def is_replyable_email(address):
    """True when staff can reply to `address` from any mail program: valid, and only ordinary characters before the @."""
    try:
        parsed = validate_email(address, check_deliverability=False)
    except (EmailNotValidError, TypeError):
        return False
    return _REPLYABLE_LOCAL_PART.fullmatch(parsed.local_part) is not None


def normalise_phone(text):
    """'+44 (0)20 7946-0018' -> '+442079460018'; '555 010 0199 ext 12' -> '5550100199 ext 12';
    None when it is not a phone number.

    Spaces, dots, dashes, slashes and brackets are dropped, a leading 00 becomes +, and a
    national '(0)' after a country code is removed, so staff can dial what they see.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    extension = _PHONE_EXTENSION.search(text)
    if extension:
        text = text[:extension.start()]
    text = text.replace("(0)", "")
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isascii() or not digits.isdigit() or not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        return None
    return f"{compact} ext {extension.group(1)}" if extension else compact


def _split_phone(stored):
    number, _, extension = (stored or "").partition(" ext ")
    return number, extension


def format_phone(stored):
    """A stored number as staff read it out: '+15550100199 ext 12' -> '+1 (555) 010-0199 ext. 12'.

    North American numbers (10 digits, or 11 with the leading 1) get their usual grouping; others are
    shown as stored, since their grouping depends on the country.
    """
    number, extension = _split_phone(stored)
    digits = number.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        shown = f"{'+' if number.startswith('+') else ''}1 ({digits[1:4]}) {digits[4:7]}-{digits[7:]}"
    elif len(digits) == 10 and not number.startswith("+"):
        shown = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    else:
        shown = number
    return f"{shown} ext. {extension}" if extension else shown


def phone_uri(stored):
    """The tel: link for a stored number (RFC 3966 puts an extension after ';ext=')."""
    number, extension = _split_phone(stored)
    number = "".join(c for c in number if c.isdigit() or c == "+")  # rows stored before numbers were compacted
    return f"tel:{number};ext={extension}" if extension else f"tel:{number}"


@dataclass(frozen=True)
class NewRequest:
    """What a patient sent. `answers`: the guide's answers as ids, with the content version and language
    (clinic/request_answers.py); never their wording."""

    submission_id: str
    name: str
    email: str
    phone: str | None
    contact_by: str
    description: str
    answers: StoredAnswers = StoredAnswers()
    spam_reason: str | None = None
    flag: Flag = Flag()  # warning signs and concepts in the description (clinic/triage.py), worked out before saving
    call_back: CallBack = CallBack()  # when to call, voicemail, language (clinic/callback.py)
    consent_text: str | None = None  # the exact words the patient ticked; stored once under its fingerprint
    files: tuple = ()  # StoredFile of each attached report, already written by clinic.uploads.FileStore


@dataclass(frozen=True)
class StoredFile:
    position: int
    stored_name: str
    kind: str
    size: int


class RequestStore:
    def __init__(self, conn, clock=time.time, make_reference=new_reference):
        self.conn = conn
        self.clock = clock
        self.make_reference = make_reference

    def submit(self, new, *, patient_receipt=False, hourly_ceiling=None):
        """Store `new` and its outbox rows in one transaction. Returns (reference, created).

        The same submission id again (a double click, a retry, Back and resend) returns the
        first request's reference and writes nothing. Suspected spam is stored with status
        'spam' and gets no outbox row, so nobody is notified about it. With `hourly_ceiling`
        requests already stored (not spam) in the last hour, this one is still stored but marked
        past the ceiling, with no email of its own and no receipt: staff get one digest an hour.
        The count is taken under the write lock, so every worker sees every other's requests.
        """
        if new.spam_reason is not None and new.spam_reason not in SPAM_REASONS:
            raise ValueError(f"unknown spam reason {new.spam_reason!r}")
        if new.contact_by not in ("email", "phone") or not is_submission_id(new.submission_id):
            raise ValueError("contact_by must be email or phone, and the submission id well formed")
        with transaction(self.conn):
            # PostgreSQL: the same submission posted twice at once (a double click on two workers) waits here for
            # the first to commit, then finds its reference (SQLite: BEGIN IMMEDIATE already serialises them).
            advisory_lock(self.conn, f"requests.submission.{new.submission_id}")
            existing = self.conn.execute(
                text("SELECT reference FROM requests WHERE submission_id = :submission_id"),
                {"submission_id": new.submission_id},
            ).mappings().first()
            if existing is not None:
                return existing["reference"], False
            now = int(self.clock())
            reference, request_id = self._insert(new, now)
            if new.spam_reason is None:
                insights.record(self.conn, [insights.event("request_sent")], None, now)
                if hourly_ceiling is not None and self._past_ceiling(request_id, now, hourly_ceiling):
                    return reference, True
                kinds = [STAFF_NOTIFICATION] + ([PATIENT_RECEIPT] if patient_receipt else [])
                self.conn.execute(
                    text("INSERT INTO outbox (request_id, kind, next_attempt_at, created_at)"
                         " VALUES (:request_id, :kind, :now, :now)"),
                    [{"request_id": request_id, "kind": kind, "now": now} for kind in kinds],
                )
            return reference, True

    def _past_ceiling(self, request_id, now, ceiling):
        """Mark the request just stored when `ceiling` others arrived in the last hour, and see that a digest is
        waiting to go out. True when it was past the ceiling.

        A digest waits DIGEST_DELAY_SECONDS, so it covers the burst rather than its first request, and goes out at
        most once an hour: it counts, when it is sent, every request marked since it was queued, and the next one
        is queued by the first request marked after that."""
        # PostgreSQL: requests stored at once on two workers or hosts take turns here, so each counts the others
        # (the ceiling holds) and only one of them queues the digest (once an hour). SQLite: BEGIN IMMEDIATE.
        advisory_lock(self.conn, "requests.hourly_ceiling")
        earlier = self.conn.execute(text("SELECT COUNT(*) FROM requests WHERE created_at > :since"
                                         " AND spam_reason IS NULL AND id != :id"),
                                    {"since": now - CEILING_SECONDS, "id": request_id}).scalar_one()
        if earlier < ceiling:
            return False
        self.conn.execute(text("UPDATE requests SET past_ceiling = 1 WHERE id = :id"), {"id": request_id})
        waiting = self.conn.execute(text("SELECT 1 FROM outbox WHERE kind = :kind AND status = 'pending'"),
                                    {"kind": STAFF_DIGEST}).first()
        if waiting is None:
            previous = self.conn.execute(text("SELECT MAX(created_at) FROM outbox WHERE kind = :kind"),
                                         {"kind": STAFF_DIGEST}).scalar()
            due = max(now + DIGEST_DELAY_SECONDS, (previous or 0) + CEILING_SECONDS)
            self.conn.execute(text("INSERT INTO outbox (request_id, kind, next_attempt_at, created_at)"
                                   " VALUES (NULL, :kind, :due, :now)"), {"kind": STAFF_DIGEST, "due": due, "now": now})
        return True

    def _insert(self, new, now):
        consent = consent_version(new.consent_text) if new.consent_text else None
        if consent:
            self.conn.execute(text("INSERT INTO consent_texts (version, text, first_used) VALUES (:version, :text, :now)"
                                   " ON CONFLICT (version) DO NOTHING"),
                              {"version": consent, "text": new.consent_text, "now": now})
        call_back = new.call_back
        columns = {"submission_id": new.submission_id, "created_at": now, "status": "spam" if new.spam_reason else "new",
                   "spam_reason": new.spam_reason, "name": new.name, "email": new.email, "phone": new.phone,
                   "contact_by": new.contact_by, "description": new.description, "flagged": int(new.flag.flagged),
                   "flag_words": new.flag.words_json(),
                   **request_answers.stored_columns(new.answers, new.flag.sign_ids()),
                   "call_times": call_back.call_times_json(), "voicemail": call_back.voicemail,
                   "language": call_back.language, "language_other": call_back.language_other,
                   "interpreter": int(call_back.interpreter), "consent_version": consent,
                   "consent_at": now if consent else None}
        names = ", ".join(columns)
        marks = ", ".join(f":{name}" for name in columns)
        insert = text(f"INSERT INTO requests (reference, {names}) VALUES (:reference, {marks}) RETURNING id")  # noqa: S608  # nosec B608 - fixed column names
        for _ in range(REFERENCE_ATTEMPTS):
            reference = self.make_reference()
            # A savepoint: on PostgreSQL a failed statement aborts the whole transaction unless rolled back to one.
            self.conn.exec_driver_sql("SAVEPOINT reference_draw")
            try:
                request_id = self.conn.execute(insert, {"reference": reference, **columns}).scalar_one()
            except IntegrityError as error:
                self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT reference_draw")
                if not unique_violation(error, "requests.reference"):
                    raise
                continue  # taken: draw another, still inside the same transaction
            self.conn.exec_driver_sql("RELEASE SAVEPOINT reference_draw")
            if new.files:
                self.conn.execute(
                    text("INSERT INTO request_files (request_id, position, stored_name, kind, size, created_at)"
                         " VALUES (:request_id, :position, :stored_name, :kind, :size, :now)"),
                    [{"request_id": request_id, "position": f.position, "stored_name": f.stored_name, "kind": f.kind,
                      "size": f.size, "now": now} for f in new.files])
            return reference, request_id
        raise ReferenceSpaceFull(f"{REFERENCE_ATTEMPTS} references in a row were taken")

    def is_flagged(self, reference):
        """Whether the request was flagged when saved (its confirmation page then asks the patient to call today)."""
        row = self.conn.execute(text("SELECT flagged FROM requests WHERE reference = :reference"),
                                {"reference": reference}).mappings().first()
        return bool(row and row["flagged"])

    def reference_exists(self, reference):
        return self.conn.execute(text("SELECT 1 FROM requests WHERE reference = :reference"),
                                 {"reference": reference}).first() is not None
