"""A real redis-server for tests: a free loopback port, its own temporary folder, nothing saved to disk
(`--save '' --appendonly no`), stopped at the end even when tests fail.

Fixtures (registered in tests/conftest.py):
  - `redis_server` (session): one RedisServer for the session (one per xdist worker process);
  - `redis_url` (per test): that server's URL with its keys flushed first, so no count leaks between tests.
A test that stops Redis on purpose makes its own `RedisServer()` and stops and starts it, leaving the shared one alone.

Readiness and FLUSHALL speak RESP over a socket, so nothing here needs the `redis` Python package.
"""
import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.postgres import free_port
from tests.support.tools import require_tool

START_TIMEOUT_SECONDS = 30


def redis_binary():
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def command(port, *words, timeout=2):
    """Send one command to the server on `port`; returns the first line of its answer (b"+PONG", b"+OK", ...)."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(payload)
        answer = b""
        while not answer.endswith(b"\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


class RedisServer:
    """redis-server on 127.0.0.1; `start()` and `stop()` may be called again (the port is kept)."""

    def __init__(self):
        self.binary = redis_binary()
        self.root = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.port = None
        self.process = None
        atexit.register(self.close)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        for attempt in range(5):
            port = self.port or free_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.root), "--daemonize", "no", "--loglevel", "warning",
                 "--logfile", str(self.root / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait(port):
                self.port = port
                return self
            self.process.kill()
            self.process.wait()
            if self.port and attempt == 4:  # restarting on a kept port that someone else took meanwhile
                break
        raise RuntimeError(f"redis-server did not start:\n{self.log()}")

    def _wait(self, port):
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited, most likely the port was taken
            try:
                if command(port, "PING") == b"+PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def log(self):
        try:
            return (self.root / "redis.log").read_text()[-4000:]
        except OSError:
            return ""

    def flush(self):
        assert command(self.port, "FLUSHALL") == b"+OK"

    def stop(self):
        """Kill the server (as a crash would: no save, no goodbye to clients)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def close(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def start_redis():
    """A started RedisServer, or a skip/fail (CI) when redis-server is missing."""
    if not redis_binary():
        require_tool("redis-server not found: apt-get install redis-server (.ci/run does)")
    server = RedisServer()
    try:
        return server.start()
    except Exception:
        server.close()
        raise


@pytest.fixture(scope="session")
def redis_server():
    server = start_redis()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server):
    """The session's redis-server, emptied for this test."""
    redis_server.flush()
    return redis_server.url
