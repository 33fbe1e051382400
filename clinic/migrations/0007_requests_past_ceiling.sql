-- Requests stored past FLASK_REQUEST_HOURLY_CEILING (issue 22 M1), that is while more than that many had arrived
-- from everyone together in the last hour: kept like any other, marked "For review" for staff, and without an email
-- each (and no patient receipt): staff get one digest email an hour instead, an outbox row of kind `staff_digest`
-- with no request of its own. Requests saved before this migration were not past any ceiling (0).
ALTER TABLE requests ADD COLUMN past_ceiling INTEGER NOT NULL DEFAULT 0 CHECK (past_ceiling IN (0, 1));
-- The ceiling counts the last hour's requests in the transaction that stores one
CREATE INDEX requests_created_at ON requests (created_at);
