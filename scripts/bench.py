#!/usr/bin/env python3
"""Speed figures for one small host, on SQLite and on PostgreSQL: gunicorn + wrk on loopback, bare Flask beside it,
in-process render times.

Usage: .venv/bin/python scripts/bench.py [--duration 8] [--write docs/performance.md] [--in-process-only]
                                         [--databases sqlite,postgresql]

In one run it starts a gunicorn per database (gunicorn.conf.py, a fresh database made by `flask db upgrade`, the
real content/, the benchmark-only /bench/ping route) on free 127.0.0.1 ports and measures each with wrk (rounds
interleaved across the databases too). PostgreSQL is a throwaway cluster on loopback started as the tests start
theirs (tests/support/postgres.py), but with fsync and synchronous commit on, as a real server keeps them:
  (a) a mid-journey step as a full page, (b) the same step as the partial htmx asks for,
  (c) a posted answer to that step (valid session cookie and CSRF token), and
  (d) /bench/ping, a few bytes from the same app: the ceiling for this stack, and
  (e) bare Flask (scripts/bench_bare.py, one route returning a short string) under the same gunicorn.conf.py.
Each is printed with req/s, p50 and p99 latency, its ratios to (d) of the same database and to (e), and its req/s
against SQLite's. Then, in one process with Flask's test client, bare Flask, and on each database /bench/ping and
the first step (full page and htmx partial, with the session cookie of a started journey) in interleaved rounds:
ms per request and bare Flask's time over each.
wrk and gunicorn share the machine's cores, so compare the ratios rather than the absolute figures across
machines. Nothing is written into the repository unless --write is given; --write keeps the sections of the
file after "## Figures" that this script does not make.
"""
import argparse
import datetime
import logging
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loopback import LoopbackClient, free_port  # noqa: E402  (scripts/ is on the path when run)

ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

REAL_CONTENT = ROOT / "content"
FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
PREFERRED_STEP = "/journey/surgery"
MAX_STEPS = 60


# --- Walking the journey (shared by the HTTP and the in-process client) -------------------------

class StepForm(HTMLParser):
    """The step's answer form: its action, CSRF token and, per question, the last option (the calm path)."""

    def __init__(self):
        super().__init__()
        self.inside = False
        self.action = None
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "step-form" in (attrs.get("class") or "").split():
            self.inside, self.action = True, attrs["action"]
        elif tag == "input" and self.inside and attrs.get("name"):
            if attrs.get("type") in ("radio", "checkbox", "hidden"):
                self.fields[attrs["name"]] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def read_form(html):
    form = StepForm()
    form.feed(html)
    return form


def walk(fetch):
    """Answer every step from the start; returns [(step url, form action, answer fields)] of the steps seen.

    `fetch(method, url, fields=None, headers=None)` returns (status, response headers, body text).
    """
    url, seen = "/", []
    for _ in range(MAX_STEPS):
        status, _, html = fetch("GET", url)
        if status != 200:
            raise RuntimeError(f"GET {url} answered {status}")
        form = read_form(html)
        seen.append((url, form.action, form.fields))
        if form.action is None:
            break
        status, headers, _ = fetch("POST", form.action, form.fields)
        location = headers.get("Location")
        if status not in (302, 303) or not location:
            raise RuntimeError(f"POST {form.action} answered {status}")
        url = urlsplit(location).path
        if not url.startswith("/journey/"):
            break
    return seen


def pick_step(seen):
    """The step to measure: /journey/surgery when the journey has it, else a question step half-way."""
    questions = [entry for entry in seen if entry[1] and any(k != "csrf_token" for k in entry[2])]
    for entry in questions:
        if entry[0] == PREFERRED_STEP:
            return entry
    if not questions:
        raise RuntimeError("the journey has no question step to measure")
    return questions[len(questions) // 2]


# --- gunicorn over HTTP ---------------------------------------------------------------------------

def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    print("wrk is missing: installing Debian's package", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], env=env).returncode:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], env=env, check=True)
    return shutil.which("wrk")


class Databases:
    """A fresh, empty database for each use: a SQLite file in the run's folder, or a database on one throwaway
    PostgreSQL cluster (tests/support/postgres.py, with fsync and synchronous commit on)."""

    def __init__(self, engines, workdir):
        self.workdir = Path(workdir)
        self.cluster = None
        self.count = 0
        if "postgresql" in engines:
            from tests.support.postgres import PostgresCluster, missing_reason

            reason = missing_reason()
            if reason:
                raise SystemExit(f"{reason}; or measure SQLite alone: make bench ARGS=\"--databases sqlite\"")
            self.cluster = PostgresCluster(durable=True)
            try:
                self.cluster.start()
            except Exception:
                self.cluster.stop()
                raise

    def new(self, engine):
        """(what clinic/db.py connects to, the settings that name it) of a new empty database."""
        self.count += 1
        if engine == "postgresql":
            url = self.cluster.new_database()
            return url, {"FLASK_DATABASE_URL": url}
        path = str(self.workdir / f"clinic-{self.count}.sqlite3")
        return path, {"FLASK_DATABASE": path}

    def close(self):
        from clinic import db

        db.dispose()
        if self.cluster:
            self.cluster.stop()


def start_gunicorn(workdir, content, port, database=None, name="gunicorn"):
    """The site under gunicorn.conf.py on `port`, on `database` (settings from Databases.new; by default a new SQLite
    file in `workdir`), logging to `workdir/<name>.log`."""
    env = dict(
        os.environ,
        FLASK_CONTENT_DIR=str(content),
        FLASK_SECRET_KEY=secrets.token_hex(32),
        FLASK_BENCH_ROUTE="true",
        FLASK_BASE_URL=f"http://127.0.0.1:{port}",
        FLASK_UPLOADS_DIR=str(workdir / f"{name}-uploads"),
    )
    for setting in ("FLASK_PRODUCTION", "FLASK_DEBUG", "FLASK_TRUSTED_HOSTS", "GUNICORN_BIND", "FLASK_DATABASE_URL",
                    "FLASK_RATELIMIT_STORAGE_URI"):
        env.pop(setting, None)
    env.update(database or {"FLASK_DATABASE": str(workdir / "clinic.sqlite3")})
    # The schema first, as `make serve` does: the app never makes it.
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return serve(workdir / f"{name}.log", port, env, [], "/healthz")


def start_bare_gunicorn(workdir, port):
    """Bare Flask (scripts/bench_bare.py) under the same gunicorn.conf.py: workers, threads, preload, keep-alive."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("FLASK_", "GUNICORN_"))}
    return serve(workdir / "gunicorn-bare.log", port, env, ["--pythonpath", str(ROOT / "scripts"), "bench_bare:app"], "/")


def serve(log_path, port, env, extra, ready_path):
    log = open(log_path, "w")  # noqa: SIM115 - closed by the caller with the process
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--no-control-socket", *extra],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn stopped:\n" + log_path.read_text())
        try:
            if LoopbackClient(port).fetch("GET", ready_path)[0] == 200:
                return server, log
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer {ready_path} within 20 s")


def stop(server, log):
    server.terminate()
    server.wait(15)
    log.close()


def lua_script(method, headers, body=None):
    lines = [f'wrk.method = "{method}"']
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    if body is not None:
        lines.append(f'wrk.body = "{body}"')
    return "\n".join(lines) + "\n"


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output):
    def latency(percent):
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * UNITS[match.group(2)]

    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency(50),
        "p99": latency(99),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "bad": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def run_wrk(wrk, port, path, script, args, duration):
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}{path}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 30)
    return parse_wrk(result.stdout)


def median_run(runs):
    """The median of each figure over the rounds; error counts are summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "bad": sum(r["bad"] for r in runs),
        "socket_errors": "; ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }


def rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


def worker_pids(master_pid):
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def journey_cookie(port):
    """For scripts/audit.sh: walk a journey on a running server; returns (Cookie header, mid-journey step path)."""
    client = LoopbackClient(port)
    step_url = pick_step(walk(client.fetch))[0]
    return client.cookie_header(), step_url


# --- In-process render times --------------------------------------------------------------------

def site_app(content, databases, engine, workdir, **config):
    """The site in this process on a new database of `engine`, migrated (`db upgrade`'s own function)."""
    from app import create_app
    from clinic import migrate

    location, settings = databases.new(engine)
    migrate.upgrade(location)
    return create_app({**{name.removeprefix("FLASK_"): value for name, value in settings.items()},
                       "CONTENT_DIR": str(content), "SECRET_KEY": secrets.token_hex(32),
                       "UPLOADS_DIR": str(Path(workdir) / f"uploads-{databases.count}"), **config})


def render_times(content, renders, databases, engine, workdir):
    """Median wall time of the Flask test client rendering each step of the walk, full page and partial."""
    app = site_app(content, databases, engine, workdir, WTF_CSRF_ENABLED=False)
    logging.getLogger("blueprints.request_log").setLevel(logging.WARNING)  # thousands of lines would drown the figures
    client = app.test_client()

    def fetch(method, url, fields=None, headers=None):
        response = client.open(url, method=method, data=fields, headers=headers)
        return response.status_code, response.headers, response.get_data(as_text=True)

    times = []
    for url, _, _ in walk(fetch):
        row = [url]
        for headers in ({}, {"HX-Request": "true"}):
            samples = []
            for _ in range(renders):
                started = time.perf_counter()
                client.get(url, headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
            row.append(statistics.median(samples))
        times.append(tuple(row))
    return times


# --- In-process: the site against bare Flask -----------------------------------------------------

IN_PROCESS = (
    ("ping", "the site's `GET /bench/ping`"),
    ("full", "first step, full page `GET /`"),
    ("partial", "first step, htmx partial `GET /` + `HX-Request`"),
)


def in_process_ratios(content, rounds, requests, databases, engines, workdir):
    """Per-request ms through Flask's test client, each scenario `requests` times in a row, in `rounds` interleaved
    rounds (bare, then ping, full, partial on each database, bare, ...); the median of the rounds for each, and bare
    Flask's time over it. Keys: "bare", and (database, scenario).

    The site's requests carry the session cookie of a started journey (one walked to the end, so the first step
    reads its row), and CSRF protection stays on. Its per-request log line is formatted and written, to /dev/null.
    """
    from bench_bare import app as bare

    # The apps first: the first create_app sets up the root logger's handler, which is then pointed at /dev/null.
    sites = {engine: site_app(content, databases, engine, workdir, BENCH_ROUTE=True).test_client() for engine in engines}
    with open(os.devnull, "w") as devnull:
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(devnull) for h in handlers]
        try:
            scenarios = {"bare": (bare.test_client(), "/", {})}
            for engine, site in sites.items():

                def fetch(method, url, fields=None, headers=None, site=site):
                    response = site.open(url, method=method, data=fields, headers=headers)
                    return response.status_code, response.headers, response.get_data(as_text=True)

                walk(fetch)  # the journey started and answered: the session cookie names its row
                assert b"journey-tools" in site.get("/", headers={"HX-Request": "true"}).data, "journey not started"
                scenarios.update({(engine, "ping"): (site, "/bench/ping", {}), (engine, "full"): (site, "/", {}),
                                  (engine, "partial"): (site, "/", {"HX-Request": "true"})})
            for key, (client, url, headers) in scenarios.items():  # each answers as intended, and warms up
                response = client.get(url, headers=headers)
                assert response.status_code == 200, (key, response.status_code)
                assert (b"<html" in response.data) == (key[-1] == "full"), key
            samples = {key: [] for key in scenarios}
            cpu = {key: [] for key in scenarios}
            for _ in range(rounds):
                for key, (client, url, headers) in scenarios.items():
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    for _ in range(requests):
                        client.get(url, headers=headers)
                    samples[key].append((time.perf_counter() - started) * 1000 / requests)
                    cpu[key].append((time.thread_time() - started_cpu) * 1000 / requests)
        finally:
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    cpu_medians = {key: statistics.median(values) for key, values in cpu.items()}
    return {key: (ms, medians["bare"] / ms, cpu_medians[key], cpu_medians["bare"] / cpu_medians[key])
            for key, ms in medians.items()}


def in_process_table(figures, args, engines):
    lines = [f"In one process, Flask's test client ({args.rounds} interleaved rounds of {args.requests} requests "
             "each, median of the rounds). Wall time, and this thread's CPU time (`time.thread_time`: it leaves out "
             "waiting for a core on a busy machine, and the work of PostgreSQL's own process):", "",
             "| Scenario | database | ms per request | ratio bare Flask / it | CPU ms per request | CPU ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: |",
             f"| bare Flask: one route returning a short string (scripts/bench_bare.py) | - "
             f"| {figures['bare'][0]:.3f} | 1.00 | {figures['bare'][2]:.3f} | 1.00 |"]
    for key, label in IN_PROCESS:
        for engine in engines:
            ms, ratio, cpu_ms, cpu_ratio = figures[(engine, key)]
            lines.append(f"| {label if engine == engines[0] else ''} | {ENGINES[engine]} | {ms:.3f} | {ratio:.2f} "
                         f"| {cpu_ms:.3f} | {cpu_ratio:.2f} |")
    lines += ["", f"Goal (issue 21): full step at least {GOAL['full']:.2f}, partial at least {GOAL['partial']:.2f} "
              "of bare Flask; this run (wall time, CPU time): " + "; ".join(
                  f"{ENGINES[e]} {figures[(e, 'full')][1]:.2f} and {figures[(e, 'partial')][1]:.2f}, "
                  f"{figures[(e, 'full')][3]:.2f} and {figures[(e, 'partial')][3]:.2f}" for e in engines) + "."]
    return "\n".join(lines)


GOAL = {"full": 0.35, "partial": 0.45}


# --- Report ---------------------------------------------------------------------------------------

def machine(load_before):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    return {"cores (nproc)": str(os.cpu_count()), "CPU": cpu, "kernel (uname -r)": platform.release(),
            "Python": platform.python_version(), "date (UTC)": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            "load average before the run (1/5/15 min)": load_before}


def report(results, renders, memory, step_url, args, content, engines):
    """results: {database: {"a".."d": figures}, "bare": figures of (e)}; renders and memory by database."""
    bare, first = results["bare"]["rps"], engines[0]
    names = {"a": f"(a) full step page `GET {step_url}`", "b": f"(b) step partial `GET {step_url}` + `HX-Request`",
             "c": f"(c) posted answer `POST {step_url}` (303)", "d": "(d) trivial route `GET /bench/ping`"}
    lines = [f"| Scenario | database | req/s | p50 ms | p99 ms | ratio to (d) | ratio to (e) bare Flask "
             f"| req/s vs {ENGINES[first]} | non-2xx/3xx |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key in "abcd":
        for engine in engines:
            r = results[engine][key]
            lines.append(f"| {names[key] if engine == first else ''} | {ENGINES[engine]} | {r['rps']:,.0f} "
                         f"| {r['p50']:.2f} | {r['p99']:.2f} | {r['rps'] / results[engine]['d']['rps']:.2f} "
                         f"| {r['rps'] / bare:.2f} | {r['rps'] / results[first][key]['rps']:.2f} | {r['bad']} |")
    r = results["bare"]
    lines.append(f"| (e) bare Flask `GET /` (scripts/bench_bare.py), same gunicorn.conf.py | - | {r['rps']:,.0f} "
                 f"| {r['p50']:.2f} | {r['p99']:.2f} | | 1.00 | | {r['bad']} |")
    lines += ["", f"In-process render time (Flask test client, median of {args.renders} renders), ms:", "",
              "| Step | " + " | ".join(f"full page {ENGINES[e]} | partial {ENGINES[e]}" for e in engines) + " |",
              "| --- |" + " ---: | ---: |" * len(engines)]
    by_url = {}
    for engine in engines:
        for url, full, partial in renders[engine]:
            by_url.setdefault(url, {})[engine] = (full, partial)
    for url, row in by_url.items():
        lines.append(f"| `{url}` | " + " | ".join(
            "{:.2f} | {:.2f}".format(*row[e]) if e in row else "- | -" for e in engines) + " |")
    lines += ["", "Resident memory (VmRSS) after the load: " + "; ".join(
        f"{ENGINES[engine]}: " + ", ".join(f"{role} {kib / 1024:.1f} MiB" for role, kib in memory[engine])
        for engine in engines)]
    lines += ["", f"Load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency on 127.0.0.1, "
              f"{args.rounds} interleaved rounds ({', '.join(f'(a)-(d) on {ENGINES[e]}' for e in engines)}, (e)), "
              f"median of each figure; gunicorn.conf.py (2 workers x 4 threads, gthread) for each, "
              f"content: `{content.relative_to(ROOT)}`."
              + (" PostgreSQL: a throwaway cluster on loopback TCP (tests/support/postgres.py) with fsync and "
                 "synchronous commit on; SQLite: WAL, synchronous FULL." if "postgresql" in engines else "")]
    return "\n".join(lines)


def measure(wrk, workdir, content, databases, engines, args):
    """Through gunicorn: a server per database and bare Flask's, all up at once (each idles while another is
    measured); interleaved wrk rounds over all of them. Returns (results, memory, step_url)."""
    servers, scenarios, memory = {}, {}, {}
    try:
        for engine in engines:
            port = free_port()
            servers[engine] = (port, *start_gunicorn(workdir, content, port, databases.new(engine)[1], name=engine))
        bare_port = free_port()
        servers["bare"] = (bare_port, *start_bare_gunicorn(workdir, bare_port))
        bare = LoopbackClient(bare_port).fetch("GET", "/")
        assert bare[0] == 200 and bare[2] == "ok", bare[0]
        for engine in engines:
            port = servers[engine][0]
            client = LoopbackClient(port)
            step_url, action, fields = pick_step(walk(client.fetch))
            # Check each scenario answers as intended before timing it.
            full = client.fetch("GET", step_url)
            partial = client.fetch("GET", step_url, headers={"HX-Request": "true"})
            posted = client.fetch("POST", action, fields)
            assert full[0] == 200 and "<html" in full[2], full[0]
            assert partial[0] == 200 and "<html" not in partial[2], partial[0]
            assert posted[0] == 303, f"the posted answer was refused ({posted[0]})"
            cookie = client.cookie_header()
            scenarios.update({
                (engine, "a"): (port, "GET", step_url, {"Cookie": cookie}, None),
                (engine, "b"): (port, "GET", step_url, {"Cookie": cookie, "HX-Request": "true"}, None),
                (engine, "c"): (port, "POST", action,
                                {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                                urlencode(fields)),
                (engine, "d"): (port, "GET", "/bench/ping", {}, None),
            })
        scenarios["bare"] = (bare_port, "GET", "/", {}, None)
        # Interleaved rounds, median per scenario: wrk's keep-alive connections land on whichever worker
        # accepts first, so one short run can leave one worker with most of them and halve its figure; and the
        # machine's other load changes from minute to minute, so every server gets its turn in every round.
        for key, (_port, method, _path, headers, body) in scenarios.items():
            (workdir / f"{'-'.join(key) if key != 'bare' else key}.lua").write_text(lua_script(method, headers, body))
        for key, (target, _method, path, _headers, _body) in scenarios.items():
            if key == "bare" or key[1] == "a":  # warm-up: imports, template cache, page cache, the pool
                run_wrk(wrk, target, path, workdir / f"{'-'.join(key) if key != 'bare' else key}.lua", args, 1)
        rounds = {key: [] for key in scenarios}
        for round_number in range(1, args.rounds + 1):
            for key, (target, method, path, _headers, _body) in scenarios.items():
                script = workdir / f"{'-'.join(key) if key != 'bare' else key}.lua"
                rounds[key].append(run_wrk(wrk, target, path, script, args, args.duration))
                print(f"round {round_number} {key} {method} {path}: {rounds[key][-1]['rps']:,.0f} req/s",
                      file=sys.stderr)
        for engine in engines:
            pid = servers[engine][1].pid
            memory[engine] = [(f"worker {n + 1}", rss_kib(w)) for n, w in enumerate(worker_pids(pid))]
            memory[engine].append(("master", rss_kib(pid)))
        results = {"bare": median_run(rounds["bare"])}
        for engine in engines:
            results[engine] = {key: median_run(rounds[(engine, key)]) for key in "abcd"}
        return results, memory, scenarios[(engines[0], "a")][2]
    finally:
        for _port, server, log in servers.values():
            stop(server, log)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported (default 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--renders", type=int, default=50, help="in-process renders per step (default 50)")
    parser.add_argument("--requests", type=int, default=200,
                        help="in-process requests per scenario and round against bare Flask (default 200)")
    parser.add_argument("--in-process-only", action="store_true",
                        help="only the in-process comparison with bare Flask (no gunicorn, no wrk)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated, each measured in the same run (default sqlite,postgresql)")
    parser.add_argument("--write", metavar="PATH", help="also write the figures as Markdown to PATH")
    args = parser.parse_args()
    engines = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not engines or any(name not in ENGINES for name in engines):
        parser.error(f"--databases takes a comma-separated list of {', '.join(ENGINES)} (got {args.databases!r})")

    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg())  # other work on the machine skews figures
    content = REAL_CONTENT if list(REAL_CONTENT.glob("steps/*.md")) else FIXTURE_CONTENT
    if content == FIXTURE_CONTENT:
        print("content/ has no journey yet: using the test fixture journey", file=sys.stderr)
    wrk = None if args.in_process_only else ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="fbss-bench-") as tmp:
        workdir = Path(tmp)
        databases = Databases(engines, workdir)
        try:
            if args.in_process_only:
                figures = in_process_ratios(content, args.rounds, args.requests, databases, engines, workdir)
                print(in_process_table(figures, args, engines))
                return
            results, memory, step_url = measure(wrk, workdir, content, databases, engines, args)
            in_process = in_process_ratios(content, args.rounds, args.requests, databases, engines, workdir)
            renders = {engine: render_times(content, args.renders, databases, engine, workdir) for engine in engines}
        finally:
            databases.close()
    text = (report(results, renders, memory, step_url, args, content, engines) + "\n\n"
            + in_process_table(in_process, args, engines))
    facts = "\n".join(f"- {name}: {value}" for name, value in machine(load_before).items())
    print(facts + "\n\n" + text)
    if args.write:
        write_figures(Path(args.write), facts, text)


def write_figures(path, facts, text):
    """The run's machine and figures at the top of `path`; the hand-written sections after them are kept."""
    kept = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        figures = old.find("\n## Figures")
        after = old.find("\n## ", figures + 1) if figures >= 0 else -1
        kept = old[after:] if after >= 0 else ""
    document = (
        "# Performance\n\nOne run of `make bench` (scripts/bench.py), on SQLite and on PostgreSQL. wrk and gunicorn "
        "share the machine's cores, so read the ratios to the trivial route (d), to bare Flask (e) and PostgreSQL's "
        "to SQLite's, all measured in the same run, rather than the absolute figures.\n\n"
        f"## Machine\n\n{facts}\n\n## Figures\n\n{text}\n"
    )
    path.write_text(document + kept, encoding="utf-8")
    print(f"\nWritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
