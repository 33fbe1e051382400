"""Two app hosts behind nginx (issue 21): a patient's journey, its steps served by the two hosts in turn (round-robin
upstream), reaches a sent request in Chromium on a phone, with JavaScript on and off. The hosts share what two
machines of a clinic group share: a PostgreSQL database (the session's throwaway cluster, its schema made by
`flask db upgrade` as a deployer makes it), Redis and the secret key; nothing else: each has its own processes and
memory (tests/support/hosts.py). Which host served each request is read from each host's own log."""
import re
import secrets
import shutil

import pytest
from playwright.sync_api import expect

from scripts.loopback import LoopbackClient, free_port
from tests.conftest import ROOT
from tests.support.hosts import AppHost, Balancer, flask_command

FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
LINE = re.compile(r"^(\S+ \S+) INFO blueprints.request_log: request id=\S+ method=(\S+) route=(\S+) status=(\d+)", re.M)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, postgres, redis_server):
    if not shutil.which("nginx"):
        from tests.support.tools import require_tool

        require_tool("nginx not installed: apt-get install nginx (.ci/run does)")
    workdir = tmp_path_factory.mktemp("two-hosts")
    workdir.chmod(0o755)  # nginx's worker reads its folder
    port = free_port()  # nginx's: the address in the site's links
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(workdir),
        "FLASK_SECRET_KEY": secrets.token_hex(32),  # the same on both: a cookie signed on one opens on the other
        "FLASK_DATABASE_URL": postgres.new_database(),
        "FLASK_BASE_URL": f"http://127.0.0.1:{port}",
        "FLASK_RATELIMIT_STORAGE_URI": redis_server.url,
        "FLASK_CONTENT_DIR": str(FIXTURE_CONTENT),
        "FLASK_MAIL_DIR": str(workdir / "mail"),
        "FLASK_UPLOADS_DIR": str(workdir / "uploads"),  # beside the database by default: no file on PostgreSQL
        "FLASK_PROXY_FIX": "1",
        "FLASK_REQUEST_MIN_SECONDS": "0",
        "FLASK_JOURNEY_CREATE_RATE_LIMIT": "6 per minute",
        "FLASK_HOUSEKEEPING_IN_PROCESS": "false",
        "GUNICORN_THREADS": "2",
    }
    upgrade = flask_command(env, "db", "upgrade")  # once, before either host serves
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    pair = [AppHost(f"host{n}", env, workdir, workers=1) for n in (1, 2)]
    balancer = Balancer(pair, workdir, port=port)
    try:
        for host in pair:
            host.launch()
        for host in pair:
            host.wait_healthy()
        balancer.start()
        balancer.redis = redis_server
        balancer.stored = lambda sql: postgres.psql(sql, database=env["FLASK_DATABASE_URL"].rsplit("/", 1)[1])
        yield balancer
    finally:
        balancer.stop()
        for host in pair:
            host.kill()  # nothing to finish gracefully here, and the suite's time is shared
        postgres.drop_database(env["FLASK_DATABASE_URL"])


def app_requests(hosts, since):
    """[(time, host name, method, route)] of the app's pages after the `since` marks, in the order served."""
    served = []
    for host in hosts.hosts:
        for at, method, route, _status in LINE.findall(host.log()[since[host.name]:]):
            if route != "/healthz":
                served.append((at, host.name, method, route))
    return sorted(served)


def answer_step(page):
    """"None of these" / "No" where offered, else the first option, for every question; then Continue."""
    for question in page.locator("form.step-form fieldset").all():
        inputs = question.locator("input").all()
        values = [i.get_attribute("value") for i in inputs]
        wanted = next((v for v in ("none", "no") if v in values), values[0])
        question.locator(f'input[value="{wanted}"]').check()
    page.locator("form.step-form button[type=submit]").click()


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_a_journey_served_by_two_hosts_in_turn_reaches_a_sent_request(phone, hosts, js):
    since = {host.name: len(host.log()) for host in hosts.hosts}
    page = phone(js=js).new_page()
    page.goto(hosts.url + "/")
    for _ in range(10):
        if page.locator("a", has_text="Ask for a second opinion").count():  # the summary
            break
        heading = page.get_by_role("heading", level=1).first.inner_text()
        answer_step(page)
        expect(page.get_by_role("heading", level=1).first).not_to_have_text(heading)
    else:
        pytest.fail("the journey did not reach the summary")
    page.get_by_role("link", name="Ask for a second opinion").click()
    page.get_by_label("Full name").fill("Alex Example")
    page.get_by_label("Email address").fill("alex@example.com")
    page.get_by_label("By email").check()
    page.get_by_label("Your back problem, in your own words").fill("My leg pain came back after my fusion.")
    page.get_by_label("I agree that the clinic may contact me about my request").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url(re.compile(r"/request/sent"))
    reference = re.search(r"FBS-[2-9A-Z]{4,}", page.locator("main").inner_text()).group(0)
    assert hosts.stored(f"SELECT count(*) FROM requests WHERE reference = '{reference}'") == "1"  # in PostgreSQL

    served = app_requests(hosts, since)
    journey = [(name, method) for _, name, method, route in served if route.startswith("/journey/")]
    assert {name for name, _ in journey} == {"host1", "host2"}, served
    assert sum(method == "POST" for _, method in journey) >= 3  # start and the answered steps
    names = [name for _, name, _, _ in served]
    assert all(a != b for a, b in zip(names, names[1:])), f"the hosts did not take turns: {served}"
    assert ("POST", "/request") in [(method, route) for _, _, method, route in served]


def new_journey(port):
    """A new visitor (no cookie) through nginx: the start page, Start, the first answer; returns its status."""
    client = LoopbackClient(port)
    html = client.fetch("GET", "/")[2]
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.fetch("POST", "/journey/start", {"csrf_token": token})[0] == 303
    return client.fetch("POST", "/journey/safety", {"csrf_token": token, "bladder": "no"})[0]


def test_six_new_journeys_a_minute_means_six_across_both_hosts(hosts):
    """Through nginx, three requests a journey, so the hosts take turns at the first answers: one count in Redis."""
    since = {host.name: len(host.log()) for host in hosts.hosts}
    hosts.redis.flush()  # this minute's count starts here (the browser walks make journeys too)
    try:
        statuses = [new_journey(hosts.port) for _ in range(14)]
    finally:
        hosts.redis.flush()
    assert statuses == [303] * 6 + [429] * 8  # counting per host, each would have let 6 in: 12
    for host in hosts.hosts:  # both hosts turned first answers away, each from the count they share
        assert "route=/journey/<step_id> status=429" in host.log()[since[host.name]:], host.name
