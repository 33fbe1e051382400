"""The deployment kit as deployed: `scripts/check-deploy.sh --live` runs gunicorn behind the kit's own nginx site on
loopback and checks it as a browser sees it, then stops gunicorn and checks nginx's logs (issue 11 L5, hardening)."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def check_deploy(*arguments):
    """The report of `scripts/check-deploy.sh --live ARGUMENTS` and its exit status."""
    missing = [tool for tool in ("nginx", "openssl", "curl") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} not installed; .ci/run installs them")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install nginx)")
    result = subprocess.run(["bash", "scripts/check-deploy.sh", "--live", *arguments], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, env=dict(os.environ, PY=sys.executable))
    return result.stdout + result.stderr, result.returncode


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
