"""Vendored htmx: the exact released file, with its licence, served from our own host."""
import hashlib
import re

from tests.conftest import ROOT

HTMX = ROOT / "static" / "vendor" / "htmx-2.0.11.min.js"
# SHA-256 of package/dist/htmx.min.js in `npm pack htmx.org@2.0.11`.
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_released_2_0_11_file():
    assert hashlib.sha256(HTMX.read_bytes()).hexdigest() == HTMX_SHA256


def test_htmx_licence_sits_beside_it():
    assert "BSD" in (ROOT / "static" / "vendor" / "htmx-2.0.11.LICENSE").read_text(encoding="utf-8")


def test_pages_load_htmx_from_our_own_static_folder_only(client):
    html = client.get("/").get_data(as_text=True)
    assert '/static/vendor/htmx-2.0.11.min.js' in html
    # (hreflang alternates are links to pages, never fetched by the browser)
    sources = re.findall(r'<(?:script|link)\b(?![^>]*rel="alternate")[^>]*\b(?:src|href)="([^"]+)"', html)
    # The icon is the one exception: a data: URL in the page, so no step asks for it again (issue 19).
    assert sources and all(s.startswith("/static/") or s.startswith("data:image/svg+xml,") for s in sources), sources
