"""Staff accounts, sign-in with throttling and lock-out, and server-side staff sessions (no Flask here)."""
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text

from clinic.db import advisory_lock, transaction
from clinic.typed_text import has_control_characters

MIN_PASSWORD_LENGTH = 12
ROLES = ("reader", "admin")  # reader: list, read, status, notes; admin: also export, erase, audit trail, report CSV


@dataclass(frozen=True)
class Throttle:
    """Failed sign-ins that hold back an (account, address) pair, an address, or (slowly) a whole account.

    Failures are counted within `window` seconds. The account-wide rule starts only at `account_slowdown`
    failures within an hour, from every address together: from then on each attempt from an address that has
    not signed in to that account in the last `known_address_days` waits 1, 2, 4, ... seconds after the
    account's last failure (at most `window`). Addresses the person signs in from are never slowed that way.
    The first four numbers are settings (STAFF_SIGNIN_*, defaults in clinic/settings.py): see `from_settings`.
    """

    pair_failures: int  # one account from one address
    ip_failures: int  # one address, any accounts
    window: int
    account_slowdown: int
    account_window: int = 60 * 60
    known_address_days: int = 30

    @classmethod
    def from_settings(cls, settings):
        """The throttle the app's configuration (a mapping of setting names) asks for."""
        return cls(
            pair_failures=int(settings["STAFF_SIGNIN_MAX_FAILURES"]),
            ip_failures=int(settings["STAFF_SIGNIN_IP_MAX_FAILURES"]),
            window=int(settings["STAFF_SIGNIN_WINDOW_SECONDS"]),
            account_slowdown=int(settings["STAFF_SIGNIN_ACCOUNT_SLOWDOWN_FAILURES"]),
        )


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    role: str = "reader"
    factor_at: int = 0  # when this session last gave a second factor (0 outside a session)

    @property
    def is_admin(self):
        return self.role == "admin"


class PasswordTooShort(ValueError):
    pass


def make_hasher(params=None):
    """argon2id with the library's defaults, or cheaper parameters (tests) from config."""
    return PasswordHasher(**(params or {}))


_dummy_hashes = {}


def warm_up(hasher):
    """Compute the dummy hash before the first sign-in attempt, so even that one takes the usual time."""
    _dummy_hash(hasher)


def _dummy_hash(hasher):
    # Unknown emails are checked against this so they cost the same time as a wrong password.
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash(secrets.token_urlsafe(24))
    return _dummy_hashes[key]


def normalise_email(email):
    """The address as accounts are kept: trimmed, lower case. One with a control character in it is no one's
    address: "" (so a sign-in with it is a wrong password, and PostgreSQL, which refuses to compare text holding
    a NUL, is never asked to)."""
    email = (email or "").strip().lower()
    return "" if has_control_characters(email) else email


def _sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- accounts ---------------------------------------------------------------------------------------------
def create_staff(conn, email, password, hasher, now, role="reader"):
    email = normalise_email(email)
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")
    if not email or "@" not in email:
        raise ValueError("an email address is needed")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(conn):
        if conn.execute(text("SELECT 1 FROM staff WHERE email = :email"), {"email": email}).first():
            raise ValueError(f"{email} already has an account")
        staff_id = conn.execute(
            text("INSERT INTO staff (email, password_hash, created_at, role) VALUES (:email, :hash, :now, :role)"
                 " RETURNING id"),
            {"email": email, "hash": hasher.hash(password), "now": int(now), "role": role},
        ).scalar_one()
    return StaffMember(staff_id, email, role)


def list_staff(conn):
    return conn.execute(text("SELECT id, email, active, created_at, disabled_at, role, totp_enrolled_at FROM staff "
                             "ORDER BY email")).mappings().all()


def find_staff(conn, email):
    """The StaffMember with this email (active or not), or None."""
    row = conn.execute(text("SELECT id, email, role FROM staff WHERE email = :email"),
                       {"email": normalise_email(email)}).mappings().first()
    return StaffMember(row["id"], row["email"], row["role"]) if row else None


def member_by_id(conn, staff_id):
    """The active StaffMember with this id, or None (disabled or gone)."""
    row = conn.execute(text("SELECT id, email, role FROM staff WHERE id = :id AND active = 1"),
                       {"id": staff_id}).mappings().first()
    return StaffMember(row["id"], row["email"], row["role"]) if row else None


def set_role(conn, email, role):
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")
    with transaction(conn):
        return conn.execute(text("UPDATE staff SET role = :role WHERE email = :email"),
                            {"role": role, "email": normalise_email(email)}).rowcount == 1


def disable_staff(conn, email, now):
    """Refuse future sign-ins and end every open session of the account. False if there is no such account."""
    with transaction(conn):
        row = conn.execute(text("SELECT id FROM staff WHERE email = :email"),
                           {"email": normalise_email(email)}).mappings().first()
        if row is None:
            return False
        conn.execute(text("UPDATE staff SET active = 0, disabled_at = :now WHERE id = :id"),
                     {"now": int(now), "id": row["id"]})
        conn.execute(text("DELETE FROM staff_sessions WHERE staff_id = :id"), {"id": row["id"]})
    return True


# --- sign-in ----------------------------------------------------------------------------------------------
def _refusal(conn, email, account, address, now, throttle):
    """Seconds this attempt must wait (0: it may go ahead). Pending attempts count as failures."""
    waits = [0]
    params = {"account": account, "address": address, "since": int(now) - throttle.window}
    for where, limit in (
        ("account = :account AND address = :address", throttle.pair_failures),
        ("address = :address", throttle.ip_failures),
    ):
        counted = conn.execute(text(f"SELECT at FROM sign_in_attempts WHERE {where} AND at > :since"  # noqa: S608  # nosec B608 - two fixed clauses
                                    " ORDER BY at DESC LIMIT :limit"), {**params, "limit": limit}).scalars().all()
        if len(counted) >= limit:  # free again once the oldest of the last `limit` failures leaves the window
            waits.append(counted[-1] + throttle.window - int(now))
    row = conn.execute(text("SELECT COUNT(*) AS failures, MAX(at) AS last FROM sign_in_attempts"
                            " WHERE account = :account AND at > :since"),
                       {"account": account, "since": int(now) - throttle.account_window}).mappings().one()
    failures, last = row["failures"], row["last"]
    if failures >= throttle.account_slowdown and not _known_address(conn, email, address, now, throttle):
        delay = min(2 ** min(failures - throttle.account_slowdown, 30), throttle.window)
        waits.append(last + delay - int(now))
    return max(waits)


def _known_address(conn, email, address, now, throttle):
    return conn.execute(text(
        "SELECT 1 FROM staff_known_addresses k JOIN staff s ON s.id = k.staff_id "
        "WHERE s.email = :email AND k.address = :address AND k.last_seen_at > :since"),
        {"email": email, "address": address, "since": int(now) - throttle.known_address_days * 86400},
    ).first() is not None


def sign_in_lock(conn, account, address):
    """Take the account's lock, then the address's (always in that order, so two attempts never wait on each
    other in a circle). A no-op on SQLite, where BEGIN IMMEDIATE already lets one writer in at a time."""
    advisory_lock(conn, f"sign_in.account.{account}")
    advisory_lock(conn, f"sign_in.address.{address}")


def _admit(conn, email, address, now, throttle):
    """(attempt row id, 0) when an attempt may go ahead, recorded as pending; (None, seconds to wait) when not."""
    account = _sha256(normalise_email(email))
    with transaction(conn):
        # PostgreSQL: attempts on one account, or from one address, are counted and recorded one after the other,
        # so two guesses at once cannot both see the room for one (SQLite: BEGIN IMMEDIATE already serialises).
        sign_in_lock(conn, account, address)
        conn.execute(text("DELETE FROM sign_in_attempts WHERE at <= :before"),
                     {"before": now - max(throttle.window, throttle.account_window)})
        wait = _refusal(conn, normalise_email(email), account, address, now, throttle)
        if wait > 0:
            return None, wait
        attempt = conn.execute(text("INSERT INTO sign_in_attempts (account, address, at)"
                                    " VALUES (:account, :address, :now) RETURNING id"),
                               {"account": account, "address": address, "now": now}).scalar_one()
    return attempt, 0


def sign_in(conn, email, password, ip, hasher, now, throttle):
    """('ok', StaffMember, 0) | ('wrong', None, 0) | ('locked', None, seconds to wait).

    The limits are checked and the attempt recorded in one write transaction, before the password is checked
    (argon2 runs outside it, so patients' posts never wait for it): however many workers and threads take
    guesses at once, each sees every other, and no more passwords are checked than the limits allow.
    Unknown, disabled and known accounts take the same path through argon2, so neither the answer
    nor its timing says whether an email has an account.

    'ok' is only the first step: the second factor (`second_factor`) must follow. Until it does, earlier
    failures still count, so the right password cannot be used to clear the way for guessing codes.
    """
    address, now = ip or "unknown", int(now)
    attempt, wait = _admit(conn, email, address, now, throttle)
    if attempt is None:
        return "locked", None, wait
    row = conn.execute(text("SELECT id, email, role, password_hash, active FROM staff WHERE email = :email"),
                       {"email": normalise_email(email)}).mappings().first()
    stored = row["password_hash"] if row is not None else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password or "")
        matched = row is not None and bool(row["active"])
    except (VerificationError, InvalidHashError):
        matched = False
    with transaction(conn):
        if not matched:
            conn.execute(text("UPDATE sign_in_attempts SET outcome = 'failed' WHERE id = :id"), {"id": attempt})
            return "wrong", None, 0
        # the right password is no failure
        conn.execute(text("DELETE FROM sign_in_attempts WHERE id = :id"), {"id": attempt})
        if hasher.check_needs_rehash(stored):
            conn.execute(text("UPDATE staff SET password_hash = :hash WHERE id = :id"),
                         {"hash": hasher.hash(password), "id": row["id"]})
    return "ok", StaffMember(row["id"], row["email"], row["role"]), 0


def second_factor(conn, member, ip, now, throttle, check):
    """('ok', 0) | ('wrong', 0) | ('locked', seconds to wait) for a second factor after the password.

    `check()` returns whether the factor is right (a TOTP code, a recovery code, a passkey). It runs only once the
    attempt has been counted exactly as a password guess is, so wrong codes count in the same limits.
    When it is right the sign-in is complete: this address's own mistakes are forgiven, and it becomes a known
    address (the account-wide slowdown never applies to it).
    """
    address, now = ip or "unknown", int(now)
    attempt, wait = _admit(conn, member.email, address, now, throttle)
    if attempt is None:
        return "locked", wait
    matched = bool(check())
    with transaction(conn):
        if not matched:
            conn.execute(text("UPDATE sign_in_attempts SET outcome = 'failed' WHERE id = :id"), {"id": attempt})
            return "wrong", 0
        conn.execute(text("DELETE FROM sign_in_attempts WHERE account = :account AND address = :address"),
                     {"account": _sha256(normalise_email(member.email)), "address": address})
        conn.execute(text("INSERT INTO staff_known_addresses (staff_id, address, last_seen_at)"
                          " VALUES (:staff_id, :address, :now)"
                          " ON CONFLICT (staff_id, address) DO UPDATE SET last_seen_at = excluded.last_seen_at"),
                     {"staff_id": member.id, "address": address, "now": now})
        conn.execute(text("DELETE FROM staff_known_addresses WHERE last_seen_at <= :before"),
                     {"before": now - throttle.known_address_days * 86400})
    return "ok", 0


# --- sessions ---------------------------------------------------------------------------------------------
def start_session(conn, staff, now):
    """A new random token for the cookie; only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute(text("INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at, factor_at) "
                          "VALUES (:token_hash, :staff_id, :now, :now, :now)"),
                     {"token_hash": _sha256(token), "staff_id": staff.id, "now": int(now)})
    return token


def session_staff(conn, token, now, idle_seconds, max_age_seconds):
    """The signed-in StaffMember for `token`, or None (unknown, ended, idle too long, older than
    `max_age_seconds` however busy, or account disabled)."""
    if not token or not isinstance(token, str):
        return None
    row = conn.execute(text(
        "SELECT s.token_hash, s.created_at, s.last_seen_at, s.factor_at, st.id, st.email, st.role, st.active "
        "FROM staff_sessions s "
        "JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = :token_hash"),
        {"token_hash": _sha256(token)},
    ).mappings().first()
    if row is None:
        return None
    if not row["active"] or now - row["last_seen_at"] > idle_seconds or now - row["created_at"] > max_age_seconds:
        end_session(conn, token)
        return None
    if now - row["last_seen_at"] >= 30:  # spare a write on every click
        conn.execute(text("UPDATE staff_sessions SET last_seen_at = :now WHERE token_hash = :token_hash"),
                     {"now": int(now), "token_hash": row["token_hash"]})
    return StaffMember(row["id"], row["email"], row["role"], row["factor_at"])


def factor_given(conn, token, now):
    """The session's holder has just given a second factor again (export, erase and factor changes ask)."""
    with transaction(conn):
        conn.execute(text("UPDATE staff_sessions SET factor_at = :now WHERE token_hash = :token_hash"),
                     {"now": int(now), "token_hash": _sha256(token)})


def end_other_sessions(conn, staff, token):
    """Sign out every other session of the account (after a factor change); returns how many ended."""
    with transaction(conn):
        return conn.execute(text("DELETE FROM staff_sessions WHERE staff_id = :staff_id AND token_hash != :token_hash"),
                            {"staff_id": staff.id, "token_hash": _sha256(token or "")}).rowcount


def end_session(conn, token):
    if token and isinstance(token, str):
        conn.execute(text("DELETE FROM staff_sessions WHERE token_hash = :token_hash"), {"token_hash": _sha256(token)})


def purge_idle_sessions(conn, now, idle_seconds, max_age_seconds):
    return conn.execute(text("DELETE FROM staff_sessions WHERE last_seen_at < :idle_before OR created_at < :made_before"),
                        {"idle_before": int(now) - idle_seconds, "made_before": int(now) - max_age_seconds}).rowcount
