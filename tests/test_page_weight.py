"""Speed budget for a patient's slow phone: bytes and requests are deterministic, so they are tested here.

Budget: the first full journey page with everything it loads is at most 40 KB gzipped in at most
4 requests; every step partial htmx swaps in is at most 8 KB gzipped, or 10 KB with its inline diagrams;
no web fonts; no images up top.
"""
import gzip
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT

# The real journey when it is there; the loader's fixture journey otherwise (same templates and assets).
CONTENT = ROOT / "content" if list((ROOT / "content").glob("steps/*.md")) else ROOT / "tests" / "fixtures" / "content"
FIRST_PAGE_BUDGET = 40 * 1024
FIRST_PAGE_REQUESTS = 4
PARTIAL_BUDGET = 8 * 1024
PARTIAL_WITH_PICTURE_BUDGET = 10 * 1024  # issue 9 D: a step partial with its picture
MAX_STEPS = 60


def gzipped_size(data):
    return len(gzip.compress(data, compresslevel=6))  # the nginx site in deploy/ uses level 6


class PageParts(HTMLParser):
    """What a browser fetches for a page, plus the answer form of a step."""

    def __init__(self):
        super().__init__()
        self.subresources = []
        self.images = []
        self.in_step_form = False
        self.form_action = None
        self.choices = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        rel = (attrs.get("rel") or "").split()
        if tag == "link" and {"stylesheet", "icon", "preload", "modulepreload", "manifest", "apple-touch-icon"} & set(rel):
            self.subresources.append(attrs["href"])
        elif tag in ("script", "iframe", "embed", "video", "audio", "source") and attrs.get("src"):
            self.subresources.append(attrs["src"])
        elif tag == "img":
            self.images.append(attrs.get("src"))
            self.subresources.append(attrs.get("src"))
        elif tag == "form" and "step-form" in (attrs.get("class") or "").split():
            self.in_step_form = True
            self.form_action = attrs["action"]
        elif tag == "input" and self.in_step_form and attrs.get("type") in ("radio", "checkbox"):
            # The last option of each question: on the real journey it is the calm "no" or "none" path.
            self.choices[attrs["name"]] = attrs["value"]

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_step_form = False


def parts_of(html):
    parser = PageParts()
    parser.feed(html)
    return parser


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False)


def test_first_page_with_its_css_script_and_icon_is_at_most_40_kb_gzipped_in_at_most_4_requests(client):
    page = client.get("/")
    assert page.status_code == 200
    parts = parts_of(page.get_data(as_text=True))
    # A data: URL (the icon) is no request: its bytes are already in the page's own size.
    subresources = sorted({url for url in parts.subresources if not url.startswith("data:")})
    assert 1 + len(subresources) <= FIRST_PAGE_REQUESTS, subresources
    sizes = {"/": gzipped_size(page.data)}
    for url in subresources:
        assert urlsplit(url).netloc == "", f"{url} is not from our own host"
        response = client.get(url)
        assert response.status_code == 200, url
        sizes[url] = gzipped_size(response.data)
    total = sum(sizes.values())
    assert total <= FIRST_PAGE_BUDGET, f"{total} bytes gzipped: {sizes}"


def test_no_web_fonts_anywhere(client):
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    assert "@font-face" not in css and "@import" not in css
    assert not list((ROOT / "static").rglob("*.woff*")) and not list((ROOT / "static").rglob("*.ttf"))
    html = client.get("/").get_data(as_text=True)
    assert "fonts.googleapis" not in html and 'as="font"' not in html


def test_no_image_above_the_fold_on_the_first_page(client):
    html = client.get("/").get_data(as_text=True)
    assert parts_of(html).images == []
    assert "background-image" not in (ROOT / "static" / "site.css").read_text(encoding="utf-8")


def walk_partials(client):
    """Follow the journey from the start as htmx does, answering each question; yield (url, partial bytes)."""
    url = "/"
    for _ in range(MAX_STEPS):
        partial = client.get(url, headers={"HX-Request": "true"})
        assert partial.status_code == 200, url
        yield url, partial.data
        parts = parts_of(partial.get_data(as_text=True))
        if parts.form_action is None:
            return  # a stop page or the summary's end: no more answers to give
        answered = client.post(parts.form_action, data=parts.choices)
        assert answered.status_code in (302, 303), (url, answered.status_code)
        url = answered.headers["Location"]
        if not url.startswith("/journey/"):
            return  # on to the request page
    raise AssertionError(f"the journey did not end within {MAX_STEPS} steps")


def test_every_step_partial_along_the_journey_is_at_most_8_kb_gzipped_or_10_kb_with_its_pictures(client):
    sizes, budgets = {}, {}
    for url, data in walk_partials(client):
        sizes[url] = gzipped_size(data)
        budgets[url] = PARTIAL_WITH_PICTURE_BUDGET if b'<figure class="diagram"' in data else PARTIAL_BUDGET
    assert len(sizes) >= 3, sizes
    if CONTENT == ROOT / "content":
        assert sum(budget == PARTIAL_WITH_PICTURE_BUDGET for budget in budgets.values()) >= 3, "no pictures on the way"
    too_big = {url: (size, budgets[url]) for url, size in sizes.items() if size > budgets[url]}
    assert not too_big, f"step partials over budget (bytes gzipped, budget): {too_big}"


def test_step_partials_are_fragments_without_the_page_shell(client):
    for url, data in walk_partials(client):
        html = data.decode("utf-8")
        assert not re.search(r"<(html|head|body|link|script)\b", html), url
