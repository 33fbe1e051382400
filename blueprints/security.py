"""Security headers on every response, production cookie settings, and refusal of cross-site form posts."""
import io
from urllib.parse import urlsplit

from flask import abort, request
from flask.sessions import SecureCookieSessionInterface

from clinic.production import PROXY_FIX_OFF, forwarded_without_proxy_fix

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pages that show answers, contact details or staff data: browsers and proxies must not keep a copy.
NO_STORE_BLUEPRINTS = frozenset({"journey", "requests", "staff"})

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: flask-wtf's CSRF check over HTTPS compares the Referer with our host.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors 'none' for browsers that predate CSP level 2
}
HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(inline_script_hash):
    """The one policy for every response: our own origin only, plus the hash of the layout's inline script."""
    return "; ".join([
        "default-src 'self'",
        "img-src 'self' data:",  # the icon is a data: URL in the page, so no step asks for it again
        f"script-src 'self' {inline_script_hash}",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ])


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, unchanged, with its signing serializer made once per key instead of twice a
    request (making one serialises an empty dict to learn its own output type)."""

    def __init__(self):
        self._kept = (object(), None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        kept_for, serializer = self._kept
        if kept_for != keys:
            serializer = super().get_signing_serializer(app)
            self._kept = (keys, serializer)
        return serializer


def _read_at_most(stream, size):
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def init_app(app):
    """Call before CSRFProtect.init_app: before_request hooks run in order, so a foreign post gets 403, not 400."""
    app.session_interface = SessionCookies()
    if app.config.get("PRODUCTION"):
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain: no subdomain can set it.
        app.config.update(
            SESSION_COOKIE_SECURE=True,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_NAME="__Host-session",
            SESSION_COOKIE_PATH="/",
            SESSION_COOKIE_DOMAIN=None,
            STAFF_COOKIE_NAME="__Host-staff",  # the staff sign-in's own cookie, with the same attributes
        )

    if app.config.get("PRODUCTION") and not app.config.get("PROXY_FIX"):
        warned = []

        @app.before_request
        def warn_when_proxied_without_proxy_fix():
            # Once per process: nginx forwards from loopback with X-Forwarded-For, which the app is not reading.
            if not warned and forwarded_without_proxy_fix(request.remote_addr, request.headers):
                warned.append(True)
                app.logger.warning("Requests arrive from %s with X-Forwarded-For while %s", request.remote_addr,
                                   PROXY_FIX_OFF)

    @app.before_request
    def refuse_oversized_bodies():
        # Werkzeug only enforces the limit when a view reads the form; refuse up front so every route answers alike.
        larger = app.extensions.get("upload_body_limits", {}).get(request.endpoint)
        if larger:  # the request form with FLASK_UPLOADS=true (blueprints/requests.py): files up to its limit
            request.max_content_length = larger
        limit = request.max_content_length
        if limit is None:
            return
        if request.content_length is not None:
            if request.content_length > limit:
                abort(413)
        elif "chunked" in request.headers.get("Transfer-Encoding", "").lower() and "wsgi.input_terminated" in request.environ:
            # A chunked body (no Content-Length; gunicorn and the dev server end the stream): Werkzeug would cut
            # it at the limit and the form would read as half empty. Read up to one byte past the limit here.
            body = _read_at_most(request.environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                abort(413)
            request.environ["wsgi.input"] = io.BytesIO(body)
            request.environ["CONTENT_LENGTH"] = str(len(body))

    @app.before_request
    def refuse_cross_site_posts():
        # A second line behind the CSRF token: browsers say where a request comes from.
        if request.method not in UNSAFE_METHODS:
            return
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None:
            if fetch_site == "cross-site":
                abort(403)
            return
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            abort(403)  # includes "null", sent by sandboxed frames and privacy-stripped redirects

    @app.before_request
    def refuse_file_uploads():
        # Only the request form takes files, and only with uploads on (it reads them itself). Anywhere else a
        # crafted multipart post would hand a text field (name, email, password) a FileStorage object, which
        # WTForms validators cannot measure.
        if request.endpoint in app.extensions.get("upload_body_limits", {}):
            return
        if request.method in UNSAFE_METHODS and request.mimetype == "multipart/form-data" and request.files:
            abort(400)

    @app.after_request
    def security_headers(response):
        csp_hash = app.extensions.get("inline_script_hash", "")
        if not response.headers.get("Content-Security-Policy", "").startswith("sandbox"):
            # A stricter policy a view set for a download (staff files: `sandbox`) stays.
            response.headers["Content-Security-Policy"] = content_security_policy(csp_hash)
        for name, value in STATIC_HEADERS.items():
            response.headers[name] = value
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = HSTS
        if NO_STORE_BLUEPRINTS.intersection(request.blueprints):  # nested ones too (staff.factors)
            response.headers["Cache-Control"] = "no-store"
        return response
