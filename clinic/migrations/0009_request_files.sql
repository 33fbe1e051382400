-- Reports a patient attached to a request (issue 23 B, FLASK_UPLOADS): the files live under instance/uploads/
-- (0700) with random names (0600); these rows say which request each belongs to. Erasing or purging a request
-- deletes its rows here and then its files (clinic/inbox.py).
CREATE TABLE request_files (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position BETWEEN 1 AND 3),
    stored_name TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('pdf', 'jpeg', 'png')),
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (request_id, position)
);
