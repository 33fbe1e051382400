-- Operations: one row /healthz rewrites to prove the database accepts writes (no personal data).
CREATE TABLE IF NOT EXISTS ops_heartbeat (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL              -- unix seconds of the last successful health check
);
