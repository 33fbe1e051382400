"""Plain content pages: the references (with their footnotes for htmx), the side-by-side comparison of options,
and the pages under content/pages/."""
from flask import Blueprint, abort, redirect, render_template, request, url_for

from blueprints.web import is_htmx, journey_content, render
from clinic.journey.render import citation_marker, cite_origin

bp = Blueprint("pages", __name__)


def where_from():
    """(step id, marker id) a reference was tapped from, when the marker names a step of this journey; else
    (None, None). The way back is built from a known step id, never from a URL someone sent: no open redirect."""
    cite = request.args.get("cite", "")
    origin = cite_origin(cite)
    if origin not in journey_content().steps:
        return None, None
    return origin, cite


@bp.get("/references")
def references():
    origin, cite = where_from()
    back_url = url_for("journey.step", step_id=origin, _anchor=cite) if origin else None
    return render("pages/references.html", title="References", references=journey_content().references,
                  back_url=back_url)


@bp.get("/references/<int:number>/note")
def reference_note(number):
    """One reference opened in place next to its marker (htmx), or closed again with open=0."""
    text = journey_content().references.get(number) or abort(404)
    origin, cite = where_from()
    if origin is None:
        abort(404)
    page_url = url_for("pages.references", cite=cite, _anchor=f"ref-{number}")
    if not is_htmx():
        return redirect(page_url)
    opened = request.args.get("open") != "0"
    marker = citation_marker(number, "/references#ref-{n}", cite, expanded=opened)
    return render_template("pages/_reference_note.html", marker=marker, opened=opened, cite=cite, number=number,
                           text=text, page_url=page_url)


@bp.get("/compare")
def compare():
    comparison = journey_content().comparison or abort(404)
    return render("pages/compare.html", title=comparison.title, comparison=comparison)


@bp.get("/privacy")
def privacy():
    return content_page("privacy")


def content_page(slug):
    page = journey_content().pages.get(slug) or abort(404)
    title, html = page
    return render("pages/page.html", title=title, body=html)
