"""The journey report at /staff/insights: where patients stop, counted per week without tracking anyone."""
from datetime import UTC, datetime

import click
from flask import Blueprint, current_app, make_response, request
from flask.cli import AppGroup
from sqlalchemy import text

from blueprints import staff
from blueprints.web import get_db, journey_content, render
from clinic import insights, local_time
from clinic.db import connect

bp = Blueprint("insights", __name__, url_prefix="/staff/insights")
bp.before_request(staff.require_staff)  # signed-in staff only, exactly as the inbox
bp.context_processor(staff.staff_area_context)  # the inbox's own header and footer, not the patient site's


# --- the report's words (clinic/insights.py names events by id; Flask-Babel will wrap these) ---------------------
FEWER = f"fewer than {insights.SMALL}"
EVENT_LABELS = {
    "started": "Journeys started",
    "summary": "Summaries reached",
    "request_sent": "Requests sent",
    "restarted": "“Start again” used",
    "link_made": "Continue-later links made",
    "link_used": "Continue-later links used",
}
EVENT_SHORT_LABELS = {"started": "Started", "summary": "Summaries", "request_sent": "Requests",
                      "restarted": "Start again", "link_made": "Links made", "link_used": "Links used"}


def shown(count):
    """A count as staff may see it: 1 to 4 become "fewer than 5" (0 stays 0: nobody is in it)."""
    return FEWER if insights.is_small(count) else count


def event_label(journey, name):
    step_id = insights.stop_step(name)
    if step_id is not None:
        step = journey.steps.get(step_id)
        return f"Stop page shown: {step.title if step else step_id}"
    return EVENT_LABELS.get(name, name)


def event_short_label(journey, name):
    """A column heading that fits a phone: a stop page is named by its number in the funnel."""
    step_id = insights.stop_step(name)
    if step_id is not None:
        order = insights.funnel_order(journey)
        return f"Stop at step {order.index(step_id) + 1}" if step_id in order else name
    return EVENT_SHORT_LABELS.get(name, name)


def audited_report(action):
    """(weeks, content, report) for the period the request asks for; staff reading it is audited as `action`."""
    weeks = insights.period_weeks(request.values.get("weeks", type=int))
    content = journey_content()
    report = insights.build_report(get_db(), content, staff.now(), weeks)
    staff.audited(action, detail=f"journey report, {weeks} weeks")
    return weeks, content, report


@bp.get("", endpoint="report")
@staff.not_from_other_sites  # reading the report writes a "viewed" row
def report_page():
    weeks, content, report = audited_report("viewed")
    return render("staff/insights.html", title="Journey report", report=report, weeks=weeks,
                  periods=insights.PERIODS,
                  starts_on=local_time.long_day(insights.week_start(report.first_week)), funnel=insights.funnel_bars(report),
                  weekly=insights.weekly_bars(report), event_label=lambda name: event_label(content, name),
                  short_label=lambda name: event_short_label(content, name),
                  shown=shown, is_small=insights.is_small, fewer=FEWER)


@bp.post("/export.csv", endpoint="export")
@staff.admin_only
def export():
    weeks, content, report = audited_report("exported")
    stamp = datetime.fromtimestamp(int(staff.now()), UTC).strftime("%Y%m%d")
    text = insights.report_csv(report, event_label=lambda name: event_label(content, name), shown=shown)
    response = make_response("\ufeff" + text)  # BOM: spreadsheets read UTF-8
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="journey-report-{weeks}w-{stamp}.csv"'
    return response


insights_cli = AppGroup("insights", help="The journey report's weekly counters.")


@insights_cli.command("demo")
@click.option("--weeks", type=click.IntRange(1, insights.KEEP_WEEKS), default=12, show_default=True,
              help="How many weeks back to fill.")
@click.option("--database", type=click.Path(dir_okay=False), default=None,
              help="The SQLite file to fill (default: the app's own). It must hold no requests.")
@click.option("--seed", type=int, default=None, help="Random seed, for the same figures every time.")
def demo_command(weeks, database, seed):
    """Fill plausible counts for demonstrations and screenshots (refuses a database that holds requests)."""
    import random  # demonstration figures only, nothing secret

    path = database or current_app.config["DATABASE_URL"]
    conn = connect(path)
    try:
        try:
            held = conn.execute(text("SELECT COUNT(*) FROM requests")).scalar_one()
        except Exception as error:  # noqa: BLE001 - any failure here means: not a database of ours
            raise click.ClickException(f"{path} is not this site's database ({error})") from None
        if held:
            raise click.ClickException(f"{path} holds {held} real request(s): demo counts go only into an empty database")
        counted = insights.fill_demo(conn, journey_content(), weeks, current_app.config.get("STAFF_CLOCK") or None,
                                     random.Random(seed))  # noqa: S311  # nosec B311 - made-up demo counts, not a secret
    finally:
        conn.close()
    click.echo(f"insights: filled {weeks} weeks of demonstration counts ({counted} journeys) into {path}")


def init_app(app):
    app.register_blueprint(bp)
    app.cli.add_command(insights_cli)
