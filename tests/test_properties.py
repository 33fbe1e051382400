"""Property-based tests: whatever a browser (or anything else) sends, never a 500, and nothing invalid is stored."""
import io
import json
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import content_dir, route_to_summary, walk_to_summary
from tests.support.storage import stored

pytestmark = pytest.mark.both_databases

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

# Strings that have broken web apps: NUL, a lone surrogate (sent as its UTF-8-style bytes, which are not
# valid UTF-8), right-to-left marks and overrides, a very long line, HTML and SQL, a string near the size limit.
NASTY_BYTES = [
    b"\x00", b"a\x00b", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xff\xfe", b"\xc0\xaf",
    "\u200f\u202emark\u202c".encode(), "\u2067rtl\u2069".encode(), b"<script>alert(1)</script>",
    b"' OR 1=1 --", b"%00", b"%ZZ", b"\r\nSet-Cookie: x=1", "\ufeff\u0301\U0001f9b4".encode(),
]
byte_values = st.one_of(
    st.sampled_from(NASTY_BYTES), st.binary(max_size=300), st.text(max_size=200).map(str.encode),
    st.sampled_from([5_000, 60_000]).map(lambda n: b"\xd8\xa7" * (n // 2)),  # long Arabic text, under the limit
)


def field_names(app):
    names = {"csrf_token", "return", "website", "submission_id", "started"}
    for step in app.extensions["journey"].steps.values():
        names.update(q.id for q in step.questions)
    return sorted(names)


def raw_form(pairs):
    """An urlencoded body built from raw bytes, so invalid UTF-8 and lone surrogates reach the server as sent."""
    return "&".join(quote_from_bytes(name) + "=" + quote_from_bytes(value) for name, value in pairs).encode("ascii")


def bodies(names):
    """(content type, body) pairs: forms with missing, repeated and strange fields, and the wrong content types."""
    pairs = st.lists(st.tuples(st.one_of(st.sampled_from(names).map(str.encode), byte_values), byte_values), max_size=8)
    return st.one_of(
        pairs.map(lambda p: ("application/x-www-form-urlencoded", raw_form(p))),
        pairs.map(lambda p: ("multipart/form-data; boundary=XyZ", multipart(p))),
        st.just(("multipart/form-data", b"--no boundary given\r\n")),
        pairs.map(lambda p: ("application/json", json.dumps({n.decode("latin-1"): v.decode("latin-1") for n, v in p}).encode())),
        st.binary(max_size=500).map(lambda b: ("text/plain", b)),
        st.binary(max_size=500).map(lambda b: ("application/x-www-form-urlencoded", b)),
        st.binary(max_size=200).map(lambda b: (None, b)),
    )


def multipart(pairs):
    out = io.BytesIO()
    for index, (name, value) in enumerate(pairs):
        out.write(b"--XyZ\r\nContent-Disposition: form-data; name=\"" + name.replace(b'"', b"") + b"\"")
        if index % 2:
            out.write(b"; filename=\"x.txt\"\r\nContent-Type: text/plain")
        out.write(b"\r\n\r\n" + value + b"\r\n")
    out.write(b"--XyZ--\r\n")
    return out.getvalue()


def send(client, method, url, content_type, body, headers=None):
    headers = dict(headers or {})
    if content_type:
        headers["Content-Type"] = content_type
    return client.open(url, method=method, data=body, headers=headers)


def db_rows(app, sql):
    return [tuple(row.values()) for row in stored(app, sql)]


def stored_answers_are_valid(app):
    """Every answer in every stored journey is one of its question's options."""
    journey = app.extensions["journey"]
    for (answers_json,) in db_rows(app, "SELECT answers FROM journeys"):
        for question_id, value in json.loads(answers_json).items():
            question = journey.question(question_id)
            assert question is not None, question_id
            if question.type == "text":  # typed text, within its length
                assert isinstance(value, str) and len(value) <= question.max_length, (question_id, len(value))
                continue
            allowed = {o.value for o in question.options}
            if question.type == "single" and question.optional:
                allowed.add("")  # an optional single choice skipped: answered, with nothing chosen
            values = value if question.type == "multiple" else [value]
            assert isinstance(values, list) and set(values) <= allowed, (question_id, value)
            if question.type == "single":
                assert isinstance(value, str)


@pytest.fixture
def app(make_app):
    # Hypothesis walks a new journey for many of its cases, all from 127.0.0.1.
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, JOURNEY_CREATE_RATE_LIMIT="100000 per minute")


def all_urls(app):
    """Every rule in the URL map with sample arguments, every step, and some paths that do not exist."""
    journey = app.extensions["journey"]
    adapter = app.url_map.bind("localhost")
    samples = {"step_id": journey.first_step, "token": "not-a-token", "filename": "site.css", "reference": "FBS-0000"}
    urls = [adapter.build(rule.endpoint, {a: samples.get(a, "1") for a in rule.arguments}) for rule in app.url_map.iter_rules()]
    urls += [f"/journey/{step_id}" for step_id in journey.steps]
    urls += ["/journey/%00", "/journey/%ED%A0%80", "/journey/" + "a" * 5000, "/journey/save?return=%FF", "/static/../app.py"]
    return sorted(set(urls))


def test_any_method_and_body_to_any_route_never_gives_a_500(app):
    urls = all_urls(app)

    @SETTINGS
    @given(st.sampled_from(urls), st.sampled_from(METHODS), bodies(field_names(app)), st.booleans())
    def check(url, method, content, htmx):
        client = app.test_client()
        walk_to_summary(client, app.extensions["journey"])  # with a journey in progress: the most code runs
        response = send(client, method, url, *content, headers={"HX-Request": "true"} if htmx else None)
        assert response.status_code < 500, (method, url, content[0], response.status_code)

    check()
    stored_answers_are_valid(app)


def test_posting_strange_answers_to_every_step_stores_only_valid_answers(app):
    journey = app.extensions["journey"]
    route = route_to_summary(journey)
    names = field_names(app)

    @SETTINGS
    @given(st.sampled_from(range(len(route))), bodies(names), st.sampled_from(["", "?return=summary", "?return=%00"]))
    def check(position, content, query):
        client = app.test_client()
        for step, form in route[:position]:
            client.post(f"/journey/{step.id}", data=form)
        before = db_rows(app, "SELECT id, answers, seen FROM journeys")
        step = route[position][0]
        response = send(client, "POST", f"/journey/{step.id}{query}", *content)
        assert response.status_code in (200, 303, 400, 413), response.status_code
        if response.status_code != 303:
            # Refused: nothing about this journey changed.
            assert db_rows(app, "SELECT id, answers, seen FROM journeys") == before
        stored_answers_are_valid(app)

    check()


@pytest.mark.parametrize("field", ["one field", "many fields"])
def test_bodies_over_the_limit_get_the_friendly_413_page_on_every_form(app, field):
    limit = app.config["MAX_CONTENT_LENGTH"]
    journey = app.extensions["journey"]
    targets = [f"/journey/{s.id}" for s in journey.steps.values()] + ["/journey/restart", "/request", "/staff/sign-in"]
    megabyte = b"x" * (1024 * 1024)
    body = raw_form([(b"text", megabyte)]) if field == "one field" else raw_form([(b"a", b"y" * 1000)] * (limit // 900))
    for url in targets:
        client = app.test_client()
        before = db_rows(app, "SELECT COUNT(*) FROM journeys")
        for content_type, data in (("application/x-www-form-urlencoded", body), ("multipart/form-data; boundary=XyZ",
                                                                                multipart([(b"text", megabyte)]))):
            response = send(client, "POST", url, content_type, data)
            assert response.status_code == 413, url
            html = response.get_data(as_text=True)
            assert "That was too much text" in html and "<html" in html
        assert db_rows(app, "SELECT COUNT(*) FROM journeys") == before


def test_with_csrf_on_strange_posts_are_refused_with_the_friendly_page_and_store_nothing(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))
    urls = all_urls(app)

    @SETTINGS
    @given(st.sampled_from(urls), st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]), bodies(field_names(app)))
    def check(url, method, content):
        response = send(app.test_client(), method, url, *content)
        assert response.status_code in (400, 404, 405, 413), (method, url, response.status_code)
        assert db_rows(app, "SELECT COUNT(*) FROM journeys") == [(0,)]

    check()


def test_with_csrf_on_a_real_token_reaches_validation_and_strange_answers_are_refused(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()))
    journey = app.extensions["journey"]
    question_step = next(step for step, _ in route_to_summary(journey) if step.kind == "question")

    @SETTINGS
    @given(st.lists(st.tuples(st.sampled_from([q.id for q in question_step.questions]).map(str.encode), byte_values),
                    max_size=6))
    def check(pairs):
        client = app.test_client()
        token = _csrf_token(client.get("/").get_data(as_text=True))
        for step, form in route_to_summary(journey):
            if step is question_step:
                break
            # Starting a journey renews the session, so each page's own token is used for its form.
            page = client.post(f"/journey/{step.id}", data={**form, "csrf_token": token}, follow_redirects=True)
            token = _csrf_token(page.get_data(as_text=True))
        response = send(client, "POST", f"/journey/{question_step.id}", "application/x-www-form-urlencoded",
                        raw_form([(b"csrf_token", token.encode())] + pairs))
        assert response.status_code in (200, 303, 413)  # 413: long text, percent-encoded, passes the limit
        if response.status_code == 200:
            assert "error-summary" in response.get_data(as_text=True)  # the validation the token let us reach
        stored_answers_are_valid(app)

    check()


def _csrf_token(html):
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# --- The request form and staff sign-in ---------------------------------------------------------------
REQUEST_FIELDS = ["name", "email", "phone", "contact_by", "description", "include_answers", "consent", "website",
                  "submission_id", "started"]


def request_bodies():
    """Mostly-plausible request forms with one or more strange values, missing or repeated fields."""
    plausible = {"name": b"Alex Example", "email": b"alex@example.com", "phone": b"", "contact_by": b"email",
                 "description": b"Pain after my fusion.", "consent": b"y"}

    def build(changes, dropped, repeated):
        pairs = [(k.encode(), v) for k, v in {**plausible, **changes}.items() if k not in dropped]
        pairs += [(k.encode(), b"x") for k in repeated]
        return raw_form(pairs)

    changes = st.dictionaries(st.sampled_from(REQUEST_FIELDS), byte_values, max_size=4)
    return st.builds(build, changes, st.sets(st.sampled_from(REQUEST_FIELDS), max_size=2),
                     st.lists(st.sampled_from(REQUEST_FIELDS), max_size=2))


def stored_requests_are_valid(app):
    for name, email, phone, contact_by, description in db_rows(
            app, "SELECT name, email, phone, contact_by, description FROM requests"):
        assert name.strip() and len(name) <= 200
        assert "@" in email and len(email) <= 254
        assert contact_by in ("email", "phone") and (contact_by == "email" or phone)
        assert description.strip() and len(description) <= 2000


def test_strange_request_forms_never_give_a_500_and_only_valid_requests_are_stored(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, REQUEST_RATE_LIMIT="100000 per minute")

    @SETTINGS
    @given(request_bodies(), st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ",
                                               "text/plain", "application/json"]))
    def check(body, content_type):
        before = db_rows(app, "SELECT COUNT(*) FROM requests")[0][0]
        if content_type.startswith("multipart"):
            from urllib.parse import parse_qsl

            body = multipart([(k.encode("latin-1"), v.encode("latin-1"))
                              for k, v in parse_qsl(body.decode(), keep_blank_values=True, encoding="latin-1")])
        response = send(app.test_client(), "POST", "/request", content_type, body)
        assert response.status_code in (200, 303, 400, 413), response.status_code
        after = db_rows(app, "SELECT COUNT(*) FROM requests")[0][0]
        assert after == before + (1 if response.status_code == 303 else 0)
        stored_requests_are_valid(app)

    check()


def test_strange_staff_sign_in_posts_never_give_a_500_or_a_session(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False,
                   STAFF_ARGON2={"time_cost": 1, "memory_cost": 8192, "parallelism": 1})
    runner = app.test_cli_runner()
    runner.invoke(args=["staff", "create", "nurse@clinic.test", "--password-stdin"], input="correct horse battery\n")

    @SETTINGS
    @given(bodies(["email", "password", "next"]), st.sampled_from(["/staff/sign-in", "/staff/sign-in?next=%00",
                                                                    "/staff/sign-in?next=//evil.example"]))
    def check(content, url):
        response = send(app.test_client(), "POST", url, *content)
        assert response.status_code in (200, 400, 413, 429), response.status_code
        assert db_rows(app, "SELECT COUNT(*) FROM staff_sessions") == [(0,)]

    check()
