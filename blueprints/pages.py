"""Plain content pages: the references and the pages under content/pages/ (privacy notice)."""
from flask import Blueprint, abort

from blueprints.web import journey_content, render

bp = Blueprint("pages", __name__)


@bp.get("/references")
def references():
    return render("pages/references.html", title="References", references=journey_content().references)


@bp.get("/privacy")
def privacy():
    return content_page("privacy")


def content_page(slug):
    page = journey_content().pages.get(slug) or abort(404)
    title, html = page
    return render("pages/page.html", title=title, body=html)
