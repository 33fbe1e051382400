"""Plain content pages: the references (with their footnotes for htmx), the side-by-side comparison of options,
and the pages under content/pages/; and the `flask content` commands."""
import re
from datetime import date
from pathlib import Path

import click
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from blueprints.web import STATIC_DIR, current_language, is_htmx, journey_content, render
from clinic.journey import review_pack
from clinic.journey.render import citation_marker, cite_origin
from clinic.journey.translation import LANGUAGE_NAMES

# `flask content ...`: commands about the journey content (README "Content and clinical review").
bp = Blueprint("pages", __name__, cli_group="content")


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
    return render("pages/references.html", title=_("References"), references=journey_content().references,
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
    marker = citation_marker(number, url_for("pages.references") + "#ref-{n}", cite, expanded=opened,
                             language=current_language())
    return render_template("pages/_reference_note.html", marker=marker, opened=opened, cite=cite, number=number,
                           text=text, page_url=page_url)


@bp.get("/compare")
def compare():
    comparison = journey_content().comparison or abort(404)
    return render("pages/compare.html", title=comparison.title, comparison=comparison)


@bp.get("/about")
def about():
    """Who wrote the article, how the guide was made and reviewed, and how to report a mistake."""
    page = journey_content().pages.get("about") or abort(404)
    title, html = page
    return render("pages/about.html", title=title, body=html)


@bp.get("/privacy")
def privacy():
    return content_page("privacy")


def content_page(slug):
    page = journey_content().pages.get(slug) or abort(404)
    title, html = page
    return render("pages/page.html", title=title, body=html)


@bp.cli.command("review-pack")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def review_pack_command(out):
    """Write the medical reviewer's pack: one printable HTML file made from the content the site serves."""
    journey = journey_content()
    today = date.today()
    triage = current_app.extensions.get("triage")
    stop_pages = [journey.steps[tier.stop_step] for tier in journey.warning_signs.tiers] if journey.warning_signs else []
    added = review_pack.added_claims(journey)
    html = render_template(
        "review/pack.html",
        made_on=today,
        next_review_if_signed_today=journey.next_review_by(today),
        added=added,
        template_text=review_pack.template_sentences(Path(current_app.root_path) / current_app.template_folder,
                                                    review_pack.template_values(journey)),
        flag_concepts=review_pack.flag_concepts(triage) if triage else [],
        flag_banner=review_pack.flag_banner(triage) if triage else {},
        stop_pages=[(stop, [(journey.clinic_phone if number == "clinic" else number, label, main)
                            for number, label, main in stop.calls]) for stop in stop_pages],
        # Our own stylesheet, inlined so the file stands alone (diagrams take their colours from it).
        site_css=Markup((STATIC_DIR / "site.css").read_text(encoding="utf-8")),  # noqa: S704  # nosec B704
        steps=[journey.steps[step_id] for step_id in review_pack.step_order(journey)],
        signs=review_pack.sign_table(journey),
        first_blocks=review_pack.first_blocks(journey),
        doctor_questions=review_pack.doctor_questions(journey),
        references=review_pack.cited_references(journey, current_app.config["CONTENT_DIR"]),
        conditions=lambda when: review_pack.condition_text(journey, when),
        # Each translation beside the English, with its own sign-off (a language not yet served is not in it).
        translations=[(LANGUAGE_NAMES[code], other, review_pack.side_by_side(journey, other),
                       review_pack.template_translations(
                           Path(current_app.root_path) / current_app.template_folder,
                           Path(current_app.root_path) / "translations" / code / "LC_MESSAGES" / "messages.po"))
                      for code, other in current_app.extensions["journeys"].items() if code != journey.language],
    )
    # Reference markers point into the pack itself, so the file works alone and on paper.
    # The Spanish text's markers point to the same numbered references (/es/references...).
    html = re.sub(r'href="(?:/[a-z]{2})?/references[^"#]*#ref-', 'href="#ref-', html)
    html = re.sub(r'href="(?:/[a-z]{2})?/compare"', 'href="#comparison"', html)
    out.write_text(html, encoding="utf-8")
    click.echo(f"review pack: {out} ({len(journey.steps)} steps, {len(review_pack.sign_table(journey))} warning signs, "
               f"{len(journey.references)} references, {len(added)} added claims)")
