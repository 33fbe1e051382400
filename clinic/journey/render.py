"""Markdown to HTML for content text, with [ref:N] turned into links to the numbered references."""
import re

import markdown
from markupsafe import Markup

from clinic.journey.errors import ContentError

REF_PATTERN = re.compile(r"\[ref:\s*([0-9][0-9,\s]*)\]")


AFTER_PUNCTUATION = re.compile(r"\s*(\[ref:\s*[0-9][0-9,\s]*\])([.,;:]+)")
CITE_ID = re.compile(r"^cite-[a-z0-9][a-z0-9_-]*-[0-9]+$")


class Renderer:
    """Content Markdown to HTML; a [ref:N] that names no reference is refused."""

    def __init__(self, references, reference_url, language="en"):
        self.references = references
        self.reference_url = reference_url
        self.language = language
        self.cites = {}  # origin step id -> markers rendered so far, for ids unique on the step's page

    def check_refs(self, text, source, field_name):
        for match in REF_PATTERN.finditer(text):
            for number in ref_numbers(match.group(1)):
                if number not in self.references:
                    raise ContentError(source, field_name, f"reference [ref:{number}] does not exist")

    def html(self, text, source, field_name, origin=None):
        """Markdown to HTML. `origin` is the step the text is shown on: its markers open their reference in place
        and, without JavaScript, lead to the references page with a way back to that step."""
        text = str(text or "")
        self.check_refs(text, source, field_name)

        def link(match):
            markers = []
            for number in ref_numbers(match.group(1)):
                if origin is None:
                    markers.append(citation_marker(number, self.reference_url, language=self.language))
                else:
                    self.cites[origin] = self.cites.get(origin, 0) + 1
                    markers.append(citation_marker(number, self.reference_url, f"cite-{origin}-{self.cites[origin]}",
                                                   language=self.language))
            return f'<span class="refs">{" ".join(markers)}</span>'

        # Numbers follow the punctuation, as in medical journals ("reason.6"), so a footnote opened in place
        # never leaves a stray full stop on the line below it.
        text = AFTER_PUNCTUATION.sub(r"\2\1", text)
        # Content files are written by the clinic, never by patients: their HTML is trusted.
        return Markup(markdown.markdown(REF_PATTERN.sub(link, text), extensions=["sane_lists"]))  # noqa: S704  # nosec B704

    @staticmethod
    def plain(text):
        """Text without Markdown marks or reference numbers: what readability is measured on."""
        text = re.sub(r"[ \t]*" + REF_PATTERN.pattern, "", str(text or ""))  # "rods [ref:5]." reads "rods."
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = re.sub(r"^\s{0,3}(#+|[-*+]|\d+\.)\s+", "", text, flags=re.M)
        text = re.sub(r"[*_`>]", "", text)
        return text.strip()


def ref_numbers(group):
    return [int(n) for n in re.findall(r"\d+", group)]


# The marker's accessible name, in the language of the text it sits in (the content's HTML is built at start-up,
# outside any request, so not through gettext).
REFERENCE_WORD = {"en": "Reference", "es": "Referencia"}


def citation_marker(number, reference_url, cite_id=None, expanded=False, language="en"):
    """One reference number in the text, a tap target of at least 24x24 px (site.css). A link to the references
    page that works without JavaScript; with htmx a tap swaps in the marker with its footnote open (and back).
    `cite_id` ("cite-<step>-<n>") names the marker on its step's page and the step to go back to."""
    page, _, anchor = reference_url.partition("#")
    word = REFERENCE_WORD[language]
    if cite_id is None:
        return f'<a class="ref" href="{reference_url.format(n=number)}" aria-label="{word} {number}">{number}</a>'
    note = f"{page}/{number}/note?cite={cite_id}"  # /references/3/note, /es/references/3/note
    if expanded:
        toggle = (f'data-hx-get="{note}&amp;open=0" data-hx-target="closest .cite-open" data-hx-swap="outerHTML" '
                  f'aria-expanded="true" aria-controls="{cite_id}-note"')
    else:  # htmx's default target is the marker itself
        toggle = f'data-hx-get="{note}" data-hx-swap="outerHTML" aria-expanded="false"'
    href = f"{page}?cite={cite_id}" + (f"#{anchor.format(n=number)}" if anchor else "")
    return Markup(  # noqa: S704  # nosec B704 - a number and an id checked against CITE_ID
        f'<a class="ref" id="{cite_id}" href="{href}" {toggle} aria-label="{word} {number}">{number}</a>')


def cite_origin(cite_id):
    """The step a marker id belongs to ("cite-causes-3" -> "causes"), or None for anything else."""
    if not isinstance(cite_id, str) or not CITE_ID.fullmatch(cite_id):
        return None
    return cite_id[len("cite-"):].rpartition("-")[0]
