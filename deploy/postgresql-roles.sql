-- Two PostgreSQL roles for the site (README "PostgreSQL roles", docs/deploy.md "The database server"):
--
--   fbss      the owner: owns the database and every table; `db upgrade` and `db restore` run as it.
--   fbss_app  the site: gunicorn, the timers and `fbss-flask` commands other than those two. `db backup` works
--             as either (the nightly one, the backup timer's, runs as fbss_app). It reads and
--             writes every table but may only read and add to the audit trail (no UPDATE, DELETE or TRUNCATE on
--             audit_log) and may only read the schema version. Even the owner cannot change an audit row
--             without first dropping the append-only triggers (clinic/migrations/postgresql/0010_baseline.sql).
--
-- Make both roles first (createuser --pwprompt fbss; createuser --pwprompt fbss_app; createdb --owner fbss fbss),
-- run `fbss-flask db upgrade` as fbss (on one app host), then this file as the superuser in the site's database,
-- on the database server (install -D -m 0644 deploy/postgresql-roles.sql /usr/local/share/fbss-journey/):
--     runuser -u postgres -- psql -v ON_ERROR_STOP=1 -d fbss -f /usr/local/share/fbss-journey/postgresql-roles.sql
-- It only grants and revokes, so it is safe to run again, and it must run again after a `db upgrade` that adds a
-- table (the default privileges below cover tables fbss makes, but not the audit trail's revokes).
-- Other role names: edit the two names here and in ALTER DEFAULT PRIVILEGES.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fbss') OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fbss_app') THEN
        RAISE EXCEPTION 'make the roles first: createuser --pwprompt fbss; createuser --pwprompt fbss_app';
    END IF;
    IF to_regclass('schema_version') IS NULL THEN
        RAISE EXCEPTION 'run `fbss-flask db upgrade` (as fbss) first: there is no schema here yet';
    END IF;
    -- The site's role owns nothing, so it can change no table's shape and drop no trigger.
    IF EXISTS (SELECT FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
               WHERE c.relnamespace = current_schema()::regnamespace AND r.rolname = 'fbss_app') THEN
        RAISE EXCEPTION 'fbss_app owns a table here: the site''s role must own nothing (ALTER TABLE ... OWNER TO fbss)';
    END IF;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO fbss_app', current_database());
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO fbss_app;

-- Every table: read and write. Sequences (the identity ids): take the next id, and read (pg_dump as this role).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fbss_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO fbss_app;
-- Tables a later `db upgrade` makes (as fbss) get the same.
ALTER DEFAULT PRIVILEGES FOR ROLE fbss IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO fbss_app;
ALTER DEFAULT PRIVILEGES FOR ROLE fbss IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO fbss_app;

-- The audit trail: read and append only. The schema version: the migrator's, read only.
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM fbss_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON schema_version FROM fbss_app;

-- A transaction the site leaves open (a host that lost power closes nothing) ends within a minute, so its row locks
-- cannot stall the other host; the same value docs/deploy.md gives the owner. The staff CSV export's read-only
-- snapshot turns it off for its own transaction (SET LOCAL, clinic/inbox.py), so a slow download is not cut.
ALTER ROLE fbss_app SET idle_in_transaction_session_timeout = '60s';

-- PostgreSQL 17 and later: the site may VACUUM the tables an erasure deletes from, right after it commits
-- (README "Erasure on PostgreSQL"). Before 17 only the owner may; autovacuum and the owner's vacuumdb do it.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 170000 THEN
        EXECUTE 'GRANT MAINTAIN ON requests, request_notes, outbox, request_files TO fbss_app';
    END IF;
END
$$;
