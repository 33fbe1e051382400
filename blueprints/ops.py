"""Operations: /healthz for monitors, the `flask db upgrade|status|backup|restore` commands, and the benchmark's trivial route."""
import hmac
import ipaddress
from pathlib import Path

import click
from flask import Blueprint, current_app, jsonify, request
from flask.cli import AppGroup
from werkzeug.exceptions import SecurityError

from clinic import backup, health, migrate, pg_backup, run_once
from clinic.db import connect, describe, engine

bp = Blueprint("ops", __name__)
bench_bp = Blueprint("bench", __name__)


@bp.get("/healthz")
def healthz():
    healthy, report = health.check(current_app.config["DATABASE_URL"],
                                   busy_timeout_ms=current_app.config.get("HEALTHZ_BUSY_TIMEOUT_MS", 1000),
                                   probe=current_app.extensions["health_probe"])
    # The outbox figures tell how busy the clinic is: only for this machine's own monitors, or with the token.
    response = jsonify(report if may_see_figures() else {"status": report["status"]})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def may_see_figures():
    """A caller on loopback (behind nginx, FLASK_PROXY_FIX makes this the real client), or one that sends
    `Authorization: Bearer <FLASK_HEALTHZ_TOKEN>`."""
    try:
        if ipaddress.ip_address(request.remote_addr or "").is_loopback:
            return True
    except ValueError:
        pass
    token = current_app.config.get("HEALTHZ_TOKEN") or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bench_bp.get("/bench/ping")
def ping():
    # The ceiling for this stack: same app, hooks and server, almost no work. Only with BENCH_ROUTE=True.
    return "ok", 200, {"Content-Type": "text/plain"}


db_cli = AppGroup("db", help="Upgrade, back up or restore the database (SQLite, or PostgreSQL with FLASK_DATABASE_URL).")


@db_cli.command("upgrade")
@click.option("--backup-to", "backup_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the backup taken first (default: backups/ beside the database).")
def upgrade_command(backup_dir):
    """Back up the database, then apply each pending migration in its own transaction.
    PostgreSQL: a pg_dump backup (when there is data and something to do), and an advisory lock, so two hosts
    running this at once apply each migration once."""
    path = current_app.config["DATABASE"]
    backup_dir = backup_dir or str(Path(path).parent / "backups")
    database = current_app.config["DATABASE_URL"]
    postgres = pg_backup.is_postgres(database)
    try:
        applied = migrate.upgrade(database if postgres else path, backup_dir=backup_dir, report=click.echo,
                                  uploads_dir=current_app.config["UPLOADS_DIR"] if postgres else None)
    except (migrate.MigrationError, backup.BackupError) as error:
        raise click.ClickException(str(error)) from error
    version = migrate.head()
    click.echo(f"Database at schema version {version}" + ("" if applied else " already; nothing to do"))


@db_cli.command("status")
def status_command():
    """Print the database's schema version and the one this code needs; exit 1 when they differ."""
    database = current_app.config["DATABASE_URL"]
    path = describe(database)
    conn = connect(database)
    try:
        state = migrate.status(conn)
    finally:
        conn.close()
    click.echo(f"{path}: {state.describe()}; this code needs version {state.head}")
    if state.ahead:
        raise click.ClickException(migrate.ahead_message(path, state))
    if state.behind and not state.empty:
        raise click.ClickException(f"Behind: run `{migrate.UPGRADE_COMMAND}`")


@db_cli.command("backup")
@click.argument("target", type=click.Path())
@click.option("--keep", type=int, default=0, help="When TARGET is a directory, keep only the newest N backups in it.")
def backup_command(target, keep):
    """Copy the live database to TARGET (a file, or a directory for a dated file) and check the copy.
    When another process or host is taking a backup at this moment, say so and do nothing (exit 0)."""
    database = current_app.config["DATABASE_URL"]
    with run_once.exclusive("backup", database_path=current_app.config["DATABASE"], engine=engine(database)) as held:
        if not held:
            click.echo("Another process or host is taking a backup now; nothing to do here")
            return
        # PostgreSQL: pg_dump, checked by reading the archive back (clinic/pg_backup.py); SQLite: the backup API.
        kind = pg_backup if pg_backup.is_postgres(database) else backup
        try:
            result = kind.backup(database if kind is pg_backup else current_app.config["DATABASE"], target,
                                 uploads_dir=current_app.config["UPLOADS_DIR"])
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from error
        counts = ", ".join(f"{name} {count}" for name, count in result.tables.items())
        click.echo(f"Backup written to {result.path} ({result.size_bytes} bytes, integrity ok; rows: {counts})")
        if keep and Path(target).is_dir():
            for path in kind.prune(result.path.parent, keep):
                click.echo(f"Removed old backup {path}")


@db_cli.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(source, yes):
    """Replace the database with the backup SOURCE. Stop the site first (systemctl stop fbss-journey)."""
    database = current_app.config["DATABASE_URL"]
    postgres = pg_backup.is_postgres(database)
    if not yes:
        where = "the PostgreSQL database" if postgres else current_app.config["DATABASE"]
        click.confirm(f"Replace everything in {where} with {source}?", abort=True)
    try:
        if postgres:
            tables = pg_backup.restore(source, database, uploads_dir=current_app.config["UPLOADS_DIR"])
        else:
            tables = backup.restore(source, current_app.config["DATABASE"], uploads_dir=current_app.config["UPLOADS_DIR"])
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo("Restored; rows: " + ", ".join(f"{name} {count}" for name, count in tables.items()))


def init_app(app):
    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        # A Host header outside TRUSTED_HOSTS: no URL can be built for it, so the templated error page
        # would fail; a plain 400 is all such a client needs.
        return "Bad request: unknown host\n", 400, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}

    app.extensions["health_probe"] = health.WriteProbe(interval=app.config["HEALTHZ_PROBE_SECONDS"])
    app.register_blueprint(bp)
    app.cli.add_command(db_cli)
    if app.config.get("BENCH_ROUTE"):
        app.register_blueprint(bench_bp)
