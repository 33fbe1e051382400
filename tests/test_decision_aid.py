"""The guide as a decision aid (issue 18): numbers as icon arrays, "keep going with what you do now, or wait" as an
option like the others, and the About page. Checked against the loaded content and the pages as served."""
import gzip
import re

import pytest

from clinic.journey import load_journey
from clinic.journey.model import FIGURE_CAPTION
from tests.conftest import PHONE, ROOT, assert_no_axe_violations, new_context

CONTENT = ROOT / "content"
JOURNEY = load_journey(CONTENT)
ARTICLE = (ROOT.parent / "shared" / "seed" / "failed-back-surgery-article.txt")
ICON_ARRAY_MAX_GZIPPED = 3 * 1024
# The figures of the issue, as the article gives them: (where, reference, shaded per picture).
FIGURES = [
    (("step", "start"), 6, [20]),                   # "1-in-5 patients experiencing persistent postoperative pain"
    (("block", "causes", "disc_returns"), 12, [28]),  # "an incidence of up to 28%"
    (("block", "conventional", "drug_pump"), 24, [68, 84, 92]),  # "68% ... one-month ..., 84% at one year, and 92%"
    (("block", "regenerative", "prp"), 34, [71]),   # "a success rate of 71.2%"
    (("compare", "drug_pump"), 24, [68, 84, 92]),
    (("compare", "prp"), 34, [71]),
]


def block(step_id, block_id):
    return next(b for b in JOURNEY.steps[step_id].blocks if b.id == block_id)


def figure_at(where):
    if where[0] == "step":
        return JOURNEY.steps[where[1]].figure
    if where[0] == "block":
        return block(where[1], where[2]).figure
    return next(row for row in JOURNEY.comparison.rows if row.id == where[1]).figure


@pytest.fixture
def client(make_app):
    return make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False).test_client()


def render_figure(app, figure):
    with app.test_request_context():
        from flask import render_template
        return render_template("_icon_array.html", figure=figure)


# --- C: numbers as pictures -------------------------------------------------------------------------------
@pytest.mark.parametrize("where, ref, shaded", FIGURES)
def test_each_figure_of_the_issue_is_an_icon_array_with_its_reference_and_caveat(where, ref, shaded):
    figure = figure_at(where)
    assert figure is not None, where
    assert figure.ref == ref and [n for n, _label in figure.arrays] == shaded
    assert f"ref-{ref}" in str(figure.marker)
    assert len(figure.caveat.split()) >= 8, "the caveat says who was in the study and what was measured"


def test_the_article_gives_those_figures():
    article = ARTICLE.read_text(encoding="utf-8")
    for quoted in ("1-in-5 patients experiencing persistent postoperative pain within 2 years",
                   "an incidence of up to 28%",
                   "68% of patients at one-month post-implant, 84% at one year, and 92% at five years",
                   "a success rate of 71.2%"):
        assert quoted in article, quoted


@pytest.mark.parametrize("where, ref, shaded", FIGURES)
def test_an_icon_array_shades_its_number_says_it_in_words_and_stays_small(app, where, ref, shaded):
    html = render_figure(app, figure_at(where))
    pictures = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(pictures) == len(shaded)
    for svg, n in zip(pictures, shaded, strict=True):
        assert 'role="img"' in svg
        assert svg.count("<use ") == 100
        assert len(re.findall(r'<use [^>]*class="ia-on"', svg)) == n
        assert len(re.findall(r'<use [^>]*class="ia-off"', svg)) == 100 - n
        title = re.search(r"<title id=\"([^\"]+)\">([^<]*)</title>", svg)
        desc = re.search(r"<desc id=\"([^\"]+)\">([^<]*)</desc>", svg)
        assert title.group(2) == f"{n} out of 100 people"
        assert f"{n} out of 100 people" in desc.group(2) and f"{100 - n} out of 100 did not" in desc.group(2)
        assert f'aria-labelledby="{title.group(1)}"' in svg and f'aria-describedby="{desc.group(1)}"' in svg
        assert not re.search(r'\b(fill|stroke|style)="', svg), "colours come from the stylesheet"
    assert FIGURE_CAPTION == "out of 100 people like those in the study" and FIGURE_CAPTION in html
    assert len(gzip.compress(html.encode(), compresslevel=6)) <= ICON_ARRAY_MAX_GZIPPED


def test_icon_array_colours_stay_visible_in_forced_colours_and_print():
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    forced = css[css.index("@media (forced-colors: active) {\n  .ia-on"):]
    assert ".ia-on { fill: CanvasText; }" in forced and ".ia-off { fill: Canvas; stroke: CanvasText; }" in forced
    assert "@media print {\n  .ia-on { fill: #000; }\n  .ia-off { fill: #fff; stroke: #000; }" in css


def test_ids_of_icon_arrays_are_unique_on_every_page(client):
    for path in ("/", "/compare", "/journey/conventional"):
        html = client.get(path).get_data(as_text=True)
        ids = re.findall(r' id="([^"]+)"', html)
        assert len(ids) == len(set(ids)), path


def test_where_a_reader_looks_for_prolotherapy_figures_the_guide_says_there_are_none():
    none_given = "No study in our article gives figures for how often"
    assert none_given in block("regenerative", "prolotherapy").body_text
    assert none_given in next(row for row in JOURNEY.comparison.rows if row.id == "prolotherapy").text
    assert block("regenerative", "prolotherapy").figure is None


# --- D: keep going with what you do now, or wait ----------------------------------------------------------
def test_keep_going_or_wait_is_an_option_with_the_four_headings_and_no_figures():
    keep = block("conventional", "keep_going")
    assert keep.heading == "Keep going with what you do now, or wait"
    for heading in ("What it is", "What is known", "Its limits and risks", "Our clinic's view"):
        assert f"<h3>{heading}</h3>" in str(keep.body_html)
    known = str(keep.body_html).split("<h3>What is known</h3>")[1].split("<h3>")[0]
    assert "has no figures for it" in known and "ref-3" in known
    row = next(row for row in JOURNEY.comparison.rows if row.id == "keep_going")
    assert row.name == keep.heading and row.page == "conventional" and "has no figures for it" in row.known


def test_compare_lists_ten_options_with_keep_going(client):
    html = client.get("/compare").get_data(as_text=True)
    assert html.count('<li class="compare-option"') == 10
    assert ">Keep going with what you do now, or wait</h2>" in html
    assert html.count('class="icon-figure"') == 2


# --- E: about this guide ----------------------------------------------------------------------------------
def test_the_about_page_says_who_made_the_guide_how_and_who_checks_it(client):
    html = client.get("/about").get_data(as_text=True).replace("&#39;", "'")
    assert "Ross Hauser, MD, and Danielle R. Steilen-Matias, MMS, PA-C" in html
    assert '<time datetime="2021-02-14">February 14, 2021</time>' in html
    assert "Every fact, figure and study comes from the article" in html and "plain words" in html
    assert "medical reviewer set the warning signs" in html
    assert "How to read the evidence words" in html and "<strong>A case series</strong>" in html
    assert "Conflict of interest" in html and JOURNEY.conflict_of_interest in html
    assert "This guide has not yet been reviewed by the clinic's medical director." in html
    assert f"Content version {JOURNEY.version}" in html
    assert '<time datetime="2027-06-01">June 1, 2027</time>' in html and "sooner if the article is updated" in html
    assert f'href="tel:{re.sub(r"[^0-9+]", "", JOURNEY.clinic_phone)}"' in html and "Report a mistake" in html


def test_the_about_page_names_the_version_a_reviewer_signed(make_app, tmp_path):
    import shutil
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    meta = content / "journey.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + "reviewed: 2026-11-30\nreviewed_version: aaaa-bbbb-cccc\n",
                    encoding="utf-8")
    html = make_app(CONTENT_DIR=str(content)).test_client().get("/about").get_data(as_text=True)
    assert "has changed since" in html and "the version reviewed was aaaa-bbbb-cccc" in html


def test_every_patient_page_links_to_the_about_page_from_its_footer(client):
    for path in ("/", "/references", "/privacy", "/compare", "/about", "/request", "/journey/safety"):
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        footer = html[html.index('<footer class="site-footer">'):]
        assert '<a href="/about">About this guide</a>' in footer, path


@pytest.mark.browser
def test_compare_and_about_are_clean_at_320_pixels(live_server, browser):
    context = new_context(browser, **{**PHONE, "viewport": {"width": 320, "height": 640}}, bypass_csp=True)
    try:
        page = context.new_page()
        for path in ("/compare", "/about", "/"):
            page.goto(live_server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 320 px"
            assert_no_axe_violations(page)
        page.goto(live_server.url + "/compare")
        pictures = page.get_by_role("img", name=re.compile(r"^\d+ out of 100 people$"))
        assert pictures.count() == 4
        assert page.locator("svg.ia-svg").first.bounding_box()["width"] > 40
    finally:
        context.close()
