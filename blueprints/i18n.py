"""Languages: English at /, Spanish at /es/... (Flask-Babel picks the interface text from the URL alone).

`/es` is moved from the path into SCRIPT_NAME before Flask sees the request, so one set of routes serves both
languages and every url_for() and redirect made while serving a Spanish page stays under /es/ (htmx partials and
the request form included). A cookie never chooses the language, and Accept-Language never redirects: on the
start page it only shows a "Ver en español" link.
"""
import logging
from pathlib import Path

from flask import abort, current_app, g, has_request_context, request
from flask_babel import Babel, get_translations

from clinic import catalogs

DEFAULT = "en"
# Languages served under a prefix of their own, with the name a reader of that language knows it by.
PREFIXED = {"es": "Español"}
NAMES = {"en": "English", **PREFIXED}
# Only patient pages have a Spanish twin; staff pages, FHIR, /healthz stay English at one address.
PATIENT_BLUEPRINTS = {"journey", "pages", "requests"}
ENVIRON_KEY = "clinic.language"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
log = logging.getLogger(__name__)


class LanguagePrefix:
    """WSGI wrapper: /es/journey/x is served as /journey/x with SCRIPT_NAME ending in /es."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for code in PREFIXED:
            prefix = "/" + code
            if path == prefix or path.startswith(prefix + "/"):
                environ["clinic.script_name"] = environ.get("SCRIPT_NAME", "")
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):] or "/"
                environ[ENVIRON_KEY] = code
                break
        return self.wsgi_app(environ, start_response)


def language():
    """'en' or 'es': the language of the page being served (from its URL), 'en' outside a request."""
    if not has_request_context():
        return DEFAULT
    return request.environ.get(ENVIRON_KEY, DEFAULT)


def offered_languages():
    """English, and each language whose content is complete (es-loader's `extensions["journeys"]`): the ones
    linked to. A Spanish URL still works without it (Spanish interface, English content), linked from nowhere;
    from there the link leads back to English."""
    journeys = current_app.extensions.get("journeys") or {}
    offered = [code for code in NAMES if code == DEFAULT or code in journeys]
    here = language()
    return offered if here in offered else [DEFAULT, here]


def showing(url):
    """Say which page this response shows when it is not the request's own URL: an htmx answer posted to step A
    returns step B (the URL htmx pushes), and the language link must lead to B."""
    g.shown_url = url


def page_url(code):
    """This page's path in language `code`: the header's language link and hreflang. Without the query string:
    nothing a link elsewhere put there is echoed into the page (a page's arguments are checked by its view)."""
    return page_url_maker()(code)


def page_url_maker():
    """page_url for this request, the request read once (each page asks for it in up to four languages)."""
    req = request._get_current_object()
    root = req.script_root
    base = req.environ.get("clinic.script_name", root)
    shown = g.get("shown_url")
    if shown and shown.startswith(root + "/"):
        path = shown[len(root):].split("?", 1)[0]
    else:
        path = req.path
    return lambda code: base + ("" if code == DEFAULT else "/" + code) + path


def static_at_the_root(app):
    """Static files keep one address in every language (/static/..., which nginx serves from disk and browsers
    cache once), though url_for() on a Spanish page puts everything else under /es."""
    build = app.url_for

    def url_for(endpoint, **values):
        url = build(endpoint, **values)
        if endpoint == "static" and has_request_context() and ENVIRON_KEY in request.environ:
            root = request.script_root
            if url.startswith(root + "/"):
                return request.environ["clinic.script_name"] + url[len(root):]
        return url

    app.url_for = url_for
    app.jinja_env.globals["url_for"] = url_for  # the environment already holds the method it was made with


def page_catalogs(app):
    """Templates find their language's catalog by the URL's language, kept per app: Flask-Babel's own callables
    looked it up on `g` three times and parsed the locale again for every message, a quarter of a step's template
    time. The locale is the URL's language either way (`locale_selector=language`); outside a request the lookup
    is Flask-Babel's, not kept."""
    kept = {}

    def catalog():
        if not has_request_context():
            return get_translations()
        code = language()
        found = kept.get(code)
        if found is None:
            found = kept[code] = get_translations()
        return found

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: catalog().ugettext(s),
        ngettext=lambda s, p, n: catalog().ungettext(s, p, n),
        pgettext=lambda c, s: catalog().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalog().unpgettext(c, s, p, n),
        newstyle=True,
    )


def init_app(app):
    try:
        catalogs.compile_stale(TRANSLATIONS_DIR)
    except OSError as error:  # a read-only checkout: `make install` compiled them; serve what is there
        log.warning("could not compile the translations in %s (%s): serving the compiled ones as they are",
                    TRANSLATIONS_DIR, error)
    Babel(app, locale_selector=language, default_translation_directories=str(TRANSLATIONS_DIR))
    page_catalogs(app)
    app.wsgi_app = LanguagePrefix(app.wsgi_app)
    static_at_the_root(app)

    @app.before_request
    def patient_pages_only():
        # /es/staff, /es/healthz ...: one address each, in English.
        if language() != DEFAULT and request.endpoint != "static" and request.blueprint not in PATIENT_BLUEPRINTS:
            abort(404)

    @app.context_processor
    def language_context():
        if not has_request_context():  # `flask content review-pack` renders without a request
            return {"page_language": DEFAULT, "other_language": None, "alternates": [], "offer_spanish": False}
        here = language()
        offered = offered_languages()
        other = next((code for code in offered if code != here), None)
        base_url = current_app.config["BASE_URL"].rstrip("/")
        offer_spanish = ("es" in offered and here == DEFAULT and request.endpoint == "journey.start"
                         and request.accept_languages.best_match(["en", "es"]) == "es")
        page_url = page_url_maker()
        return {
            "page_language": here,
            "other_language": {"code": other, "name": NAMES[other], "url": page_url(other)} if other else None,
            # Absolute, as search engines want them; x-default is the English page.
            "alternates": [(code, base_url + page_url(code)) for code in offered]
                          + [("x-default", base_url + page_url(DEFAULT))] if len(offered) > 1 else [],
            "offer_spanish": offer_spanish,
            "spanish_start_url": page_url("es") if offer_spanish else None,
        }

    @app.after_request
    def vary_on_accept_language(response):
        # The English start page differs by Accept-Language (the "Ver en español" notice).
        if language() == DEFAULT and request.endpoint == "journey.start":
            response.vary.add("Accept-Language")
        return response
