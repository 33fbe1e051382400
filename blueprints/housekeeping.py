"""Housekeeping's Flask glue: the `flask housekeeping` command, and (without the systemd timer) a run when each
serving process starts serving and then on a schedule (the tasks themselves: clinic/housekeeping.py)."""
import click
from flask import current_app
from flask.cli import with_appcontext

from blueprints.web import require_schema
from clinic import housekeeping
from clinic.outbox import Sender


def in_process(app):
    return app.config["HOUSEKEEPING_IN_PROCESS"] and not app.testing


def run_once(app):
    return housekeeping.run(app.config["DATABASE_URL"], app.config,
                            busy_timeout_ms=app.config["DATABASE_BUSY_TIMEOUT_MS"])


@click.command("housekeeping")
@with_appcontext
def housekeeping_command():
    """Remove expired journeys, idle staff sessions, requests past retention and other expired rows. Safe any time."""
    failed = False
    require_schema()
    outcomes = run_once(current_app)
    if outcomes is None:
        click.echo("housekeeping: another process or host is running it now; nothing to do here")
        return
    for outcome in outcomes:
        if outcome.removed is None:
            failed = True
            click.echo(f"{outcome.task}: not done ({outcome.error})", err=True)
        else:
            click.echo(f"{outcome.task}: {outcome.removed} removed")
    if failed:
        raise click.ClickException("some tasks did not run; the next run tries them again")


def init_app(app):
    app.cli.add_command(housekeeping_command)
    scheduler = Sender(lambda: run_once(app), interval=float(app.config["HOUSEKEEPING_INTERVAL_SECONDS"]),
                       name="housekeeping")
    app.extensions["housekeeping"] = scheduler

    @app.before_request
    def start_housekeeping():
        # From the first request each process serves: a run straight away, then one every interval. Started
        # here, not in create_app, so the thread lives in gunicorn's worker (not the master it was forked
        # from) and `flask` commands such as `db upgrade` never run housekeeping on a database not yet upgraded.
        if in_process(app):
            scheduler.ensure_started()
