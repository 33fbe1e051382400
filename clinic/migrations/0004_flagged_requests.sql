-- Flagged requests (issue 13, clinic/triage.py): worked out once, when a request is saved, and kept with it.
-- Requests saved before this migration stay unflagged (flagged = 0): the flag is never guessed afterwards.
ALTER TABLE requests ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1));
-- JSON list of {"label", "tier"}: the warning signs in the journey answers the patient chose to send, or NULL
ALTER TABLE requests ADD COLUMN warning_signs TEXT;
-- JSON list of the phrases from content/triage.yaml that the description contains, in its order, or NULL
ALTER TABLE requests ADD COLUMN flag_words TEXT;
-- The staff list: flagged first, then newest first, within one status tab
CREATE INDEX requests_status_flagged ON requests (status, flagged, created_at);
