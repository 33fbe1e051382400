"""One log line per request: request id, method, route rule, status, duration. Never paths with ids, queries, forms or cookies."""
import logging
import re
import secrets
import time

from flask import g, request

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-Id"
# Werkzeug's development server (`make run`) logs "<address> - - [<date>] <message>" for each request and
# each malformed one, with the full path and query (continue-later tokens, the step reached) in it.
WERKZEUG_REQUEST_RECORD = re.compile(r"^\S* - - \[[^\]]*\] ")


class HideDevServerURLs(logging.Filter):
    """Drops the development server's request lines (ours says the same without the URL) and strips the
    request line from its complaints about malformed requests. Its start-up lines are kept."""

    def filter(self, record):
        message = str(record.msg)
        if not WERKZEUG_REQUEST_RECORD.match(message):
            return True
        if message.rstrip().endswith('"%s" %s %s'):
            return False
        record.msg, record.args = "the development server refused a malformed request (its request line is not logged)", ()
        return True


class HideLimiterAddresses(logging.Filter):
    """Flask-Limiter logs "ratelimit 5 per 1 minute (<client address>) exceeded at endpoint: requests.create":
    an address tied to asking for a second opinion. The line stays, without the address."""

    def filter(self, record):
        if str(record.msg).startswith("ratelimit ") and isinstance(record.args, tuple) and len(record.args) == 3:
            record.args = (record.args[0], "address not logged", record.args[2])
        return True


def route_of_request():
    # The rule ("/journey/<step_id>"), not the path: paths can carry ids and queries carry anything.
    rule = request.url_rule
    return rule.rule if rule is not None else "-"


def init_app(app):
    log.setLevel(logging.INFO)  # our own line; the host decides where INFO goes (stderr by default)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, HideDevServerURLs) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(HideDevServerURLs())
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(f, HideLimiterAddresses) for f in limiter_log.filters):
        limiter_log.addFilter(HideLimiterAddresses())

    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()
        g.request_id = secrets.token_hex(8)

    @app.after_request
    def log_request(response):
        # Requests refused before before_request ran (a bad Host header) still get an id and a line.
        request_id = g.get("request_id") or secrets.token_hex(8)
        started = g.get("request_started")
        duration_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        response.headers[REQUEST_ID_HEADER] = request_id
        log.info("request id=%s method=%s route=%s status=%d ms=%.1f",
                 request_id, request.method, route_of_request(), response.status_code, duration_ms)
        return response
