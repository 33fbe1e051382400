-- Version 1: the schema as released before versioned migrations (clinic/schema/*.sql at commit 44b9778).
-- A database that release made has user_version 0 with these tables: `db upgrade` checks its shape and stamps it 1.
-- Never edit this file: add the next numbered migration instead (README "How to add a migration").

-- Journeys in progress: answers live here, never in the cookie.
CREATE TABLE journeys (
    id          TEXT PRIMARY KEY,          -- random, 256 bits, url-safe
    answers     TEXT NOT NULL DEFAULT '{}', -- JSON: question id -> value or list of values
    seen        TEXT NOT NULL DEFAULT '[]', -- JSON: info steps the person has read
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX journeys_updated_at ON journeys (updated_at);

-- Second-opinion requests and the outbox of notifications about them.
CREATE TABLE requests (
    id              INTEGER PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,      -- shown to the patient, e.g. FBS-7K3Q
    submission_id   TEXT NOT NULL UNIQUE,      -- one-time id carried by the form: retries create nothing new
    created_at      INTEGER NOT NULL,          -- unix seconds
    status          TEXT NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'contacted', 'closed', 'spam')),
    spam_reason     TEXT,                      -- honeypot | too_fast | too_old, when status = 'spam'
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    phone           TEXT,
    contact_by      TEXT NOT NULL CHECK (contact_by IN ('email', 'phone')),
    description     TEXT NOT NULL,
    journey_answers TEXT                       -- JSON list of [question, answer] text pairs, or NULL
);
CREATE INDEX requests_status_created ON requests (status, created_at);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    request_id      INTEGER REFERENCES requests (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,             -- staff_notification | patient_receipt
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT                       -- SMTP status text only, never message content
);
CREATE INDEX outbox_pending ON outbox (status, next_attempt_at);

-- Staff inbox: accounts, server-side sessions, sign-in throttling, internal notes and the audit trail.
CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT NOT NULL,             -- argon2id, PHC string
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER
);

-- Only the SHA-256 of the session token is kept: a copy of this table opens no session.
CREATE TABLE staff_sessions (
    token_hash      TEXT PRIMARY KEY,
    staff_id        INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Failed sign-ins, per account (SHA-256 of the lower-cased email, known or not) and per client address.
CREATE TABLE sign_in_failures (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('account', 'ip')),
    key             TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (kind, key, at);

CREATE TABLE sign_in_lockouts (
    kind            TEXT NOT NULL CHECK (kind IN ('account', 'ip')),
    key             TEXT NOT NULL,
    until           INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Internal notes on a request; erased with it.
CREATE TABLE request_notes (
    id              INTEGER PRIMARY KEY,
    request_id      INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    staff_id        INTEGER REFERENCES staff (id),
    staff_email     TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX request_notes_request ON request_notes (request_id, created_at);

-- Who did what and when. Never any health detail: the reference and a short machine detail only.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    staff_id        INTEGER,                   -- NULL for the command line
    staff_email     TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('viewed', 'status_changed', 'note_added', 'exported',
                                                    'erased', 'purged', 'signed_in', 'signed_out')),
    reference       TEXT,
    detail          TEXT                       -- e.g. "new -> contacted", "3 requests"
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only: the trail cannot be rewritten, not even by the application.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be deleted');
END;

-- Operations: one row /healthz rewrites to prove the database accepts writes (no personal data).
CREATE TABLE ops_heartbeat (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL              -- unix seconds of the last successful health check
);
