"""Servers the tests start as real processes."""
import time

from scripts.loopback import LoopbackClient
from tests.conftest import EVENT_TIMEOUT_SECONDS


def wait_until_healthy(server, port):
    """Wait for the gunicorn `server` (a Popen with stderr piped) to answer /healthz on `port`; fail with its
    error output if it exits first."""
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while True:
        try:
            if LoopbackClient(port, timeout=2).fetch("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        assert server.poll() is None, server.stderr.read().decode()
        assert time.monotonic() < deadline, f"gunicorn did not answer within {EVENT_TIMEOUT_SECONDS} s"
        time.sleep(0.1)
