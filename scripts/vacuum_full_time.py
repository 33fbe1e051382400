#!/usr/bin/env python3
"""How long the database server's nightly VACUUM FULL (deploy/fbss-db-vacuum.service) holds each patient table.

Usage: .venv/bin/python scripts/vacuum_full_time.py [--requests 30000]

On a throwaway PostgreSQL cluster of its own (tests/support/postgres.py, durable: fsync and synchronous commit
on, as a real server), it fills a database with `--requests` requests at their largest (scripts/bench_export.py's
fill: a 2,000-character description and 12 answers each, a note on every third), two outbox rows per request and
one journey in progress per ten requests, deletes one request in a hundred with its rows (as erasures and the
purge do), then runs the unit's own ExecStart lines (parsed from the file, as the postgres OS user through the
socket) and prints how long they took, then each table's VACUUM FULL alone: that is how long the site's
statements on that table wait (up to their 5 s lock_timeout, then "busy, try again"). Nothing is kept.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.db import connect, dispose  # noqa: E402
from scripts.bench_export import fill  # noqa: E402
from tests.support.postgres import PostgresCluster, missing_reason  # noqa: E402
from tests.support.systemd_unit import service  # noqa: E402

UNIT = ROOT / "deploy" / "fbss-db-vacuum.service"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30_000)
    args = parser.parse_args()
    reason = missing_reason()
    if reason:
        sys.exit(reason)
    cluster = PostgresCluster(durable=True).start()
    try:
        url = cluster.new_database()
        name = url.rsplit("/", 1)[1]
        fill(url, args.requests, "nurse@bench.test", "a long enough bench password",
             {"time_cost": 1, "memory_cost": 8192, "parallelism": 1})
        cluster.psql("INSERT INTO outbox (request_id, kind, status, next_attempt_at, created_at, sent_at)"
                     " SELECT id, kind, 'sent', created_at, created_at, created_at FROM requests,"
                     " (VALUES ('staff_notification'), ('patient_receipt')) AS k(kind);"
                     "INSERT INTO journeys (id, answers, created_at, updated_at) SELECT 'j' || n,"
                     " '{\"pain\": \"' || repeat('leg pain since the fusion ', 40) || '\"}', 1, 1"
                     f" FROM generate_series(1, {args.requests // 10}) AS n", database=name)
        # Words a patient types do not repeat as the fill's description does (which compresses to almost nothing):
        # 1,500 characters that compress about as little as prose, then one VACUUM FULL so only the deletes below
        # are left to clean.
        cluster.psql("UPDATE requests SET description = (SELECT string_agg(md5(random()::text || n), ' ')"
                     " FROM generate_series(1, 45 + 0 * id) AS n)", database=name)
        cluster.psql("VACUUM FULL requests", database=name)
        cluster.psql("DELETE FROM request_notes WHERE request_id % 100 = 0; DELETE FROM outbox WHERE request_id % 100 = 0;"
                     "DELETE FROM requests WHERE id % 100 = 0; DELETE FROM journeys WHERE id LIKE '%0'", database=name)
        sizes = cluster.psql("SELECT string_agg(relname || ' ' || pg_size_pretty(pg_total_relation_size(oid)), ', ')"
                             " FROM pg_class WHERE relname IN ('requests', 'request_notes', 'outbox', 'request_files',"
                             " 'journeys')", database=name)
        commands, environment = service(UNIT)
        env = {**os.environ, **environment, "PGHOST": str(cluster.socket_dir), "PGPORT": str(cluster.port),
               "PGDATABASE": name}
        env.pop("PGUSER", None)
        started = time.monotonic()
        for argv in commands:
            subprocess.run([*cluster._as_user, *argv], env=env, check=True, capture_output=True)
        unit_seconds = time.monotonic() - started
        print(f"{args.requests} requests ({sizes}); PostgreSQL {cluster.psql('SHOW server_version')}")
        print(f"the unit's lines ({' && '.join(argv[0].rsplit('/', 1)[1] + ' ' + argv[1] for argv in commands)}):"
              f" {unit_seconds:.2f} s")
        conn = connect(url)  # autocommit: VACUUM runs outside a transaction
        try:
            for table in ("requests", "request_notes", "outbox", "request_files", "journeys"):
                started = time.monotonic()
                conn.exec_driver_sql(f"VACUUM FULL {table}")
                print(f"  VACUUM FULL {table} again, alone: {time.monotonic() - started:.2f} s")
        finally:
            conn.close()
            dispose(url)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
