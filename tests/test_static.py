"""Vendored htmx: the exact released file, with its licence, served from our own host."""
import hashlib
import re

import pytest

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


# --- the dark theme (issue 19): the same colour variables, every text pair at AA ---------------------------------
def _luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast_ratio(first, second):
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def theme_colours(css, dark):
    """The colour variables of :root, with the dark block's over them when `dark`."""
    def variables(block):
        return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", block))

    light = variables(css[css.index(":root"):css.index("}", css.index(":root"))])
    if not dark:
        return light
    start = css.index("@media screen and (prefers-color-scheme: dark)")
    return {**light, **variables(css[start:css.index("}", start)])}


# (foreground, background, minimum): text at 4.5 (AA), borders at 3 (non-text contrast). The focus ring is yellow
# with a dark edge: test_accessibility_audit.py measures it as drawn.
THEME_PAIRS = [("text", "bg", 4.5), ("muted", "bg", 4.5), ("link", "bg", 4.5), ("error", "bg", 4.5),
               ("text", "soft", 4.5), ("muted", "soft", 4.5), ("link", "soft", 4.5), ("#ffffff", "brand", 4.5),
               ("#ffffff", "brand-dark", 4.5), ("border", "bg", 3)]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_colour_pair_of_the_theme_is_at_aa(dark):
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    assert "color-scheme: light dark" in css
    colours = theme_colours(css, dark)
    ratios = {(fg, bg): round(contrast_ratio(colours.get(fg, fg), colours[bg]), 2) for fg, bg, _least in THEME_PAIRS}
    print("light" if not dark else "dark", ratios)
    low = {pair: ratio for (fg, bg, least), (pair, ratio) in zip(THEME_PAIRS, ratios.items(), strict=True)
           if ratio < least}
    assert not low, low
