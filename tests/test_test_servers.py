"""The throwaway servers the database and limit tests run on (tests/support/postgres.py, redis_server.py): they
are real, each test gets its own database, and stopping them leaves nothing running."""
import os
import subprocess

from tests.support.redis_server import RedisServer, command


def test_each_test_gets_its_own_postgres_database_copied_from_a_template(postgres):
    def build(url):
        postgres.psql("CREATE TABLE marker (id integer PRIMARY KEY); INSERT INTO marker VALUES (1)",
                      database=url.rsplit("/", 1)[1])

    template = postgres.template("marker", build)
    assert postgres.template("marker", build) == template  # built once
    first, second = (postgres.new_database(template=template).rsplit("/", 1)[1] for _ in range(2))
    assert first != second
    postgres.psql("INSERT INTO marker VALUES (2)", database=first)
    assert postgres.psql("SELECT count(*) FROM marker", database=first) == "2"
    assert postgres.psql("SELECT count(*) FROM marker", database=second) == "1"
    assert postgres.psql("SHOW server_version_num").startswith("1")
    empty = postgres.new_database().rsplit("/", 1)[1]
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database=empty) == "0"


def test_the_cluster_listens_on_loopback_only_and_its_files_are_in_a_temp_folder(postgres):
    assert postgres.psql("SHOW listen_addresses") == "127.0.0.1"
    assert str(postgres.data).startswith("/tmp/") or os.environ.get("TMPDIR")
    assert postgres.url().startswith(f"postgresql://{postgres.user}@127.0.0.1:{postgres.port}/")


def test_redis_url_is_emptied_for_each_test(redis_server, redis_url):
    assert command(redis_server.port, "SET", "leftover", "1") == b"+OK"
    redis_server.flush()
    assert command(redis_server.port, "DBSIZE") == b":0"
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"


def test_a_stopped_redis_comes_back_on_the_same_port():
    with RedisServer() as server:
        port, pid = server.port, server.process.pid
        server.stop()
        assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
        server.start()
        assert server.port == port and command(port, "PING") == b"+PONG"
    assert server.process is None and not server.root.exists()


def test_a_missing_server_fails_in_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    import pytest

    from tests.support import postgres as pg

    monkeypatch.setenv("PG_BINDIR", str(tmp_path))  # a folder without initdb
    reason = pg.missing_reason()
    assert "initdb" in reason
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pg.require_tool(reason)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        pg.require_tool(reason)
