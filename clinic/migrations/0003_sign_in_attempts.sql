-- Sign-in throttling per (account, address), per address, and account-wide (issue 11 L1, L2).
-- One row per attempt, written as 'pending' in the same write transaction that counted the earlier ones and
-- before the password is checked, so any number of concurrent guesses sees every other one: no limit can be
-- passed. A wrong password turns its row 'failed'; the right one deletes it. Rows go once older than an hour.
CREATE TABLE sign_in_attempts (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,              -- SHA-256 of the lower-cased email, known or not
    address     TEXT NOT NULL,              -- the client address
    at          INTEGER NOT NULL,           -- unix seconds
    outcome     TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'failed'))
);
CREATE INDEX sign_in_attempts_account ON sign_in_attempts (account, at);
CREATE INDEX sign_in_attempts_address ON sign_in_attempts (address, at);

-- Addresses a staff member signed in from in the last 30 days: the account-wide slowdown does not apply
-- there, so guesses from elsewhere cannot keep the real person out.
CREATE TABLE staff_known_addresses (
    staff_id    INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (staff_id, address)
);

-- The old per-account lock-out (any 5 failures locked everyone out) goes with its two tables; their rows were
-- at most 15 minutes of failed attempts.
DROP TABLE sign_in_failures;
DROP TABLE sign_in_lockouts;
