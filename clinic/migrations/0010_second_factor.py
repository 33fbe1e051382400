"""A second factor for every staff account, and roles (issue 22 A, B)."""
from clinic.migrate import rebuild_table


def upgrade(conn):
    # Roles: `reader` lists, reads, changes status and adds notes; `admin` also exports, erases and reads the audit
    # trail. New accounts are readers unless made admin; every account made before roles existed becomes admin, so
    # a clinic that upgrades is never left without someone who can export or erase.
    conn.execute("ALTER TABLE staff ADD COLUMN role TEXT NOT NULL DEFAULT 'reader' CHECK (role IN ('reader', 'admin'))")
    conn.execute("UPDATE staff SET role = 'admin'")
    # TOTP (RFC 6238): the secret once confirmed, the secret being enrolled (shown as a QR code until its first code
    # is typed), and the last time step accepted (codes at or before it are refused: no replay).
    conn.execute("ALTER TABLE staff ADD COLUMN totp_secret TEXT")
    conn.execute("ALTER TABLE staff ADD COLUMN totp_pending_secret TEXT")
    conn.execute("ALTER TABLE staff ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE staff ADD COLUMN totp_enrolled_at INTEGER")
    # When the session last gave a second factor: export, erase and factor changes ask again after 15 minutes.
    conn.execute("ALTER TABLE staff_sessions ADD COLUMN factor_at INTEGER NOT NULL DEFAULT 0")
    # Sessions opened with a password alone end: everyone signs in again, and enrols.
    conn.execute("DELETE FROM staff_sessions")
    # Ten one-time recovery codes per account, argon2id like passwords; used_at set when one opens a sign-in.
    conn.execute("""CREATE TABLE staff_recovery_codes (
        id          INTEGER PRIMARY KEY,
        staff_id    INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
        code_hash   TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        used_at     INTEGER
    )""")
    conn.execute("CREATE INDEX staff_recovery_codes_staff ON staff_recovery_codes (staff_id)")
    # Passkeys (WebAuthn): the credential id and public key only; the private key never leaves the authenticator.
    conn.execute("""CREATE TABLE staff_passkeys (
        id            INTEGER PRIMARY KEY,
        staff_id      INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
        credential_id BLOB NOT NULL UNIQUE,
        public_key    BLOB NOT NULL,
        sign_count    INTEGER NOT NULL DEFAULT 0,
        name          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
    )""")
    conn.execute("CREATE INDEX staff_passkeys_staff ON staff_passkeys (staff_id)")
    # New audit actions: enrolment, a recovery code used, passkeys added or removed, new recovery codes, a reset of
    # the factors from the command line, other sessions signed out.
    rebuild_table(conn, "audit_log", """
        CREATE TABLE audit_log (
            id              INTEGER PRIMARY KEY,
            at              INTEGER NOT NULL,
            staff_id        INTEGER,                   -- NULL for the command line
            staff_email     TEXT NOT NULL,
            action          TEXT NOT NULL CHECK (action IN ('viewed', 'status_changed', 'note_added', 'exported',
                                                            'erased', 'purged', 'signed_in', 'signed_out',
                                                            'enrolled', 'recovery_code_used', 'recovery_codes_renewed',
                                                            'passkey_added', 'passkey_removed', 'factors_reset',
                                                            'other_sessions_ended')),
            reference       TEXT,
            detail          TEXT                       -- e.g. "new -> contacted", "3 requests"
        )""")
