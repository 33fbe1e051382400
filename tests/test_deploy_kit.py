"""The deployment kit as deployed: `scripts/check-deploy.sh --live` runs gunicorn behind the kit's own nginx site on
loopback and checks it as a browser sees it, then stops gunicorn and checks nginx's logs (issue 11 L5, hardening);
without --live, the units and the timers' network drop-in for a database over TCP."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.support.tools import require_tool


def check_deploy(*arguments, live=True, tree=ROOT):
    """The report of `scripts/check-deploy.sh [--live] ARGUMENTS` (the copy in `tree`) and its exit status."""
    missing = [tool for tool in ("nginx", "openssl", "curl", "systemd-analyze") if shutil.which(tool) is None]
    if missing:
        require_tool(f"{', '.join(missing)} not installed (apt-get install nginx systemd; .ci/run installs them)")
    result = subprocess.run(["bash", "scripts/check-deploy.sh", *(["--live"] if live else []), *arguments], cwd=tree,
                            capture_output=True, text=True, timeout=180, env=dict(os.environ, PY=sys.executable))
    return result.stdout + result.stderr, result.returncode


def settings_with(tmp_path, line):
    """The kit's example settings file with `line` added."""
    settings = tmp_path / "fbss-journey.env"
    example = (ROOT / "deploy" / "fbss-journey.env.example").read_text(encoding="utf-8")
    settings.write_text(f"{example}{line}\n", encoding="utf-8")
    return settings


TIMERS = ("fbss-journey-backup.service", "fbss-journey-housekeeping.service")
DROP_IN = "deploy/fbss-journey-timers-network.conf"


def test_check_deploy_live_passes_every_check_including_logs_with_gunicorn_stopped():
    report, returncode = check_deploy()
    assert returncode == 0 and "FAILED" not in report, report
    for promise in ("security headers on nginx's own 413", "security headers on nginx's own 502 page",
                    "security headers on static files", "plain HTTP does not name nginx's version",
                    "the app's own friendly 413 page", "no journey URL, token or query in any nginx log with gunicorn stopped",
                    # issue 22: M1, L7, L4
                    "quick posts to /request from one address: nginx answers 429",
                    "no client address beside /request in nginx's logs", "nginx's log folder is 0750",
                    "the app reads the client address nginx forwards (FLASK_PROXY_FIX)"):
        passed = [line for line in report.splitlines() if line.startswith("live: ") and line.endswith(": ok")]
        assert any(promise in line for line in passed), promise


def test_check_deploy_fails_when_the_settings_leave_proxy_fix_off(tmp_path):
    """Issue 22 L4: with the kit's settings but FLASK_PROXY_FIX off, every client is 127.0.0.1 to the app."""
    settings = tmp_path / "fbss-journey.env"
    example = (ROOT / "deploy" / "fbss-journey.env.example").read_text(encoding="utf-8")
    settings.write_text(example.replace("FLASK_PROXY_FIX=1", "FLASK_PROXY_FIX=0"), encoding="utf-8")
    report, returncode = check_deploy("--env", str(settings))
    assert returncode != 0
    assert "live: the app reads the client address nginx forwards (FLASK_PROXY_FIX): FAILED" in report, report


def test_the_timers_network_drop_in_covers_every_unit_without_a_network_and_verifies_with_them(tmp_path):
    """PrivateNetwork=yes shuts the timers out of PostgreSQL over TCP: the kit ships the drop-in that opens it, and
    the check names the units it needs and the database host (never the password)."""
    settings = settings_with(tmp_path, "FLASK_DATABASE_URL=postgresql://fbss:s3cret-pw@10.0.0.30:5432/fbss")
    report, returncode = check_deploy("--env", str(settings), live=False)
    assert returncode == 0 and "FAILED" not in report, report
    for unit in TIMERS:
        assert "PrivateNetwork=yes" in (ROOT / "deploy" / unit).read_text(encoding="utf-8")
        assert f"{unit} (PrivateNetwork=yes) is named by {DROP_IN}: ok" in report
    assert "systemd-analyze verify: ok" in report and f"systemd-analyze verify with {DROP_IN}: ok" in report
    if not os.path.isdir("/run/systemd/system"):  # no systemd running here: the note for the server
        assert f"FLASK_DATABASE_URL reaches 10.0.0.30 over TCP: on the server, install {DROP_IN} for {' '.join(TIMERS)}" in report
    assert "s3cret-pw" not in report
    drop_in = (ROOT / DROP_IN).read_text(encoding="utf-8")
    assert "\n[Service]\nPrivateNetwork=no\n" in drop_in


@pytest.mark.parametrize("url", ["postgresql:///fbss?host=/var/run/postgresql", "postgresql://%2Fvar%2Frun%2Fpostgresql/fbss"])
def test_postgresql_through_its_unix_socket_needs_no_drop_in(tmp_path, url):
    report, returncode = check_deploy("--env", str(settings_with(tmp_path, f"FLASK_DATABASE_URL={url}")), live=False)
    assert returncode == 0 and "over TCP" not in report and "reach the database" not in report, report


def test_a_unit_without_a_network_that_the_drop_in_does_not_name_fails_the_check(tmp_path):
    tree = tmp_path / "kit"
    shutil.copytree(ROOT / "deploy", tree / "deploy")
    (tree / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "check-deploy.sh", tree / "scripts")
    drop_in = tree / DROP_IN
    drop_in.write_text(drop_in.read_text(encoding="utf-8").replace(" fbss-journey-housekeeping.service", ""),
                       encoding="utf-8")
    report, returncode = check_deploy(live=False, tree=tree)
    assert returncode != 0
    assert f"fbss-journey-housekeeping.service has PrivateNetwork=yes but {DROP_IN} does not name it: FAILED" in report
    assert f"fbss-journey-backup.service (PrivateNetwork=yes) is named by {DROP_IN}: ok" in report


def test_the_database_servers_vacuum_timer_is_verified_and_needs_no_network_drop_in(tmp_path):
    """deploy/fbss-db-vacuum.service runs on the database server through the local socket: it passes the kit's
    systemd-analyze verify, needs no network (so the app hosts' drop-in does not name it), and the check would see
    it broken (systemd-analyze checks the first ExecStart= line's program)."""
    unit = (ROOT / "deploy" / "fbss-db-vacuum.service").read_text(encoding="utf-8")
    assert "PrivateNetwork=yes" not in unit and "RestrictAddressFamilies=AF_UNIX\n" in unit
    assert "fbss-db-vacuum" not in (ROOT / DROP_IN).read_text(encoding="utf-8")
    report, returncode = check_deploy(live=False)
    assert returncode == 0 and "systemd-analyze verify: ok" in report, report

    tree = tmp_path / "kit"
    shutil.copytree(ROOT / "deploy", tree / "deploy")
    (tree / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "check-deploy.sh", tree / "scripts")
    (tree / ".venv").symlink_to(ROOT / ".venv")  # the app hosts' units name its flask and gunicorn
    broken = tree / "deploy" / "fbss-db-vacuum.service"
    broken.write_text(unit.replace("/usr/bin/vacuumdb --full", "/usr/bin/no-such-vacuumdb --full"), encoding="utf-8")
    report, returncode = check_deploy(live=False, tree=tree)
    assert returncode != 0 and "systemd-analyze verify: FAILED" in report, report
    assert [line for line in report.splitlines() if "not executable" in line] == [
        "fbss-db-vacuum.service: Command /usr/bin/no-such-vacuumdb is not executable: No such file or directory"] * 2


def fbss_flask(settings, *arguments, database_url=None):
    """`deploy/fbss-flask ARGUMENTS` itself, with `settings` for /etc/fbss-journey.env and this checkout for
    /srv/fbss-journey, as root (this machine has no user fbss); FLASK_DATABASE_URL set before it when given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env.update(FBSS_ENV_FILE=str(settings), FBSS_HOME=str(ROOT), FBSS_USER="root")
    if database_url is not None:
        env["FLASK_DATABASE_URL"] = database_url
    result = subprocess.run(["sh", str(ROOT / "deploy" / "fbss-flask"), *arguments], capture_output=True, text=True,
                            timeout=120, env=env)
    return result.stdout + result.stderr


def test_fbss_flask_keeps_a_database_url_set_before_it_over_the_settings_files(tmp_path, postgres, migrated_pg):
    """The settings file holds the site role's URL; `FLASK_DATABASE_URL=OWNER_URL fbss-flask db upgrade` (README,
    docs/deploy.md) must run on the owner's URL, not be overwritten by the file's."""
    if os.getuid() != 0:
        require_tool("fbss-flask switches to its service user with runuser, which needs root (CI runs as root)")
    from tests.support.pg_pages import database_name
    site_url = postgres.new_database()  # empty: db status says so
    try:
        settings = tmp_path / "fbss-journey.env"
        settings.write_text(f"FLASK_DATABASE_URL={site_url}\n", encoding="utf-8")
        from_file = fbss_flask(settings, "db", "status")
        assert database_name(site_url) in from_file and "empty" in from_file, from_file
        from_caller = fbss_flask(settings, "db", "status", database_url=migrated_pg)
        assert database_name(migrated_pg) in from_caller and database_name(site_url) not in from_caller, from_caller
        assert "empty" not in from_caller, from_caller
    finally:
        postgres.drop_database(site_url)
