"""Staff accounts, sign-in with throttling and lock-out, and server-side staff sessions (no Flask here)."""
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from clinic.db import transaction

MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class Throttle:
    """How many failures within `window` seconds lock an account or an address, and for how long."""

    account_failures: int = 5
    ip_failures: int = 20  # higher: a clinic's staff may share one office address
    window: int = 15 * 60
    lockout: int = 15 * 60


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str


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
    return (email or "").strip().lower()


def _sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- accounts ---------------------------------------------------------------------------------------------
def create_staff(conn, email, password, hasher, now):
    email = normalise_email(email)
    if not email or "@" not in email:
        raise ValueError("an email address is needed")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(conn):
        if conn.execute("SELECT 1 FROM staff WHERE email = ?", (email,)).fetchone():
            raise ValueError(f"{email} already has an account")
        cursor = conn.execute(
            "INSERT INTO staff (email, password_hash, created_at) VALUES (?, ?, ?)",
            (email, hasher.hash(password), int(now)),
        )
    return StaffMember(cursor.lastrowid, email)


def list_staff(conn):
    return conn.execute("SELECT id, email, active, created_at, disabled_at FROM staff ORDER BY email").fetchall()


def disable_staff(conn, email, now):
    """Refuse future sign-ins and end every open session of the account. False if there is no such account."""
    with transaction(conn):
        row = conn.execute("SELECT id FROM staff WHERE email = ?", (normalise_email(email),)).fetchone()
        if row is None:
            return False
        conn.execute("UPDATE staff SET active = 0, disabled_at = ? WHERE id = ?", (int(now), row["id"]))
        conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (row["id"],))
    return True


# --- sign-in ----------------------------------------------------------------------------------------------
def _keys(email, ip):
    return [("account", _sha256(normalise_email(email))), ("ip", ip or "unknown")]


def is_locked_out(conn, email, ip, now):
    for kind, key in _keys(email, ip):
        row = conn.execute("SELECT until FROM sign_in_lockouts WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        if row and row["until"] > now:
            return True
    return False


def _record_failure(conn, email, ip, now, throttle):
    limits = {"account": throttle.account_failures, "ip": throttle.ip_failures}
    with transaction(conn):
        conn.execute("DELETE FROM sign_in_failures WHERE at <= ?", (int(now) - throttle.window,))
        conn.execute("DELETE FROM sign_in_lockouts WHERE until <= ?", (int(now),))
        for kind, key in _keys(email, ip):
            conn.execute("INSERT INTO sign_in_failures (kind, key, at) VALUES (?, ?, ?)", (kind, key, int(now)))
            count = conn.execute("SELECT COUNT(*) FROM sign_in_failures WHERE kind = ? AND key = ?",
                                 (kind, key)).fetchone()[0]
            if count >= limits[kind]:
                conn.execute("INSERT OR REPLACE INTO sign_in_lockouts (kind, key, until) VALUES (?, ?, ?)",
                             (kind, key, int(now) + throttle.lockout))
                # After the lock-out the count starts again from zero.
                conn.execute("DELETE FROM sign_in_failures WHERE kind = ? AND key = ?", (kind, key))


def sign_in(conn, email, password, ip, hasher, now, throttle=Throttle()):
    """('ok', StaffMember) | ('wrong', None) | ('locked', None).

    Unknown, disabled and known accounts take the same path through argon2, so neither the answer
    nor its timing says whether an email has an account.
    """
    if is_locked_out(conn, email, ip, now):
        return "locked", None
    row = conn.execute("SELECT id, email, password_hash, active FROM staff WHERE email = ?",
                       (normalise_email(email),)).fetchone()
    stored = row["password_hash"] if row is not None else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password or "")
        matched = row is not None and bool(row["active"])
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched:
        _record_failure(conn, email, ip, now, throttle)
        return "wrong", None
    with transaction(conn):
        conn.execute("DELETE FROM sign_in_failures WHERE kind = 'account' AND key = ?", (_keys(email, ip)[0][1],))
        if hasher.check_needs_rehash(stored):
            conn.execute("UPDATE staff SET password_hash = ? WHERE id = ?", (hasher.hash(password), row["id"]))
    return "ok", StaffMember(row["id"], row["email"])


# --- sessions ---------------------------------------------------------------------------------------------
def start_session(conn, staff, now):
    """A new random token for the cookie; only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute("INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
                     (_sha256(token), staff.id, int(now), int(now)))
    return token


def session_staff(conn, token, now, idle_seconds, max_age_seconds):
    """The signed-in StaffMember for `token`, or None (unknown, ended, idle too long, older than
    `max_age_seconds` however busy, or account disabled)."""
    if not token or not isinstance(token, str):
        return None
    row = conn.execute(
        "SELECT s.token_hash, s.created_at, s.last_seen_at, st.id, st.email, st.active FROM staff_sessions s "
        "JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = ?",
        (_sha256(token),),
    ).fetchone()
    if row is None:
        return None
    if not row["active"] or now - row["last_seen_at"] > idle_seconds or now - row["created_at"] > max_age_seconds:
        end_session(conn, token)
        return None
    if now - row["last_seen_at"] >= 30:  # spare a write on every click
        conn.execute("UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?", (int(now), row["token_hash"]))
    return StaffMember(row["id"], row["email"])


def end_session(conn, token):
    if token and isinstance(token, str):
        conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (_sha256(token),))


def purge_idle_sessions(conn, now, idle_seconds, max_age_seconds):
    conn.execute("DELETE FROM staff_sessions WHERE last_seen_at < ? OR created_at < ?",
                 (int(now) - idle_seconds, int(now) - max_age_seconds))
