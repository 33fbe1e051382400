"""Markdown to HTML for content text, with [ref:N] turned into links to the numbered references."""
import re

import markdown
from markupsafe import Markup

from clinic.journey.errors import ContentError

REF_PATTERN = re.compile(r"\[ref:\s*([0-9][0-9,\s]*)\]")


class Renderer:
    """Content Markdown to HTML; a [ref:N] that names no reference is refused."""

    def __init__(self, references, reference_url):
        self.references = references
        self.reference_url = reference_url

    def check_refs(self, text, source, field_name):
        for match in REF_PATTERN.finditer(text):
            for number in ref_numbers(match.group(1)):
                if number not in self.references:
                    raise ContentError(source, field_name, f"reference [ref:{number}] does not exist")

    def html(self, text, source, field_name):
        text = str(text or "")
        self.check_refs(text, source, field_name)

        def link(match):
            numbers = ref_numbers(match.group(1))
            links = ", ".join(
                f'<a class="ref" href="{self.reference_url.format(n=n)}" '
                f'aria-label="Reference {n}">{n}</a>' for n in numbers
            )
            return f"<sup>[{links}]</sup>"

        # Content files are written by the clinic, never by patients: their HTML is trusted.
        return Markup(markdown.markdown(REF_PATTERN.sub(link, text), extensions=["sane_lists"]))  # noqa: S704  # nosec B704

    @staticmethod
    def plain(text):
        """Text without Markdown marks or reference numbers: what readability is measured on."""
        text = REF_PATTERN.sub("", str(text or ""))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = re.sub(r"^\s{0,3}(#+|[-*+]|\d+\.)\s+", "", text, flags=re.M)
        text = re.sub(r"[*_`>]", "", text)
        return text.strip()


def ref_numbers(group):
    return [int(n) for n in re.findall(r"\d+", group)]
