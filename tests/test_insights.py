"""The journey report (issue 12): weekly counters that cannot identify anyone, and the staff page that reads them."""
import csv
import io
import re
import sqlite3
import time

import pytest
from sqlalchemy import text

from clinic import insights
from clinic.db import connect
from tests.conftest import assert_no_axe_violations, content_dir, new_context, route_to_stop, route_to_summary
from tests.helpers import submit_request
from tests.support import factors as factor_support
from tests.support.staff import EMAIL, FAST_ARGON2, PASSWORD, create_staff

# Columns a counter table may have: none of them can hold who, where from, or when more finely than the week.
ALLOWED_COLUMNS = {"week", "step", "event", "question", "answer", "reached", "moved_on", "count"}
WEEK_CHECK = "GLOB '[0-9][0-9][0-9][0-9]-W[0-5][0-9]'"


@pytest.fixture
def report_app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                    REQUEST_RATE_LIMIT="1000 per minute")


def signed_in(app):
    create_staff(app)
    staff = app.test_client()
    response = factor_support.sign_in(staff, EMAIL, PASSWORD)
    assert response.status_code == 303
    return staff


def walk(client, route):
    for step, form in route[:-1]:
        response = client.post(f"/journey/{step.id}", data=form)
        assert response.status_code in (200, 303), (step.id, response.status_code)
    assert client.get(f"/journey/{route[-1][0].id}").status_code == 200


def counter_rows(app):
    conn = connect(app.config["DATABASE_URL"])
    try:
        rows = []
        for table in ("insight_steps", "insight_events", "insight_answers"):
            rows += [(table, *tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608
        return rows
    finally:
        conn.close()


# --- the counters' definitions ------------------------------------------------------------------------------
@pytest.mark.sqlite_only("SQLite's own table definitions; test_pg_schema.py holds PostgreSQL's to the same columns "
                         "and test_check_constraints.py both to the week CHECK; WITHOUT ROWID is SQLite's only")
def test_counter_tables_hold_no_column_that_could_identify_a_person(app):
    conn = sqlite3.connect(app.config["DATABASE"])
    tables = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name LIKE 'insight%'").fetchall()
    conn.close()
    assert {name for name, _ in tables} == {"insight_steps", "insight_events", "insight_answers"}
    for name, sql in tables:
        conn = sqlite3.connect(app.config["DATABASE"])
        columns = conn.execute(f"PRAGMA table_info({name})").fetchall()  # noqa: S608
        conn.close()
        names = {column[1] for column in columns}
        assert names <= ALLOWED_COLUMNS, f"{name} has {names - ALLOWED_COLUMNS}"
        # One answer per row (never a combination), a week and nothing finer, and no rowid recording order.
        assert "WITHOUT ROWID" in sql.upper(), name
        assert WEEK_CHECK in sql, f"{name}.week is not held to an ISO week"
        for column in columns:
            if column[1] in ("reached", "moved_on", "count"):
                assert column[2].upper() == "INTEGER"


def test_weeks_are_iso_weeks_across_the_new_year():
    assert insights.week_of(1767225600) == "2026-W01"  # Thursday, January 1, 2026
    assert insights.week_of(1766966400) == "2026-W01"  # Monday, December 29, 2025 belongs to ISO week 1 of 2026
    assert insights.week_of(1798675200) == "2026-W53"  # Thursday, December 31, 2026: 2026 has 53 ISO weeks
    assert insights.weeks_back(1767225600, 3) == ["2025-W51", "2025-W52", "2026-W01"]


def test_small_counts_are_shown_as_fewer_than_five():
    from blueprints.insights import shown

    assert [insights.is_small(n) for n in (0, 1, 4, 5, 17)] == [False, True, True, False, False]
    assert [shown(n) for n in (0, 1, 4, 5, 17)] == [0, "fewer than 5", "fewer than 5", 5, 17]


@pytest.mark.both_databases
def test_the_report_names_events_by_id_and_the_flask_layer_words_every_one(report_app):
    """Issue 20 A: clinic/insights.py holds message ids (event names), no English; blueprints/insights.py words them."""
    from blueprints.insights import event_label, event_short_label

    journey = report_app.extensions["journey"]
    for wording in ("FEWER", "SHORT", "event_label", "event_short_label", "shown"):
        assert not hasattr(insights, wording), wording
    assert all(re.fullmatch(r"[a-z_]+", name) for name in insights.EVENTS)
    conn = connect(report_app.config["DATABASE_URL"])
    try:
        report = insights.build_report(conn, journey, time.time(), 4)
    finally:
        conn.close()
    stops = [name for name in report.events if insights.stop_step(name)]
    assert stops and all(journey.steps[insights.stop_step(name)].kind == "stop" for name in stops)
    assert list(report.events) == list(insights.EVENTS) + stops
    labels = [event_label(journey, name) for name in report.events]
    short = [event_short_label(journey, name) for name in report.events]
    assert all(labels) and len(set(labels)) == len(labels) and len(set(short)) == len(short)
    assert all(not re.fullmatch(r"[a-z_:-]+", label) for label in labels)  # words, not the id shown back
    assert all(isinstance(bar.value, int) for bar in insights.funnel_bars(report) + insights.weekly_bars(report))


def test_the_report_covers_a_period_it_offers_and_otherwise_twelve_weeks():
    assert [insights.period_weeks(w) for w in (4, 12, 52)] == [4, 12, 52]
    assert [insights.period_weeks(w) for w in (None, 0, -4, 5, 10**9)] == [12] * 5


# --- counting as journeys happen ----------------------------------------------------------------------------
@pytest.mark.both_databases
def test_the_report_shows_exactly_the_journeys_walked(report_app):
    journey = report_app.extensions["journey"]
    to_summary = route_to_summary(journey)
    to_stop, _ = route_to_stop(journey)
    stop_id = to_stop[-1][0].id
    for number in range(7):
        patient = report_app.test_client()
        walk(patient, to_summary)
        patient.get(f"/journey/{to_summary[-1][0].id}")  # a reload counts nothing more
        if number < 2:
            assert submit_request(patient).status_code == 303
    for _ in range(3):
        walk(report_app.test_client(), to_stop)

    staff = signed_in(report_app)
    page = staff.get("/staff/insights?weeks=4")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    first = journey.steps[journey.first_step].title
    summary = to_summary[-1][0]
    rows = dict(re.findall(r'<th scope="row">\d+\. ([^<]+)</th>\s*<td>([^<]+)</td>', html))
    assert rows[first] == "10"
    assert rows[summary.title] == "7"
    assert rows[to_stop[-1][0].title] == "fewer than 5"
    # The chart's text alternative says the same, and draws the small count hatched.
    desc = re.search(r'<desc id="funnel-desc">(.*?)</desc>', html, re.S).group(1)
    assert f"{first}: 10." in desc and f"{summary.title}: 7." in desc and "fewer than 5" in desc
    assert "chart-bar-small" in html

    export = staff.post("/staff/insights/export.csv", data={"weeks": "4"})
    assert export.status_code == 200 and export.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    totals = {(r["section"], r["name"]): r["count"] for r in table if r["section"] != "weekly total"}
    assert totals[("step reached", journey.first_step)] == "10"
    assert totals[("step reached", summary.id)] == "7"
    assert totals[("step reached", stop_id)] == "fewer than 5"
    this_week = insights.week_of(time.time())
    weekly = {r["name"]: r["count"] for r in table if r["section"] == "weekly total" and r["week_or_period"] == this_week}
    assert weekly == {**weekly, "started": "10", "summary": "7", "request_sent": "fewer than 5",
                      f"stop:{stop_id}": "fewer than 5"}
    assert not any(re.fullmatch(r"[1-4]", r["count"]) for r in table), "a count from 1 to 4 leaked into the CSV"

    # The real figures are in the table, for the tests' eyes only.
    conn = connect(report_app.config["DATABASE_URL"])
    events = dict(conn.execute(text("SELECT event, count FROM insight_events")).fetchall())
    conn.close()
    assert events["started"] == 10 and events["summary"] == 7 and events["request_sent"] == 2
    assert events[f"stop:{stop_id}"] == 3


@pytest.mark.both_databases
def test_a_journeys_id_and_answers_appear_nowhere_in_the_counters(report_app):
    journey = report_app.extensions["journey"]
    patient = report_app.test_client()
    walk(patient, route_to_summary(journey))
    conn = connect(report_app.config["DATABASE_URL"])
    journey_ids = [row[0] for row in conn.execute(text("SELECT id FROM journeys"))]
    conn.close()
    assert journey_ids
    dump = repr(counter_rows(report_app))
    for journey_id in journey_ids:
        assert journey_id not in dump and journey_id[:12] not in dump
    # Each answer row holds one question and one answer: never two answers side by side.
    for table, *row in counter_rows(report_app):
        if table == "insight_answers":
            week, question, answer, count = row
            assert question in journey.report_questions
            assert answer in {o.value for o in journey.question(question).options}


@pytest.mark.both_databases
def test_the_report_needs_a_signed_in_staff_member_and_is_audited(report_app):
    anonymous = report_app.test_client()
    assert anonymous.get("/staff/insights").status_code in (302, 303)
    assert anonymous.post("/staff/insights/export.csv").status_code in (302, 303)
    staff = signed_in(report_app)
    assert staff.get("/staff/insights?weeks=52").status_code == 200
    assert staff.post("/staff/insights/export.csv", data={"weeks": "52"}).status_code == 200
    conn = connect(report_app.config["DATABASE_URL"])
    actions = conn.execute(text("SELECT action, detail FROM audit_log WHERE detail LIKE 'journey report%'")).fetchall()
    conn.close()
    assert [tuple(a) for a in actions] == [("viewed", "journey report, 52 weeks"), ("exported", "journey report, 52 weeks")]


def test_the_export_is_a_post_with_a_csrf_token(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)
    create_staff(app)
    staff = app.test_client()
    page = staff.get("/staff/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert factor_support.sign_in(staff, EMAIL, PASSWORD, data={"csrf_token": token}).status_code == 303
    assert staff.get("/staff/insights/export.csv").status_code == 405
    assert staff.post("/staff/insights/export.csv", data={"weeks": "4"}).status_code == 400


# --- housekeeping and demonstration figures -----------------------------------------------------------------
@pytest.mark.both_databases
def test_counters_older_than_two_years_are_removed(app):
    conn = connect(app.config["DATABASE_URL"])
    now = time.time()
    old = insights.week_of(now - 106 * 7 * 86400)
    recent = insights.week_of(now - 100 * 7 * 86400)
    for week in (old, recent):
        conn.execute(text("INSERT INTO insight_events (week, event, count) VALUES (:week, 'started', 9)"), {"week": week})
    assert insights.purge_old(conn, now) == 1
    assert [row[0] for row in conn.execute(text("SELECT week FROM insight_events"))] == [recent]
    conn.close()


@pytest.mark.both_databases
def test_demo_figures_fill_an_empty_database_and_refuse_one_with_requests(report_app, tmp_path):
    runner = report_app.test_cli_runner()
    result = runner.invoke(args=["insights", "demo", "--weeks", "12", "--seed", "1"])
    assert result.exit_code == 0, result.output
    conn = connect(report_app.config["DATABASE_URL"])
    weeks = {row[0] for row in conn.execute(text("SELECT week FROM insight_steps"))}
    conn.close()
    assert len(weeks) == 12
    staff = signed_in(report_app)
    assert staff.get("/staff/insights").status_code == 200

    assert submit_request(report_app.test_client()).status_code == 303
    refused = runner.invoke(args=["insights", "demo", "--weeks", "4"])
    assert refused.exit_code != 0 and "real request" in refused.output


# --- in a phone's browser -----------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False])
def test_the_report_renders_at_phone_width_and_is_accessible(browser, make_app, js):
    from tests.conftest import PHONE, LiveServer

    app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)
    create_staff(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["insights", "demo", "--weeks", "12", "--seed", "3"]).exit_code == 0
    with LiveServer(app) as server:
        for width in (390, 320):
            context = new_context(browser, **{**PHONE, "viewport": {"width": width, "height": 844}},
                                          java_script_enabled=js, bypass_csp=True)
            page = context.new_page()
            factor_support.browser_sign_in(page, server, EMAIL, PASSWORD, start="/staff/sign-in?next=/staff/insights")
            page.wait_for_url("**/staff/insights")
            assert page.locator("svg[role=img]").count() == 2
            assert page.locator("table.report-table").count() >= 3
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"page scrolls sideways at {width} px"
            # Chart text at least 12 px as drawn (it was about 9 px at 320 px), and inside its chart.
            drawn = page.evaluate("""() => [...document.querySelectorAll('svg.chart-svg text')].map(t => {
              const svg = t.ownerSVGElement, scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
              const box = t.getBBox(), room = svg.viewBox.baseVal;
              return [t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale,
                      box.x >= room.x - 0.5 && box.x + box.width <= room.x + room.width + 0.5
                      && box.y >= room.y - 0.5 && box.y + box.height <= room.y + room.height + 0.5]; })""")
            assert len(drawn) > 10, drawn
            assert not [d for d in drawn if d[1] < 12 or not d[2]], width
            if js:
                assert_no_axe_violations(page)
            context.close()


@pytest.mark.both_databases
def test_start_again_and_continue_later_links_are_counted_once_each(report_app):
    journey = report_app.extensions["journey"]
    route = route_to_summary(journey)
    patient = report_app.test_client()
    walk(patient, route)
    for _ in range(2):  # the save page shown twice makes one link for this journey
        html = patient.get("/journey/save").get_data(as_text=True)
    link = re.search(r'href="http://clinic\.test(/journey/continue/[^"]+)"', html).group(1)
    other_phone = report_app.test_client()
    assert other_phone.post(link).status_code == 303
    assert other_phone.post(link).status_code == 410  # a link works once: counted once
    assert other_phone.post("/journey/restart", data={"confirm": "yes"}).status_code == 303
    assert other_phone.post("/journey/restart", data={"confirm": "yes"}).status_code == 303  # nothing left: not counted

    conn = connect(report_app.config["DATABASE_URL"])
    events = dict(conn.execute(text("SELECT event, count FROM insight_events")).fetchall())
    conn.close()
    assert (events["started"], events["link_made"], events["link_used"], events["restarted"]) == (1, 1, 1, 1)
