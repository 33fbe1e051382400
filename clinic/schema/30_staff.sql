-- Staff inbox: accounts, server-side sessions, sign-in throttling, internal notes and the audit trail.
CREATE TABLE IF NOT EXISTS staff (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT NOT NULL,             -- argon2id, PHC string
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER
);

-- Only the SHA-256 of the session token is kept: a copy of this table opens no session.
CREATE TABLE IF NOT EXISTS staff_sessions (
    token_hash      TEXT PRIMARY KEY,
    staff_id        INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_sessions_staff ON staff_sessions (staff_id);

-- Failed sign-ins, per account (SHA-256 of the lower-cased email, known or not) and per client address.
CREATE TABLE IF NOT EXISTS sign_in_failures (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('account', 'ip')),
    key             TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_key ON sign_in_failures (kind, key, at);

CREATE TABLE IF NOT EXISTS sign_in_lockouts (
    kind            TEXT NOT NULL CHECK (kind IN ('account', 'ip')),
    key             TEXT NOT NULL,
    until           INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Internal notes on a request; erased with it.
CREATE TABLE IF NOT EXISTS request_notes (
    id              INTEGER PRIMARY KEY,
    request_id      INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    staff_id        INTEGER REFERENCES staff (id),
    staff_email     TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_notes_request ON request_notes (request_id, created_at);

-- Who did what and when. Never any health detail: the reference and a short machine detail only.
CREATE TABLE IF NOT EXISTS audit_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    staff_id        INTEGER,                   -- NULL for the command line
    staff_email     TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('viewed', 'status_changed', 'note_added', 'exported',
                                                    'erased', 'purged', 'signed_in', 'signed_out')),
    reference       TEXT,
    detail          TEXT                       -- e.g. "new -> contacted", "3 requests"
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);

-- Append-only: the trail cannot be rewritten, not even by the application.
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be deleted');
END;
