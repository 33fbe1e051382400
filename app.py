"""Application factory: configuration, extensions and blueprints. `flask --app app run` finds `app`."""
import logging
import os
import secrets
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import (
    assets,
    fhir,
    housekeeping,
    i18n,
    insights,
    journey,
    ops,
    pages,
    request_log,
    requests,
    security,
    staff,
    web,
)
from clinic import local_time, migrate, production
from clinic.journey import load_journeys
from clinic.private_files import private_folder, tighten_database
from clinic.settings import Settings, unknown_variables
from clinic.triage import load_triage

log = logging.getLogger(__name__)
csrf = CSRFProtect()

# Flask's own configuration, fixed for this site (not settings: the environment does not change them).
FIXED_CONFIG = {
    "MAX_CONTENT_LENGTH": 64 * 1024,  # no form comes near it; only /request with FLASK_UPLOADS=true takes more
    "MAX_FORM_MEMORY_SIZE": 64 * 1024,
    "WTF_CSRF_TIME_LIMIT": 3600,
    # Cookies: only a random id travels in them
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # The staff session token has a cookie of its own, apart from the patient's journey in Flask's session
    # cookie: nothing a patient page does (a continue-later link, "Start again") can sign staff out.
    "STAFF_COOKIE_NAME": "staff",  # "__Host-staff" in production (blueprints/security.py)
}


def create_app(config=None):
    """The site. `config` (tests, scripts) overrides settings and may add Flask's own keys such as TESTING."""
    app = Flask(__name__, instance_relative_config=True)
    production.configure_logging()
    # Every setting read once, typed and checked (clinic/settings.py): FLASK_SECRET_KEY -> SECRET_KEY ...
    settings = Settings.from_sources(os.environ, config)
    for warning in unknown_variables(os.environ):
        log.warning("%s", warning)
    app.extensions["settings"] = settings
    app.config.update(FIXED_CONFIG)
    app.config.update(settings.as_config())
    if config:
        app.config.update({key: value for key, value in config.items() if key not in Settings.model_fields})
    # Refuses (ConfigError, with what to change) a placeholder or short key, or the debugger, in production.
    production.check_production(app.config, debug=app.debug)
    for warning in production.production_warnings(app.config):
        log.warning("%s", warning)
    if app.config["PRODUCTION"]:
        app.config["BENCH_ROUTE"] = False
    try:
        app.extensions["clinic_zone"] = local_time.load_zone(app.config["CLINIC_TIMEZONE"])
    except ValueError as error:
        raise production.ConfigError(f"Refusing to start: {error}") from None
    if app.config["PROXY_FIX"]:
        # Trust one proxy's X-Forwarded-For/-Proto/-Host, so is_secure and the client address are right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    private_folder(app.instance_path, tighten=True)  # 0700: the database, mail files and secret key live here
    if not app.config.get("DATABASE"):
        app.config["DATABASE"] = os.path.join(app.instance_path, "clinic.sqlite3")
    if not app.config.get("DATABASE_URL"):
        # What clinic.db.connect() is given everywhere: PostgreSQL when FLASK_DATABASE_URL says so, else the file.
        app.config["DATABASE_URL"] = f"sqlite:///{os.path.abspath(app.config['DATABASE'])}"
    if not app.config.get("UPLOADS_DIR"):
        # Beside the database, outside static/: the same private folder (0700), files 0600 (clinic/uploads.py)
        app.config["UPLOADS_DIR"] = str(Path(app.config["DATABASE"]).parent / "uploads")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)

    # The factory never creates or changes a table: `flask --app app db upgrade` does (make run, make serve and the
    # systemd unit run it first). Serving refuses a database at another version (clinic/migrate.py Gate: every page
    # is a 503 and the log names the command; gunicorn.conf.py stops start-up), and so do the commands that use it.
    app.extensions["schema_gate"] = migrate.Gate(app.config["DATABASE_URL"])
    if not app.config.get("DATABASE_URL", "").startswith("postgres"):
        tighten_database(app.config["DATABASE"])  # 0600, the -wal and -shm too, if an older release left them wider
    # A broken content file stops start-up here, naming the file and the field.
    # Every language's journey (content/<lang>/ over the English), served only once complete: blueprints ask
    # blueprints.web.journey_content() for the current page's language.
    translation_problems = {}
    app.extensions["journeys"] = load_journeys(app.config["CONTENT_DIR"], problems=translation_problems)
    for language, problem in translation_problems.items():
        log.error("The %s content is not served, English only: %s (README, 'The Spanish content')", language, problem)
    app.extensions["journey"] = content = app.extensions["journeys"]["en"]
    production.check_clinic_phone(content.clinic_phone, production=app.config["PRODUCTION"],
                                  path=Path(app.config["CONTENT_DIR"]) / "journey.yaml")
    if app.config["PRODUCTION"] and content.review_status() != "reviewed":
        log.warning("Content version %s has no clinical sign-off: every page says it is not yet reviewed "
                    "(README, 'Content and clinical review')", content.version)
    app.extensions["triage"] = load_triage(app.config["CONTENT_DIR"])  # flagged requests: phrases, banner text

    # Order matters: hooks run in the order they are registered.
    request_log.init_app(app)  # first: its clock covers every other hook, its line sees the final status
    security.init_app(app)  # before CSRF: a cross-site post is refused with 403 before its token is checked
    csrf.init_app(app)
    web.init_app(app)  # database teardown, layout context, error pages
    i18n.init_app(app)  # Flask-Babel; Spanish patient pages at /es/... (a WSGI wrapper), English at /
    app.register_blueprint(journey.bp)
    app.register_blueprint(pages.bp)
    requests.init_app(app)  # the request form at /request, its rate limit, the outbox sender and `outbox send`
    fhir.init_app(app)  # /fhir/Questionnaire/fbss-journey, from the content loaded above
    staff.init_app(app)  # the staff inbox at /staff and the `staff` / `requests` commands
    insights.init_app(app)  # the journey report at /staff/insights and `insights demo`
    assets.init_app(app)  # versioned static URLs, favicon.ico, robots.txt
    ops.init_app(app)  # /healthz and the `db backup` / `db restore` commands
    housekeeping.init_app(app)  # `flask housekeeping`, and its schedule in each serving process
    return app


def _instance_secret_key(instance_path):
    """Use instance/secret_key, creating it once (mode 0600) so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        log.info("No FLASK_SECRET_KEY set: using the one in %s", path)
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    log.warning("No FLASK_SECRET_KEY set: generated one into %s (mode 0600)", path)
    return key


def __getattr__(name):
    """`app` is built on first use, so importing create_app (as tests do) has no side effects."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
