"""Staff accounts, sign-in with throttling and lock-out, and server-side staff sessions (no Flask here)."""
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from clinic.db import transaction

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
    return (email or "").strip().lower()


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
        if conn.execute("SELECT 1 FROM staff WHERE email = ?", (email,)).fetchone():
            raise ValueError(f"{email} already has an account")
        cursor = conn.execute(
            "INSERT INTO staff (email, password_hash, created_at, role) VALUES (?, ?, ?, ?)",
            (email, hasher.hash(password), int(now), role),
        )
    return StaffMember(cursor.lastrowid, email, role)


def list_staff(conn):
    return conn.execute("SELECT id, email, active, created_at, disabled_at, role, totp_enrolled_at FROM staff "
                        "ORDER BY email").fetchall()


def find_staff(conn, email):
    """The StaffMember with this email (active or not), or None."""
    row = conn.execute("SELECT id, email, role FROM staff WHERE email = ?", (normalise_email(email),)).fetchone()
    return StaffMember(row["id"], row["email"], row["role"]) if row else None


def member_by_id(conn, staff_id):
    """The active StaffMember with this id, or None (disabled or gone)."""
    row = conn.execute("SELECT id, email, role FROM staff WHERE id = ? AND active = 1", (staff_id,)).fetchone()
    return StaffMember(row["id"], row["email"], row["role"]) if row else None


def set_role(conn, email, role):
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")
    with transaction(conn):
        return conn.execute("UPDATE staff SET role = ? WHERE email = ?", (role, normalise_email(email))).rowcount == 1


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
def _refusal(conn, email, account, address, now, throttle):
    """Seconds this attempt must wait (0: it may go ahead). Pending attempts count as failures."""
    waits = [0]
    for where, params, limit in (
        ("account = ? AND address = ?", (account, address), throttle.pair_failures),
        ("address = ?", (address,), throttle.ip_failures),
    ):
        counted = conn.execute(f"SELECT at FROM sign_in_attempts WHERE {where} AND at > ? ORDER BY at DESC LIMIT ?",  # noqa: S608  # nosec B608 - two fixed clauses
                               (*params, int(now) - throttle.window, limit)).fetchall()
        if len(counted) >= limit:  # free again once the oldest of the last `limit` failures leaves the window
            waits.append(counted[-1]["at"] + throttle.window - int(now))
    failures, last = conn.execute("SELECT COUNT(*), MAX(at) FROM sign_in_attempts WHERE account = ? AND at > ?",
                                  (account, int(now) - throttle.account_window)).fetchone()
    if failures >= throttle.account_slowdown and not _known_address(conn, email, address, now, throttle):
        delay = min(2 ** min(failures - throttle.account_slowdown, 30), throttle.window)
        waits.append(last + delay - int(now))
    return max(waits)


def _known_address(conn, email, address, now, throttle):
    return conn.execute(
        "SELECT 1 FROM staff_known_addresses k JOIN staff s ON s.id = k.staff_id "
        "WHERE s.email = ? AND k.address = ? AND k.last_seen_at > ?",
        (email, address, int(now) - throttle.known_address_days * 86400),
    ).fetchone() is not None


def _admit(conn, email, address, now, throttle):
    """(attempt row id, 0) when an attempt may go ahead, recorded as pending; (None, seconds to wait) when not."""
    account = _sha256(normalise_email(email))
    with transaction(conn):
        conn.execute("DELETE FROM sign_in_attempts WHERE at <= ?", (now - max(throttle.window, throttle.account_window),))
        wait = _refusal(conn, normalise_email(email), account, address, now, throttle)
        if wait > 0:
            return None, wait
        attempt = conn.execute("INSERT INTO sign_in_attempts (account, address, at) VALUES (?, ?, ?)",
                               (account, address, now)).lastrowid
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
    row = conn.execute("SELECT id, email, role, password_hash, active FROM staff WHERE email = ?",
                       (normalise_email(email),)).fetchone()
    stored = row["password_hash"] if row is not None else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password or "")
        matched = row is not None and bool(row["active"])
    except (VerificationError, InvalidHashError):
        matched = False
    with transaction(conn):
        if not matched:
            conn.execute("UPDATE sign_in_attempts SET outcome = 'failed' WHERE id = ?", (attempt,))
            return "wrong", None, 0
        conn.execute("DELETE FROM sign_in_attempts WHERE id = ?", (attempt,))  # the right password is no failure
        if hasher.check_needs_rehash(stored):
            conn.execute("UPDATE staff SET password_hash = ? WHERE id = ?", (hasher.hash(password), row["id"]))
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
            conn.execute("UPDATE sign_in_attempts SET outcome = 'failed' WHERE id = ?", (attempt,))
            return "wrong", 0
        conn.execute("DELETE FROM sign_in_attempts WHERE account = ? AND address = ?",
                     (_sha256(normalise_email(member.email)), address))
        conn.execute("INSERT OR REPLACE INTO staff_known_addresses (staff_id, address, last_seen_at) VALUES (?, ?, ?)",
                     (member.id, address, now))
        conn.execute("DELETE FROM staff_known_addresses WHERE last_seen_at <= ?",
                     (now - throttle.known_address_days * 86400,))
    return "ok", 0


# --- sessions ---------------------------------------------------------------------------------------------
def start_session(conn, staff, now):
    """A new random token for the cookie; only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute("INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at, factor_at) "
                     "VALUES (?, ?, ?, ?, ?)", (_sha256(token), staff.id, int(now), int(now), int(now)))
    return token


def session_staff(conn, token, now, idle_seconds, max_age_seconds):
    """The signed-in StaffMember for `token`, or None (unknown, ended, idle too long, older than
    `max_age_seconds` however busy, or account disabled)."""
    if not token or not isinstance(token, str):
        return None
    row = conn.execute(
        "SELECT s.token_hash, s.created_at, s.last_seen_at, s.factor_at, st.id, st.email, st.role, st.active "
        "FROM staff_sessions s "
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
    return StaffMember(row["id"], row["email"], row["role"], row["factor_at"])


def factor_given(conn, token, now):
    """The session's holder has just given a second factor again (export, erase and factor changes ask)."""
    with transaction(conn):
        conn.execute("UPDATE staff_sessions SET factor_at = ? WHERE token_hash = ?", (int(now), _sha256(token)))


def end_other_sessions(conn, staff, token):
    """Sign out every other session of the account (after a factor change); returns how many ended."""
    with transaction(conn):
        return conn.execute("DELETE FROM staff_sessions WHERE staff_id = ? AND token_hash != ?",
                            (staff.id, _sha256(token or ""))).rowcount


def end_session(conn, token):
    if token and isinstance(token, str):
        conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (_sha256(token),))


def purge_idle_sessions(conn, now, idle_seconds, max_age_seconds):
    conn.execute("DELETE FROM staff_sessions WHERE last_seen_at < ? OR created_at < ?",
                 (int(now) - idle_seconds, int(now) - max_age_seconds))
