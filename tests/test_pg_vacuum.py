"""The database server's nightly timer (deploy/fbss-db-vacuum.service): its own command lines, parsed from the unit
and run on the session's throwaway cluster as the postgres OS user through the Unix socket (what the unit does),
leave no byte of an erased request in any page of the table, where the site's plain VACUUM after the erasure left
them in the page's free space; and a patient who sends a request while its VACUUM FULL holds the table waits or
is told "not sent yet" with everything typed kept, never loses it; behind a long transaction the unit gives up
after its own lock_timeout, so the site never queues behind it."""
import os
import subprocess
import threading
import time

import pytest

from clinic import inbox
from clinic.db import connect
from tests.conftest import ROOT, content_dir
from tests.helpers import form_fields, submit_request
from tests.support import staff as staff_support
from tests.support.pg_pages import database_name, row_versions_holding
from tests.support.storage import stored as rows
from tests.support.systemd_unit import service

UNIT = ROOT / "deploy" / "fbss-db-vacuum.service"
TIMER = ROOT / "deploy" / "fbss-db-vacuum.timer"
FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"


def run_unit(postgres, name, commands=None, extra_options=""):
    """The unit's ExecStart lines in order, with its Environment=, as the postgres OS user; the cluster's socket,
    port and database name as /etc/fbss-db-vacuum.env would set them. Stops at the first that fails, as systemd."""
    unit_commands, environment = service(UNIT)
    environment = {**os.environ, **environment, "PGHOST": str(postgres.socket_dir), "PGPORT": str(postgres.port),
                   "PGDATABASE": name}
    environment["PGOPTIONS"] = f"{environment.get('PGOPTIONS', '')} {extra_options}".strip()
    environment.pop("PGUSER", None)  # peer authentication: the OS user's name
    for argv in commands or unit_commands:
        result = subprocess.run([*postgres._as_user, *argv], env=environment, capture_output=True, text=True,
                                timeout=120)
        if result.returncode:
            return result
    return result


def raw_pages_holding(postgres, name, table, needle):
    """How many of `table`'s pages hold `needle` anywhere in their raw 8 kB, free space included (pageinspect)."""
    return int(postgres.psql(
        f"SELECT count(*) FROM generate_series(0, pg_relation_size('{table}') / current_setting('block_size')::int - 1)"
        f" AS block WHERE position(convert_to('{needle}', 'UTF8') IN get_raw_page('{table}', block::int)) > 0",
        database=name))


def test_the_unit_runs_vacuum_full_on_every_table_erasure_purge_and_housekeeping_delete_from():
    commands, environment = service(UNIT)
    full = [argv for argv in commands if "--full" in argv]
    assert len(full) == 1 and full[0][0] == "/usr/bin/vacuumdb"
    tables = [full[0][i + 1] for i, word in enumerate(full[0]) if word == "--table"]
    assert set(tables) == {*inbox.ERASED_TABLES, "journeys"}  # one VACUUM per table: one short lock at a time
    assert commands[-1] == ["/usr/bin/vacuumdb", "--analyze"]
    assert "lock_timeout=" in environment["PGOPTIONS"]
    unit = UNIT.read_text(encoding="utf-8")
    assert "\nUser=postgres\n" in unit and "RestrictAddressFamilies=AF_UNIX" in unit  # the socket, no password
    assert "OnCalendar=*-*-* 04:30:00" in TIMER.read_text(encoding="utf-8")  # after the 03:15 backup


def test_the_nightly_unit_leaves_no_byte_of_an_erased_request_or_expired_journey_in_the_pages(postgres, migrated_pg,
                                                                                               make_app):
    name = database_name(migrated_pg)
    postgres.psql("CREATE EXTENSION pageinspect", database=name)
    app = make_app(DATABASE_URL=migrated_pg, CONTENT_DIR=str(FIXTURE_CONTENT), OUTBOX_AUTOSEND=False)
    kept = staff_support.add_request(app, description="Kept request CANARY-KEPT-2208")
    erased = staff_support.add_request(app, description="Erased by staff CANARY-ERASED-7731 " + "x" * 400)
    postgres.psql("INSERT INTO journeys (id, answers, created_at, updated_at) VALUES "
                  "('j-kept', '{\"pain\": \"CANARY-JOURNEY-KEPT\"}', 1, 1), "
                  "('j-old', '{\"pain\": \"CANARY-JOURNEY-GONE-5150\"}', 1, 1)", database=name)
    conn = connect(migrated_pg)
    try:
        assert inbox.erase(conn, None, erased, time.time())  # as the superuser: the site's own plain VACUUM runs
    finally:
        conn.close()
    postgres.psql("DELETE FROM journeys WHERE id = 'j-old'", database=name)  # as housekeeping removes one expired
    postgres.psql("VACUUM journeys", database=name)  # and autovacuum comes by

    # After the site's plain VACUUM no row version holds the request, but its bytes are still in the page.
    assert row_versions_holding(postgres, migrated_pg, "CANARY-ERASED-7731") == 0
    assert raw_pages_holding(postgres, name, "requests", "CANARY-ERASED-7731") >= 1
    assert raw_pages_holding(postgres, name, "journeys", "CANARY-JOURNEY-GONE-5150") >= 1
    assert raw_pages_holding(postgres, name, "requests_reference_key", erased) >= 1  # the index's old entry too
    # So the unit's command without --full would not do: the same lines as plain VACUUM leave them too.
    plain = [[word for word in argv if word != "--full"] for argv in service(UNIT)[0]]
    assert run_unit(postgres, name, commands=plain).returncode == 0
    assert raw_pages_holding(postgres, name, "requests", "CANARY-ERASED-7731") >= 1

    result = run_unit(postgres, name)
    assert result.returncode == 0, result.stderr
    assert raw_pages_holding(postgres, name, "requests", "CANARY-ERASED-7731") == 0
    assert raw_pages_holding(postgres, name, "journeys", "CANARY-JOURNEY-GONE-5150") == 0
    assert raw_pages_holding(postgres, name, "requests_reference_key", erased) == 0
    assert raw_pages_holding(postgres, name, "requests_reference_key", kept) == 1
    assert raw_pages_holding(postgres, name, "requests", "CANARY-KEPT-2208") == 1  # the rest is all there
    assert raw_pages_holding(postgres, name, "journeys", "CANARY-JOURNEY-KEPT") == 1
    assert [r["reference"] for r in rows(app, "SELECT reference FROM requests")] == [kept]
    assert postgres.psql("SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum IS NULL AND last_autovacuum"
                         " IS NULL", database=name) == "0"  # the second line vacuumed every table


# An index whose expression sleeps in the session that builds it (the unit's VACUUM FULL, given the setting), so
# the VACUUM FULL holds the table's exclusive lock for as long as the test needs: the site's own inserts into the
# index do not sleep.
SLOW_INDEX = """
CREATE FUNCTION vacuum_test_slow(value bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS
  $$ SELECT value + 0 * length(pg_catalog.pg_sleep(coalesce(nullif(pg_catalog.current_setting('fbss_test.sleep', true),
     ''), '0')::float8)::text) $$;
CREATE INDEX requests_vacuum_test_slow ON requests (vacuum_test_slow(id));
"""


def vacuum_holding_the_lock(postgres, name, seconds):
    """Start the unit's VACUUM FULL line with a VACUUM FULL of requests that lasts about `seconds` (the slow index
    rebuilt for the one row); return once it holds
    the table's AccessExclusiveLock, with the thread and its result."""
    outcome = {}
    full = [argv for argv in service(UNIT)[0] if "--full" in argv]  # its ANALYZE line would sleep too, unlocked
    thread = threading.Thread(target=lambda: outcome.update(
        result=run_unit(postgres, name, commands=full, extra_options=f"-c fbss_test.sleep={seconds}")))
    thread.start()
    for _ in range(200):
        if postgres.psql("SELECT count(*) FROM pg_locks WHERE relation = 'requests'::regclass AND granted"
                         " AND mode = 'AccessExclusiveLock'", database=name) == "1":
            return thread, outcome
        time.sleep(0.05)
    thread.join()
    pytest.fail(f"the unit's VACUUM FULL never held the lock: {outcome}")


@pytest.fixture
def request_site(postgres, migrated_pg, make_app):
    name = database_name(migrated_pg)
    app = make_app(DATABASE_URL=migrated_pg, CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute",
                   OUTBOX_AUTOSEND=False)
    staff_support.add_request(app)  # one row for the slow index to rebuild
    # A site that has been serving: its first request's schema check (which reads the catalog of every table,
    # and would wait for the lock like anything else) is behind it.
    assert app.test_client().get("/request").status_code == 200
    postgres.psql(SLOW_INDEX, database=name)  # after that check, which would refuse an index it does not know
    return name, app


PATIENT_TYPED = {"name": "Pat Waiting", "email": "pat.waiting@example.com", "contact_by": "email",
                 "description": "Typed while the table was being rewritten CANARY-TYPED-6402"}


def test_a_request_sent_while_vacuum_full_holds_the_table_is_not_sent_yet_with_what_was_typed_then_sent(
        postgres, request_site):
    name, app = request_site
    client = app.test_client()
    thread, outcome = vacuum_holding_the_lock(postgres, name, 10)
    try:
        started = time.monotonic()
        response = submit_request(client, **PATIENT_TYPED)
        waited = time.monotonic() - started
    finally:
        thread.join()
    assert outcome["result"].returncode == 0, outcome["result"].stderr
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and "Your request has not been sent yet" in html
    assert 4.5 < waited < 9.5  # the site's lock_timeout (5 s), not the whole VACUUM FULL
    assert f'value="{PATIENT_TYPED["name"]}"' in html and f'value="{PATIENT_TYPED["email"]}"' in html
    assert PATIENT_TYPED["description"] in html
    assert rows(app, "SELECT id FROM requests WHERE description LIKE '%CANARY-TYPED-6402%'") == []

    # Sent again once the VACUUM FULL is done: stored once, under the same submission.
    retry = client.post("/request", data={**PATIENT_TYPED, "consent": "y", **form_fields(html)})
    assert retry.status_code == 303
    assert len(rows(app, "SELECT id FROM requests WHERE description LIKE '%CANARY-TYPED-6402%'")) == 1


def test_a_request_sent_during_a_short_vacuum_full_waits_for_it_and_is_stored(postgres, request_site):
    name, app = request_site
    client = app.test_client()
    thread, outcome = vacuum_holding_the_lock(postgres, name, 1)
    try:
        response = submit_request(client, **PATIENT_TYPED)
        lock_after = postgres.psql("SELECT count(*) FROM pg_locks WHERE relation = 'requests'::regclass"
                                   " AND mode = 'AccessExclusiveLock'", database=name)
    finally:
        thread.join()
    assert outcome["result"].returncode == 0, outcome["result"].stderr
    assert response.status_code == 303, response.get_data(as_text=True)
    assert lock_after == "0"  # it was stored once the VACUUM FULL let go of the table, not beside it
    assert len(rows(app, "SELECT id FROM requests WHERE description LIKE '%CANARY-TYPED-6402%'")) == 1


def test_behind_a_long_transaction_the_unit_gives_up_after_its_lock_timeout_so_the_site_never_queues_behind_it(
        postgres, request_site):
    """A pg_dump (here: a transaction that has read the table) holds requests: VACUUM FULL would wait for it, and every
    statement of the site on the table would queue behind the VACUUM. The unit's own lock_timeout ends its wait first,
    so a patient's request sent meanwhile is stored, and the unit fails, for systemd to try again later."""
    name, app = request_site
    outcome = {}
    full = [argv for argv in service(UNIT)[0] if "--full" in argv]
    thread = threading.Thread(target=lambda: outcome.update(result=run_unit(postgres, name, commands=full)))
    dump = connect(app.config["DATABASE_URL"])
    try:
        dump.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
        dump.exec_driver_sql("SELECT count(*) FROM requests")  # holds AccessShareLock until it ends, as pg_dump does
        started = time.monotonic()
        thread.start()
        for _ in range(200):  # the VACUUM FULL waiting for the table
            if postgres.psql("SELECT count(*) FROM pg_locks WHERE relation = 'requests'::regclass AND NOT granted",
                             database=name) == "1":
                break
            time.sleep(0.02)
        response = submit_request(app.test_client(), **PATIENT_TYPED)
        thread.join(timeout=10)  # without its lock_timeout it would wait for the "dump" to end
        gave_up = time.monotonic() - started
    finally:
        dump.exec_driver_sql("ROLLBACK")
        dump.close()
        if thread.ident is not None:
            thread.join()
    assert response.status_code == 303, response.get_data(as_text=True)
    assert len(rows(app, "SELECT id FROM requests WHERE description LIKE '%CANARY-TYPED-6402%'")) == 1
    result = outcome["result"]
    assert result.returncode != 0 and "lock timeout" in result.stderr, result.stderr
    assert 2.5 < gave_up < 8  # the unit's 3 s (the 303 above: the site waited under its own 5 s)
    unit = UNIT.read_text(encoding="utf-8")
    assert "\nRestart=on-failure\n" in unit and "\nRestartSec=15min\n" in unit
