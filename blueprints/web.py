"""Flask glue shared by every blueprint: the per-request database, htmx-aware rendering, error pages."""
import base64
import functools
import hashlib
import json
import time
from pathlib import Path
from urllib.parse import quote

import click
from flask import current_app, g, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from blueprints.i18n import language
from clinic import local_time
from clinic.db import DatabaseBusy, connect
from clinic.journey.translation import DEFAULT_LANGUAGE
from clinic.migrate import MigrationError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
HTMX_FILE = "vendor/htmx-2.0.11.min.js"

# htmx settings (read by htmx from a meta tag): no page snapshots in browser storage,
# no eval, no scripts from responses, same-origin requests only, no injected styles.
HTMX_CONFIG = {
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "includeIndicatorStyles": False,
    "defaultFocusScroll": True,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[234]..", "swap": True},
        {"code": "...", "swap": False, "error": True},
    ],
}

HTMX_CONFIG_JSON = json.dumps(HTMX_CONFIG, separators=(",", ":"))  # once: every full page's meta tag says it


def get_db():
    if "db" not in g:
        current_app.extensions["schema_gate"].require()  # a command on a database at another version stops here
        g.db = connect(current_app.config["DATABASE_URL"], busy_timeout_ms=current_app.config["DATABASE_BUSY_TIMEOUT_MS"])
    return g.db


def require_schema():
    """For a command that uses the database: stop with the message (what to run) when it is at another version."""
    try:
        current_app.extensions["schema_gate"].require()
    except MigrationError as error:
        raise click.ClickException(str(error)) from None


def close_db(exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def current_language():
    """The language of the page being served ("en", "es"): from the URL (/es/...), as Flask-Babel's locale."""
    return language()


def content_languages():
    """The languages whose content is complete and served, English first."""
    return list(current_app.extensions["journeys"])


def journey_for(language):
    """The journey in one language: the same steps, ids and routing in each, the text in that language. English
    for a language whose content is not complete (content_languages() does not list it, so no page links to it)."""
    journeys = current_app.extensions["journeys"]
    return journeys.get(language) or journeys[DEFAULT_LANGUAGE]


def journey_content():
    """The journey in the current page's language."""
    return journey_for(current_language())


def is_htmx():
    """A partial is wanted for htmx swaps, never for htmx's history restore."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def render(template, **context):
    """Render `template` as a full page, or its `_partial` twin when htmx asks for a region."""
    if is_htmx():
        folder, _, name = template.rpartition("/")
        template = f"{folder}/_{name}" if folder else f"_{name}"
        context["partial"] = True
    return render_template(template, **context)


def printed_on():
    """Today in the clinic's zone, in the page's language ("December 3, 2026", "3 de diciembre de 2026"): a printed
    summary or comparison says when it was made."""
    return local_time.long_date(time.time(), current_app.extensions["clinic_zone"], locale=language())


# Routes that answer whatever the schema: monitors must see "schema_mismatch", and files need no database.
SCHEMA_FREE_ENDPOINTS = frozenset({"ops.healthz", "static", "assets.favicon", "assets.robots"})


def init_app(app):
    app.teardown_appcontext(close_db)

    @app.before_request
    def refuse_another_schema():
        # Before the outbox and housekeeping threads start (registered later): nothing runs on a database at
        # another version. The error handler below answers 503 and logs the command to run.
        if request.endpoint not in SCHEMA_FREE_ENDPOINTS:
            app.extensions["schema_gate"].require()
    app.jinja_env.add_extension("jinja2.ext.do")
    script = (STATIC_DIR / "htmx-errors.js").read_text(encoding="utf-8").strip()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    app.extensions["inline_script"] = Markup(script)  # noqa: S704  # nosec B704 - our own static file
    app.extensions["inline_script_hash"] = f"'sha256-{digest}'"
    # The icon inline as a data: URL (allowed by img-src): Chromium asked for a linked icon again after every
    # htmx step's pushState, one extra request per answer.
    icon = (STATIC_DIR / "favicon.svg").read_text(encoding="utf-8").strip()
    app.extensions["favicon_data_url"] = "data:image/svg+xml," + quote(icon, safe=":/=")

    figures = {}

    @app.template_global()
    def icon_array(figure):
        """A figure's icon arrays (templates/_icon_array.html), drawn once per figure and language and kept: 100
        people in each picture made a fifth of the first step's time, for the same markup every time. Drawn afresh
        each time while templates reload (debug)."""
        key = (language(), figure)
        html = figures.get(key)
        if html is None:
            drawn = app.jinja_env.get_template("_icon_array.html").render(figure=figure)
            html = Markup(drawn)  # noqa: S704  # nosec B704 - our autoescaped template
            if not app.jinja_env.auto_reload:
                figures[key] = html
        return html

    @functools.lru_cache(maxsize=1024)
    def long_date_in(code, day):
        return format_date(day, "long")

    @app.template_filter("long_date")
    def long_date(day):
        """A day in the page's language, through Babel: "November 25, 2026", "25 de noviembre de 2026". Kept per
        language and day: every page's footer formats the article's date, a tenth of a full page's time."""
        return long_date_in(language(), day)

    @app.template_filter("tel")
    def tel_href(number):
        """A phone number as a tap-to-call link target: tel:+15550100, tel:911."""
        return "tel:" + "".join(c for c in str(number) if c.isdigit() or c == "+")

    @app.context_processor
    def layout_context():
        site = journey_content()
        return {
            "site": site,
            "site_label": site.title,  # the end of every page title; the staff area says "Clinic inbox" instead
            "staff_area": False,
            "htmx_config": HTMX_CONFIG_JSON,
            "htmx_file": HTMX_FILE,
            "inline_script": app.extensions["inline_script"],
            "favicon_data_url": app.extensions["favicon_data_url"],
            "partial": False,
            "printed_on": printed_on,
        }

    @app.after_request
    def vary_on_htmx(response):
        # The same URL answers with a page or a partial: caches must keep them apart.
        response.vary.add("HX-Request")
        return response

    @app.errorhandler(CSRFError)
    def csrf_expired(error):
        message = _("For your safety, forms expire after a while. "
                    "Please go back, reload the page and try again. Nothing was lost.")
        return render("errors/error.html", code=400, title=_("This page has expired"), message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        titles = {
            400: _("Something in that request was not right"),
            403: _("This form can only be sent from our own pages"),
            404: _("Page not found"),
            405: _("This page cannot be used that way"),
            413: _("That was too much text"),
        }
        messages = {
            403: _("For your safety, we only accept forms sent from this site. Please open the page on our site and "
                   "try again."),
            404: _("We could not find that page. It may have moved."),
            413: _("What you sent was larger than we can accept. Please shorten it and try again."),
        }
        code = error.code or 500
        return render("errors/error.html", code=code, title=titles.get(code, _("Something went wrong")),
                      message=messages.get(code, _("Please go back and try again."))), code

    @app.errorhandler(MigrationError)
    def schema_not_ready(error):
        # Every page, until `flask --app app db upgrade` has run: the deployer reads the log, the patient reads
        # that the site is being updated (nothing they typed reached the database).
        current_app.logger.error("refusing to serve: %s", error)
        response = current_app.make_response((render(
            "errors/error.html", code=503, title=_("The site is being updated"),
            message=_("Please try again in a few minutes.")), 503))
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(DatabaseBusy)
    def database_busy(error):
        # Locked by a long writer, disk full, read-only: a moment's trouble, not a broken page. Any other
        # database error (a missing column, a damaged file) is a fault: server_error below logs it, answers 500.
        current_app.logger.warning("database unavailable on %s %s: %s", request.method, request.url_rule, error)
        response = current_app.make_response((render(
            "errors/error.html", code=503, title=_("The site is busy"),
            message=_("We could not save or load your answers just now. Please try again in a moment. "
                      "What you answered before is kept.")), 503))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def server_error(error):
        current_app.logger.exception("Unhandled error on %s %s", request.method, request.url_rule)
        return render("errors/error.html", code=500, title=_("Something went wrong on our side"),
                      message=_("Please try again in a moment.")), 500
