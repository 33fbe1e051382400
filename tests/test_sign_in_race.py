"""Concurrent guesses through gunicorn (issue 11 L2): however many workers and threads take them at once,
no more passwords are checked than the limit allows. On SQLite BEGIN IMMEDIATE lets one attempt be counted at a
time; on PostgreSQL the account's and the address's advisory locks do (issue 21; tests/test_races.py forces the
worst order and shows the limit passed without them)."""
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scripts.loopback import LoopbackClient, free_port
from tests.conftest import ROOT, TEST_SECRET, content_dir
from tests.support.servers import wait_until_healthy
from tests.support.staff import EMAIL, create_staff

# Cheap enough for 60 checks on a shared machine, slow enough (some ms) that checks overlap.
ARGON2 = {"time_cost": 2, "memory_cost": 8192, "parallelism": 1}
ATTEMPTS = 60
LIMIT = 5  # STAFF_SIGNIN_MAX_FAILURES: failures per (account, address)

COUNTING_CONFIG = '''
exec(open({conf!r}, encoding="utf-8").read())


def post_fork(server, worker):
    # Every password check in this worker appends one line to the count file.
    import os

    import argon2

    original = argon2.PasswordHasher.verify

    def counted(self, hash, password):
        fd = os.open({count!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"check\\n")
        finally:
            os.close(fd)
        return original(self, hash, password)

    argon2.PasswordHasher.verify = counted
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def gunicorn(request, make_app, tmp_path):
    """gunicorn (3 workers x 8 threads) on a database with one staff account; yields (port, count file)."""
    database_url = request.getfixturevalue("migrated_pg") if request.param == "postgresql" else None
    on_postgres = {"DATABASE_URL": database_url} if database_url else {}
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=ARGON2, **on_postgres)
    create_staff(app)
    count_file = tmp_path / "password-checks"
    config = tmp_path / "gunicorn-counting.conf.py"
    config.write_text(COUNTING_CONFIG.format(conf=str(ROOT / "gunicorn.conf.py"), count=str(count_file)))
    port = free_port()
    env = dict(os.environ, FLASK_SECRET_KEY=TEST_SECRET, FLASK_DATABASE=app.config["DATABASE"],
               FLASK_CONTENT_DIR=str(content_dir()), FLASK_MAIL_DIR=str(tmp_path / "mail"),
               FLASK_STAFF_ARGON2=json.dumps(ARGON2), FLASK_OUTBOX_AUTOSEND="false", GUNICORN_BIND=f"127.0.0.1:{port}")
    if database_url:
        env["FLASK_DATABASE_URL"] = database_url
    env.pop("FLASK_DEBUG", None)
    env.pop("FLASK_PRODUCTION", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(config), "--no-control-socket",
                               "--workers", "3", "--threads", "8"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_healthy(server, port)
        yield port, count_file
    finally:
        server.terminate()
        server.communicate(timeout=20)


def test_sixty_concurrent_guesses_for_one_account_check_no_more_passwords_than_the_limit(gunicorn):
    port, count_file = gunicorn
    browser = LoopbackClient(port)
    page = browser.fetch("GET", "/staff/sign-in")[2]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    start = threading.Barrier(ATTEMPTS)
    statuses = []

    def guess(number):
        client = LoopbackClient(port, timeout=60)
        client.cookies = dict(browser.cookies)
        start.wait()
        status = client.fetch("POST", "/staff/sign-in", {"csrf_token": token, "email": EMAIL,
                                                         "password": f"guess number {number}"})[0]
        statuses.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    checks = len(Path(count_file).read_text().splitlines()) if Path(count_file).exists() else 0
    assert len(statuses) == ATTEMPTS
    assert checks == LIMIT, f"{checks} passwords checked for {ATTEMPTS} concurrent guesses (limit {LIMIT})"
    assert sorted(statuses) == [200] * LIMIT + [429] * (ATTEMPTS - LIMIT)
