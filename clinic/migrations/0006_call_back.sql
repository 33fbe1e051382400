-- Call-back details (issue 23 A): when and how the clinic may call, and which consent text the patient agreed to.
-- Requests saved before this migration have none of them (NULL): nothing is guessed afterwards.
-- Each consent text once, under its fingerprint, so staff read the exact words a patient agreed to
CREATE TABLE consent_texts (
    version    TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    first_used INTEGER NOT NULL
);
-- JSON list of call-time ids (clinic/callback.py CALL_TIMES), or NULL when none was ticked
ALTER TABLE requests ADD COLUMN call_times TEXT;
-- Asked only with phone contact
ALTER TABLE requests ADD COLUMN voicemail TEXT CHECK (voicemail IN ('yes', 'no'));
-- A BCP 47 tag (en, es) or 'other' with the patient's words in language_other
ALTER TABLE requests ADD COLUMN language TEXT CHECK (language IN ('en', 'es', 'other'));
ALTER TABLE requests ADD COLUMN language_other TEXT;
ALTER TABLE requests ADD COLUMN interpreter INTEGER NOT NULL DEFAULT 0 CHECK (interpreter IN (0, 1));
-- The fingerprint of the consent text shown (clinic/callback.py consent_version) and when it was agreed to
ALTER TABLE requests ADD COLUMN consent_version TEXT REFERENCES consent_texts (version);
ALTER TABLE requests ADD COLUMN consent_at INTEGER;
