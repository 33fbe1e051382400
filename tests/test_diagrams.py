"""The schematic diagrams (issue 9 D): content/diagrams/*.svg named by a block's `diagram:` field, inline on the step."""
import gzip
import re
from urllib.parse import urlencode

import pytest

from clinic.journey import ContentError, load_journey
from clinic.journey.diagrams import DIAGRAM_MAX_GZIPPED, load_diagrams
from tests.conftest import ROOT, assert_no_axe_violations
from tests.support.article import copied_runs

CONTENT = ROOT / "content"
DIAGRAMS = CONTENT / "diagrams"
# What the issue asks to be pictured, and the diagram that shows it.
REQUIRED = {
    "fusion": "fusion",  # the lower spine from the side, with the levels above and below
    "disc bulging onto a nerve and discectomy": "discectomy",
    "laminectomy": "laminectomy",
    "sacroiliac joint": "sacroiliac",
    "stimulator and drug pump": "implants",
    "prolotherapy injection": "prolotherapy",
}


@pytest.fixture(scope="module")
def journey():
    return load_journey(CONTENT)


def shown_diagrams(journey):
    """{diagram name: (step, block)} for every block that names a diagram."""
    return {block.diagram.name: (step, block)
            for step in journey.steps.values() for block in step.blocks if block.diagram}


def test_the_six_diagrams_exist_and_each_is_shown_by_a_block(journey):
    shown = shown_diagrams(journey)
    for subject, name in REQUIRED.items():
        assert (DIAGRAMS / f"{name}.svg").exists(), subject
        assert name in shown, f"no block shows the {subject} diagram"
    files = {path.stem for path in DIAGRAMS.glob("*.svg")}
    assert files == set(shown), f"diagrams no block uses: {files - set(shown)}"


def test_each_diagram_is_at_most_4_kb_gzipped():
    for path in DIAGRAMS.glob("*.svg"):
        size = len(gzip.compress(path.read_bytes(), compresslevel=6))
        assert size <= DIAGRAM_MAX_GZIPPED, f"{path.name}: {size} bytes gzipped"


def test_each_diagram_has_a_title_a_description_and_a_one_line_caption(journey):
    for name, (_step, block) in shown_diagrams(journey).items():
        diagram = block.diagram
        assert len(diagram.title.split()) >= 4, name
        assert len(diagram.description.split()) >= 15, name
        assert 20 <= len(diagram.caption) <= 160 and "\n" not in diagram.caption, name
        assert f'aria-labelledby="{name}-title"' in diagram.svg and f'aria-describedby="{name}-desc"' in diagram.svg


def test_diagram_colours_come_from_the_stylesheet_classes():
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    for path in DIAGRAMS.glob("*.svg"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"#[0-9a-fA-F]{3,6}\b|rgb\(", re.sub(r'href="#[^"]*"', "", text)), path.name
        for used in set(re.findall(r'class="([^"]+)"', text)):
            for name in used.split():
                assert f".{name}" in css, f"{path.name} uses .{name}, which site.css does not define"
    forced = css[css.index("@media (forced-colors: active)"):]
    assert ".dg-b" in forced and "CanvasText" in forced


def test_diagram_text_is_in_our_own_words(journey):
    for name, (_step, block) in shown_diagrams(journey).items():
        copied = copied_runs(" ".join([block.diagram.title, block.diagram.description, block.diagram.caption]))
        assert not copied, f"{name} copies the article: {copied[:2]}"


# --- on the page -----------------------------------------------------------------------------------------
@pytest.fixture
def app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


def walk_to(client, journey, step_id):
    from tests.conftest import route_to_summary

    for step, form in route_to_summary(journey):
        if step.id == step_id:
            return
        assert client.post(f"/journey/{step.id}", data=form).status_code == 303
    raise AssertionError(f"{step_id} is not on the walk to the summary")


def test_each_diagram_is_inline_in_its_step_page_and_partial_with_its_caption(client, journey):
    shown = shown_diagrams(journey)
    visited = set()
    for name, (step, block) in sorted(shown.items(), key=lambda item: list(journey.steps).index(item[1][0].id)):
        if step.id not in visited:
            walk_to(client, journey, step.id)
            visited.add(step.id)
        for headers in ({}, {"HX-Request": "true"}):
            html = client.get(f"/journey/{step.id}", headers=headers).get_data(as_text=True)
            figure = re.search(rf'<figure class="diagram" id="diagram-{name}">(.*?)</figure>', html, re.S)
            assert figure, (name, step.id, headers)
            assert '<svg xmlns="http://www.w3.org/2000/svg"' in figure.group(1) and 'role="img"' in figure.group(1)
            assert f"<figcaption>{block.diagram.caption}</figcaption>" in figure.group(1).replace("&#39;", "'")
            section = html[html.index(f'id="block-{block.id}"'):]
            assert section.index(f'id="diagram-{name}"') < section.index("</section>"), "the picture sits in its block"


# --- the loader refuses a diagram that breaks the rules -----------------------------------------------------
def _with_diagram(fixture_content, svg=None, field='{name: fusion, caption: "A fusion joins bones so they cannot move."}'):
    (fixture_content / "diagrams").mkdir(exist_ok=True)
    (fixture_content / "diagrams" / "fusion.svg").write_text(
        svg if svg is not None else (DIAGRAMS / "fusion.svg").read_text(encoding="utf-8"), encoding="utf-8")
    causes = fixture_content / "steps" / "causes.md"
    text = causes.read_text(encoding="utf-8")
    causes.write_text(text.replace("    heading: Fusion levels\n", f"    heading: Fusion levels\n    diagram: {field}\n"),
                      encoding="utf-8")


def test_a_block_with_a_diagram_loads(fixture_content):
    _with_diagram(fixture_content)
    block = next(b for b in load_journey(fixture_content).steps["causes"].blocks if b.id == "fusion")
    assert block.diagram.name == "fusion" and block.diagram.title.startswith("A spinal fusion")


@pytest.mark.parametrize("change, problem", [
    (lambda s: s.replace('class="dg-h"', 'fill="#e0702c"', 1), "colours come from the stylesheet"),
    (lambda s: s.replace('class="dg-h"', 'style="fill: red"', 1), "colours come from the stylesheet"),
    (lambda s: s.replace(' role="img"', ""), 'role="img"'),
    (lambda s: re.sub(r"<title[^>]*>.*?</title>", "", s), "<title>"),
    (lambda s: re.sub(r"(<desc[^>]*>).*?(</desc>)", r"\1\2", s), "must not be empty"),
    (lambda s: s.replace('id="fusion-v"', 'id="v"').replace('href="#fusion-v"', 'href="#v"'), "ids must start with 'fusion-'"),
    (lambda s: s.replace("</svg>", "<script>alert(1)</script></svg>"), "only plain SVG"),
    (lambda s: s.replace("</svg>", "<rect/>" * 2), "not well-formed"),
    (lambda s: s.replace("</svg>", "".join(f'<text x="{i}" y="{i * 7 % 97}">{i * 7919}</text>' for i in range(900)) + "</svg>"),
     "gzipped"),
])
def test_a_broken_diagram_stops_start_up_naming_the_file(fixture_content, change, problem):
    _with_diagram(fixture_content, svg=change((DIAGRAMS / "fusion.svg").read_text(encoding="utf-8")))
    with pytest.raises(ContentError, match="fusion.svg") as error:
        load_journey(fixture_content)
    assert problem in str(error.value)


@pytest.mark.parametrize("field, problem", [
    ('{name: nothing, caption: "A caption long enough to pass."}', "no diagram content/diagrams/nothing.svg"),
    ("fusion", "blocks[1].diagram"),
    ('{name: fusion, caption: ""}', "blocks[1].diagram.caption"),
    ('{name: fusion, caption: "Fine.", colour: red}', "blocks[1].diagram"),
])
def test_a_block_naming_a_missing_diagram_or_no_caption_stops_start_up(fixture_content, field, problem):
    _with_diagram(fixture_content, field=field)
    with pytest.raises(ContentError, match="causes.md") as error:
        load_journey(fixture_content)
    assert problem in str(error.value)


def test_load_diagrams_reads_every_file():
    assert set(load_diagrams(DIAGRAMS)) == {p.stem for p in DIAGRAMS.glob("*.svg")}


# --- in a real browser at 390 px ---------------------------------------------------------------------------
@pytest.mark.browser
def test_diagrams_render_at_390_px_with_text_alternatives_in_forced_colours_and_print(phone, live_server, journey):
    shown = shown_diagrams(journey)
    context = phone(bypass_csp=True)
    page = context.new_page()
    base = live_server.url
    from tests.conftest import route_to_summary

    for step, form in route_to_summary(journey):
        names = [b.diagram.name for b in step.blocks if b.diagram]
        page.goto(f"{base}/journey/{step.id}")
        # Blocks that do not fit this walk's answers wait under "Also on this page" (issue 9 A): open them all.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        for name in names:
            _step, block = shown[name]
            picture = page.get_by_role("img", name=block.diagram.title)
            picture.scroll_into_view_if_needed()
            box = picture.bounding_box()
            assert 300 <= box["width"] <= 390 - 16 and box["height"] > 150, (name, box)
            # Every shape and word is drawn in a colour other than the page's background.
            blank = page.evaluate("""(id) => [...document.querySelectorAll(`#${id} svg *`)]
                .filter(e => ['rect','path','circle','ellipse','text'].includes(e.tagName))
                .filter(e => { const s = getComputedStyle(e), blank = (c) => c === 'none' || c === 'rgb(255, 255, 255)';
                  return blank(s.fill) && blank(s.stroke); })
                .map(e => e.outerHTML.slice(0, 60))""", f"diagram-{name}")
            assert not blank, (name, blank)
        if names:
            assert_no_axe_violations(page)
            page.emulate_media(media="print")
            for name in names:
                assert page.locator(f"#diagram-{name} svg").is_visible(), f"{name} is hidden in print"
            page.emulate_media(media="screen", forced_colors="active")
            for name in names:
                fill = page.eval_on_selector(f"#diagram-{name} .dg-b", "e => getComputedStyle(e).stroke")
                assert fill in ("rgb(0, 0, 0)", "rgb(255, 255, 255)"), f"{name}: outlines not in CanvasText ({fill})"
            page.emulate_media(media="screen", forced_colors="none")
        if step.kind in ("question", "info"):  # answer as a browser without JavaScript would, in this context
            answered = context.request.post(f"{base}/journey/{step.id}", data=urlencode(form, doseq=True), max_redirects=0,
                                            headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert answered.status == 303, (step.id, answered.status)


# WCAG 1.4.12 text spacing, as the W3C's test bookmarklet sets it.
TEXT_SPACING = ("* { line-height: 1.5 !important; letter-spacing: 0.12em !important; word-spacing: 0.16em !important; }"
                " p { margin-bottom: 2em !important; }")
LABELS_OUT_OF_PLACE = """() => [...document.querySelectorAll('figure.diagram svg')].map(svg => {
  const room = svg.viewBox.baseVal, problems = [];
  const boxes = [...svg.querySelectorAll('text')].map(t => { const b = t.getBBox();
    return {label: t.textContent, left: b.x, top: b.y, right: b.x + b.width, bottom: b.y + b.height}; });
  boxes.filter(b => b.left < room.x - 0.5 || b.top < room.y - 0.5 || b.right > room.x + room.width + 0.5
    || b.bottom > room.y + room.height + 0.5).forEach(b => problems.push('past the picture: ' + b.label));
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) {
      problems.push('over each other: ' + a.label + ' / ' + b.label); } }));
  return [svg.closest('figure').id, problems]; }).filter(([, problems]) => problems.length)"""


@pytest.mark.browser
def test_diagram_labels_stay_apart_and_inside_their_picture_with_wcag_text_spacing_in_english_and_spanish(browser):
    """Each label has its room (textLength with lengthAdjust="spacing"): 1.4.12's letter and word spacing made
    "Disc bulges", "Pump under the skin," and three laminectomy labels run past the picture or into each other."""
    import yaml

    from clinic.journey.diagrams import translate_diagram
    from tests.conftest import new_context

    pictures = {p.stem: p.read_text(encoding="utf-8") for p in sorted(DIAGRAMS.glob("*.svg"))}
    for words in sorted((CONTENT / "es" / "diagrams").glob("*.yaml")):
        data = yaml.safe_load(words.read_text(encoding="utf-8"))
        pictures["es-" + words.stem] = translate_diagram(DIAGRAMS / f"{words.stem}.svg", data, words, "es")[0]
    assert all('textLength="' in svg for svg in pictures.values())
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    figures = "".join(f'<figure class="diagram" id="{name}">{svg}</figure>' for name, svg in pictures.items())
    context = new_context(browser, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        found = {}
        for spacing in ("", TEXT_SPACING):
            page.set_content(f"<!doctype html><html><head><style>{css}{spacing}</style></head>"
                             f"<body><main>{figures}</main></body></html>")
            assert page.locator("figure.diagram svg text").count() > 30
            found[spacing] = dict(page.evaluate(LABELS_OUT_OF_PLACE))
        assert not {name: p for name, p in found[TEXT_SPACING].items() if not name.startswith("es-")}, found
        # A translation's labels get the English room scaled by their length in characters: the spacing adds no
        # problem to what normal spacing shows (a label too long for its place is the translation's to shorten).
        assert found[TEXT_SPACING] == found[""], found
    finally:
        context.close()
