-- Second-opinion requests and the outbox of notifications about them.
CREATE TABLE IF NOT EXISTS requests (
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
CREATE INDEX IF NOT EXISTS requests_status_created ON requests (status, created_at);

CREATE TABLE IF NOT EXISTS outbox (
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
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status, next_attempt_at);
