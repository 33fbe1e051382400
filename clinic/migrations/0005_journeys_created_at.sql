-- New journeys are counted over the last hour against FLASK_JOURNEY_HOURLY_CEILING at each first answer
-- (issue 11 M2): an index keeps that count cheap however many journeys are in progress.
CREATE INDEX journeys_created_at ON journeys (created_at);
