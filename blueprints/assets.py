"""Static files: versioned URLs (?v=<content hash>) cached for a year, and the icon at /favicon.ico."""
import hashlib
from pathlib import Path

from flask import Blueprint, current_app, request, send_from_directory

bp = Blueprint("assets", __name__)
ONE_YEAR = 365 * 24 * 3600
VERSION_LENGTH = 10


def file_versions(static_dir):
    """{"site.css": "3f2a9c01b7", ...}: the first hex digits of each file's SHA-256, computed once at start-up."""
    root = Path(static_dir)
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:VERSION_LENGTH]
        for path in sorted(root.rglob("*")) if path.is_file()
    }


def init_app(app):
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:  # Flask's default (None) means "no caching"
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = ONE_YEAR
    versions = file_versions(app.static_folder)
    app.extensions["static_versions"] = versions

    @app.url_defaults
    def version_static_urls(endpoint, values):
        # A new release changes the hash, so a browser never pairs new pages with an old stylesheet.
        if endpoint == "static" and "v" not in values:
            version = versions.get(values.get("filename", ""))
            if version:
                values["v"] = version

    @app.after_request
    def immutable_static(response):
        if request.endpoint == "static" and response.status_code == 200:
            filename = (request.view_args or {}).get("filename", "")
            if request.args.get("v") and request.args.get("v") == versions.get(filename):
                response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
            else:
                # Unversioned or stale version: the content may change under this URL, so keep it briefly.
                response.headers["Cache-Control"] = "public, max-age=3600"
                response.headers.pop("Expires", None)
        return response

    app.register_blueprint(bp)


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico whatever the page links; answer with the SVG rather than a 404.
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=24 * 3600)


@bp.get("/robots.txt")
def robots():
    return send_from_directory(current_app.static_folder, "robots.txt", mimetype="text/plain", max_age=24 * 3600)
