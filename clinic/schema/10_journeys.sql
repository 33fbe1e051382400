-- Journeys in progress: answers live here, never in the cookie.
CREATE TABLE IF NOT EXISTS journeys (
    id          TEXT PRIMARY KEY,          -- random, 256 bits, url-safe
    answers     TEXT NOT NULL DEFAULT '{}', -- JSON: question id -> value or list of values
    seen        TEXT NOT NULL DEFAULT '[]', -- JSON: info steps the person has read
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS journeys_updated_at ON journeys (updated_at);
