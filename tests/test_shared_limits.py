"""Rate limits shared through a real redis-server (issue 21): two apps standing for two hosts count together, and a
Redis that dies mid-test never costs a patient their request (README "Rate limits on two hosts")."""
import logging

import pytest

from clinic.shared_limits import FallbackCounter
from tests.conftest import ROOT, journey_rows
from tests.helpers import submit_request
from tests.support.redis_server import RedisServer, command
from tests.support.storage import stored

FIXTURE_CONTENT = str(ROOT / "tests" / "fixtures" / "content")


def first_answer(app, address="192.0.2.1"):
    """A new visitor from `address` presses Start and answers the first question (the fixture journey)."""
    client = app.test_client()
    environ = {"REMOTE_ADDR": address}
    assert client.post("/journey/start", environ_base=environ).status_code == 303
    return client.post("/journey/safety", data={"bladder": "no"}, environ_base=environ).status_code


def two_hosts(make_app, storage_uri, **config):
    """Two apps on one database, as two hosts behind the load balancer; each has its own process memory."""
    settings = {"CONTENT_DIR": FIXTURE_CONTENT, "WTF_CSRF_ENABLED": False, "RATELIMIT_STORAGE_URI": storage_uri,
                **config}
    return make_app(**settings), make_app(**settings)


@pytest.mark.parametrize("storage", ["redis", "memory"])
def test_six_new_journeys_a_minute_means_six_in_all_across_two_hosts_with_redis(make_app, redis_url, storage):
    """The control (memory://) shows what the test would catch: each host counting alone lets twice as many in."""
    hosts = two_hosts(make_app, redis_url if storage == "redis" else "memory://", JOURNEY_CREATE_RATE_LIMIT="6 per minute")
    statuses = [first_answer(hosts[turn % 2]) for turn in range(14)]  # alternately, as round-robin would
    allowed = statuses.count(303)
    if storage == "redis":
        assert statuses == [303] * 6 + [429] * 8
        assert journey_rows(hosts[0]) == 6
        assert first_answer(hosts[1], address="192.0.2.2") == 303  # another address has its own count
    else:
        assert allowed == 12, statuses


def test_request_posts_are_counted_together_across_two_hosts(make_app, redis_url):
    hosts = two_hosts(make_app, redis_url, CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"),
                      REQUEST_RATE_LIMIT="3 per minute")
    clients = [host.test_client() for host in hosts]
    statuses = [submit_request(clients[turn % 2]).status_code for turn in range(6)]
    assert statuses == [303] * 3 + [429] * 3
    assert len(stored(hosts[0], "SELECT id FROM requests")) == 3


def test_with_redis_stopped_mid_test_a_patient_still_sends_and_limits_count_per_process(make_app, caplog):
    with RedisServer() as redis:
        app = make_app(CONTENT_DIR=FIXTURE_CONTENT, WTF_CSRF_ENABLED=False, RATELIMIT_STORAGE_URI=redis.url,
                       JOURNEY_CREATE_RATE_LIMIT="3 per minute", REQUEST_RATE_LIMIT="2 per minute")
        client = app.test_client()
        assert first_answer(app) == 303
        assert submit_request(client).status_code == 303
        redis.stop()  # as a crash: no goodbye to the connections the app holds

        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = submit_request(client, follow_redirects=True)
            assert response.status_code == 200 and "Request sent" in response.get_data(as_text=True)
            # Limits stay on, counted in this process: the one sent before the crash lived in Redis only.
            assert submit_request(client).status_code == 303
            assert submit_request(client).status_code == 429
            assert [first_answer(app) for _ in range(4)] == [303, 303, 303, 429]
        assert len(stored(app, "SELECT id FROM requests WHERE status = 'new'")) == 3
        assert journey_rows(app) == 4
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        unreachable = [m for m in warnings if "unreachable" in m]
        assert len(unreachable) == 2, warnings  # once for the route limits (Flask-Limiter), once for journeys
        assert not any("192.0.2" in m or "127.0.0.1" in m for m in warnings)  # no address, no health detail


def test_the_journey_counter_goes_back_to_redis_when_it_answers_again(make_app, caplog):
    now = [1000.0]
    with RedisServer() as redis:
        app = make_app(CONTENT_DIR=FIXTURE_CONTENT, RATELIMIT_STORAGE_URI=redis.url)
        strategy = app.extensions["request_limiter"].limiter
        counter = FallbackCounter(strategy, clock=lambda: now[0], retry_seconds=30)
        from limits import parse

        limit = parse("2 per minute")
        assert counter.hit(limit, "k")[1] is strategy
        redis.stop()
        with caplog.at_level(logging.INFO, logger="clinic.shared_limits"):
            assert counter.hit(limit, "k") == (True, counter.fallback)
            assert counter.hit(limit, "k")[1] is counter.fallback  # not tried again within 30 s
            redis.start()
            now[0] += 31
            assert counter.hit(limit, "k") == (True, strategy)  # back in Redis (restarted empty: nothing saved)
            assert command(redis.port, "DBSIZE") == b":1"
        assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
