-- The journey report (issue 12, /staff/insights): counts per ISO week, nothing that could identify a person.
-- No journey id, no address, no answer combination, no time finer than the week; WITHOUT ROWID, so not even
-- the order in which rows were made is kept. tests/test_insights.py reads these definitions.
CREATE TABLE insight_steps (
    week        TEXT NOT NULL CHECK (week GLOB '[0-9][0-9][0-9][0-9]-W[0-5][0-9]'),
    step        TEXT NOT NULL,
    reached     INTEGER NOT NULL DEFAULT 0 CHECK (reached >= 0),
    moved_on    INTEGER NOT NULL DEFAULT 0 CHECK (moved_on >= 0),
    PRIMARY KEY (week, step)
) WITHOUT ROWID;

CREATE TABLE insight_events (
    week        TEXT NOT NULL CHECK (week GLOB '[0-9][0-9][0-9][0-9]-W[0-5][0-9]'),
    event       TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (week, event)
) WITHOUT ROWID;

CREATE TABLE insight_answers (
    week        TEXT NOT NULL CHECK (week GLOB '[0-9][0-9][0-9][0-9]-W[0-5][0-9]'),
    question    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (week, question, answer)
) WITHOUT ROWID;

-- Which report milestones a journey has already counted (JSON list), so a reload or a changed answer never
-- counts twice. It lives and dies with the journey's own row.
ALTER TABLE journeys ADD COLUMN counted TEXT NOT NULL DEFAULT '[]';
