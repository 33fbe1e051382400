"""Staff second factors: TOTP codes (RFC 6238), one-time recovery codes, passkeys (WebAuthn), and the time a
session last gave one (no Flask here).

pyotp accepts the same code twice within its 30 seconds, so each account keeps the last time step it accepted
and refuses any code at or before it: a code seen over a shoulder or in a proxy log cannot be replayed.
Recovery codes are stored like passwords (argon2id); each opens one sign-in. Passkeys keep only the public key.
"""
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
import segno
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text

from clinic.db import row_lock, transaction

TOTP_PERIOD = 30
TOTP_DRIFT_STEPS = 1  # a phone's clock a step (30 s) ahead or behind is still accepted
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 16  # base32 characters: 80 random bits each
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
REAUTH_SECONDS = 15 * 60  # export, erase and changes to one's own factors ask again after this long
ISSUER = "Clinic inbox"


@dataclass(frozen=True)
class FactorState:
    """What an account has set up."""

    totp_enrolled_at: int | None
    recovery_codes_left: int
    passkeys: list


# --- TOTP ---------------------------------------------------------------------------------------------------
def time_step(now):
    return int(now) // TOTP_PERIOD


def code_at(secret, step):
    """The six-digit code for a time step (tests and the enrolment check use the same function)."""
    return pyotp.TOTP(secret).generate_otp(step)


def normalise_code(code):
    return re.sub(r"[\s-]", "", code or "")


def looks_like_totp(code):
    return re.fullmatch(r"\d{6}", normalise_code(code)) is not None


def matching_step(secret, code, now, after_step):
    """The time step `code` belongs to, if it is right for now (give or take TOTP_DRIFT_STEPS) and later than
    `after_step`; else None."""
    code = normalise_code(code)
    if not secret or not looks_like_totp(code):
        return None
    current = time_step(now)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def pending_secret(conn, staff_id):
    """The secret an account is enrolling with: made once and kept until confirmed, so a reload shows the same
    QR code the phone may already have scanned."""
    with transaction(conn):
        row = conn.execute(text("SELECT totp_pending_secret FROM staff WHERE id = :id" + row_lock(conn)),  # noqa: S608  # nosec B608
                           {"id": staff_id}).mappings().first()
        if row is None:
            return None
        if row["totp_pending_secret"]:
            return row["totp_pending_secret"]
        secret = pyotp.random_base32()  # 32 characters, 160 bits (RFC 4226's recommended length)
        conn.execute(text("UPDATE staff SET totp_pending_secret = :secret WHERE id = :id"), {"secret": secret, "id": staff_id})
    return secret


def provisioning_uri(secret, email):
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri, title):
    """The otpauth:// URI as an inline SVG QR code: no image request, no script, no inline style."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", svgclass="qr-code",
                                                lineclass=None, title=title)
    return svg.replace("<svg ", '<svg role="img" ', 1)


def enrol_totp(conn, staff_id, secret, now, hasher, last_step=None):
    """Make `secret` the account's TOTP secret and give it ten new recovery codes; returns the codes, in clear,
    to be shown once. The pending secret goes; `last_step` is the step of the code that confirmed it (refused from
    now on)."""
    codes = new_recovery_codes()
    hashes = [hasher.hash(normalise_recovery(code)) for code in codes]
    step = time_step(now) if last_step is None else last_step
    with transaction(conn):
        conn.execute(text("UPDATE staff SET totp_secret = :secret, totp_pending_secret = NULL, totp_last_step = :step, "
                          "totp_enrolled_at = :now WHERE id = :id"),
                     {"secret": secret, "step": step, "now": int(now), "id": staff_id})
        _replace_recovery_codes(conn, staff_id, hashes, now)
    return codes


def enrolled(conn, staff_id):
    row = conn.execute(text("SELECT totp_secret FROM staff WHERE id = :id"), {"id": staff_id}).mappings().first()
    return row is not None and bool(row["totp_secret"])


def accept_totp(conn, staff_id, code, now):
    """True if `code` is the account's current code and newer than the last one it accepted (which it becomes).
    The step is moved in one conditional UPDATE: two requests racing with one code cannot both pass. (On
    PostgreSQL too: the second UPDATE waits for the first's row lock, then checks its WHERE again on the row the
    first wrote, so it matches nothing.)"""
    row = conn.execute(text("SELECT totp_secret, totp_last_step FROM staff WHERE id = :id"),
                       {"id": staff_id}).mappings().first()
    if row is None:
        return False
    step = matching_step(row["totp_secret"], code, now, row["totp_last_step"])
    if step is None:
        return False
    with transaction(conn):
        moved = conn.execute(text("UPDATE staff SET totp_last_step = :step WHERE id = :id AND totp_last_step < :step"),
                             {"step": step, "id": staff_id}).rowcount
    return moved == 1


# --- recovery codes -----------------------------------------------------------------------------------------
def new_recovery_codes():
    """Ten codes of 16 base32 characters, grouped in fours for reading: ABCD-EFGH-JKLM-NPQR."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(BASE32) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def normalise_recovery(code):
    """Upper case without spaces or dashes; the letters people confuse with digits read as base32 has them."""
    return normalise_code(code).upper().replace("0", "O").replace("1", "I").replace("8", "B")


def looks_like_recovery(code):
    return re.fullmatch(f"[{BASE32}]{{{RECOVERY_CODE_LENGTH}}}", normalise_recovery(code)) is not None


def _replace_recovery_codes(conn, staff_id, hashes, now):
    conn.execute(text("DELETE FROM staff_recovery_codes WHERE staff_id = :id"), {"id": staff_id})
    conn.execute(text("INSERT INTO staff_recovery_codes (staff_id, code_hash, created_at) VALUES (:id, :hash, :now)"),
                 [{"id": staff_id, "hash": code_hash, "now": int(now)} for code_hash in hashes])


def renew_recovery_codes(conn, staff_id, now, hasher):
    """Ten new codes in place of every old one (used or not); returns them in clear, to be shown once."""
    codes = new_recovery_codes()
    hashes = [hasher.hash(normalise_recovery(code)) for code in codes]
    with transaction(conn):
        _replace_recovery_codes(conn, staff_id, hashes, now)
    return codes


def use_recovery_code(conn, staff_id, code, now, hasher):
    """The number of unused codes left if `code` is one of the account's unused codes (it is used up now),
    else None. At most ten argon2 checks; the code is spent by a conditional UPDATE, so it opens one sign-in
    however many requests race with it."""
    if not looks_like_recovery(code):
        return None
    wanted = normalise_recovery(code)
    rows = conn.execute(text("SELECT id, code_hash FROM staff_recovery_codes WHERE staff_id = :id AND used_at IS NULL"),
                        {"id": staff_id}).mappings().all()
    for row in rows:
        try:
            hasher.verify(row["code_hash"], wanted)
        except (VerificationError, InvalidHashError):
            continue
        with transaction(conn):
            spent = conn.execute(text("UPDATE staff_recovery_codes SET used_at = :now WHERE id = :id AND used_at IS NULL"),
                                 {"now": int(now), "id": row["id"]}).rowcount
        if spent != 1:
            return None
        return recovery_codes_left(conn, staff_id)
    return None


def recovery_codes_left(conn, staff_id):
    return conn.execute(text("SELECT COUNT(*) FROM staff_recovery_codes WHERE staff_id = :id AND used_at IS NULL"),
                        {"id": staff_id}).scalar_one()


# --- passkeys -----------------------------------------------------------------------------------------------
def passkeys(conn, staff_id):
    return conn.execute(text("SELECT id, credential_id, name, created_at, last_used_at FROM staff_passkeys "
                             "WHERE staff_id = :id ORDER BY created_at, id"), {"id": staff_id}).mappings().all()


def add_passkey(conn, staff_id, credential_id, public_key, sign_count, name, now):
    with transaction(conn):
        return conn.execute(text(
            "INSERT INTO staff_passkeys (staff_id, credential_id, public_key, sign_count, name, created_at) "
            "VALUES (:staff_id, :credential_id, :public_key, :sign_count, :name, :now) RETURNING id"),
            {"staff_id": staff_id, "credential_id": credential_id, "public_key": public_key, "sign_count": sign_count,
             "name": name, "now": int(now)}).scalar_one()


def passkey_by_credential(conn, staff_id, credential_id):
    return conn.execute(text("SELECT id, credential_id, public_key, sign_count FROM staff_passkeys "
                             "WHERE staff_id = :staff_id AND credential_id = :credential_id"),
                        {"staff_id": staff_id, "credential_id": credential_id}).mappings().first()


def passkey_used(conn, passkey_id, old_count, new_count, now):
    """Record a sign-in with a passkey. False if another sign-in moved its counter first (a cloned key or a
    replayed assertion); authenticators that keep no counter always send 0."""
    with transaction(conn):
        return conn.execute(text("UPDATE staff_passkeys SET sign_count = :new_count, last_used_at = :now"
                                 " WHERE id = :id AND sign_count = :old_count"),
                            {"new_count": new_count, "now": int(now), "id": passkey_id, "old_count": old_count}
                            ).rowcount == 1


def remove_passkey(conn, staff_id, passkey_id):
    with transaction(conn):
        return conn.execute(text("DELETE FROM staff_passkeys WHERE id = :id AND staff_id = :staff_id"),
                            {"id": passkey_id, "staff_id": staff_id}).rowcount == 1


# --- the whole set ------------------------------------------------------------------------------------------
def state(conn, staff_id):
    row = conn.execute(text("SELECT totp_enrolled_at FROM staff WHERE id = :id"), {"id": staff_id}).mappings().first()
    return FactorState(totp_enrolled_at=row["totp_enrolled_at"] if row else None,
                       recovery_codes_left=recovery_codes_left(conn, staff_id), passkeys=passkeys(conn, staff_id))


def reset(conn, staff_id):
    """A lost phone: forget the TOTP secret, the recovery codes and the passkeys, and end every session. The next
    sign-in with the password enrols again."""
    with transaction(conn):
        conn.execute(text("UPDATE staff SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0, "
                          "totp_enrolled_at = NULL WHERE id = :id"), {"id": staff_id})
        for table in ("staff_recovery_codes", "staff_passkeys", "staff_sessions"):
            conn.execute(text(f"DELETE FROM {table} WHERE staff_id = :id"), {"id": staff_id})  # noqa: S608  # nosec B608 - fixed names


def needs_reauth(factor_at, now):
    """True when the session's last second factor is older than REAUTH_SECONDS."""
    return int(now) - int(factor_at or 0) > REAUTH_SECONDS
