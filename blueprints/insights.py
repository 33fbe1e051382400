"""The journey report at /staff/insights: where patients stop, counted per week without tracking anyone."""
from datetime import UTC, datetime

import click
from flask import Blueprint, current_app, make_response, request
from flask.cli import AppGroup

from blueprints import staff
from blueprints.web import get_db, journey_content, render
from clinic import insights
from clinic.db import connect

bp = Blueprint("insights", __name__, url_prefix="/staff/insights")
bp.before_request(staff.require_staff)  # signed-in staff only, exactly as the inbox
bp.context_processor(staff.staff_area_context)  # the inbox's own header and footer, not the patient site's


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
                  starts_on=insights.week_start(report.first_week).strftime('%B %-d, %Y'), funnel=insights.funnel_bars(report),
                  weekly=insights.weekly_bars(report), event_label=lambda name: insights.event_label(content, name),
                  short_label=lambda name: insights.event_short_label(content, name),
                  shown=insights.shown, is_small=insights.is_small, fewer=insights.FEWER)


@bp.post("/export.csv", endpoint="export")
def export():
    weeks, content, report = audited_report("exported")
    stamp = datetime.fromtimestamp(int(staff.now()), UTC).strftime("%Y%m%d")
    response = make_response("\ufeff" + insights.report_csv(report, content))  # BOM: spreadsheets read UTF-8
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

    path = database or current_app.config["DATABASE"]
    conn = connect(path)
    try:
        try:
            held = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
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
