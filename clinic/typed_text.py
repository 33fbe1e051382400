"""Text people typed into a form, made fit to keep: control characters (NUL among them) dropped, line breaks one
character each. A browser can send any of them; SQLite would store a NUL, PostgreSQL refuses the whole statement.
No Flask here: the forms of the request page and the staff inbox use these as WTForms filters."""
import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0/C1 control characters except tab and line feed
ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(value):
    """One-line fields: line breaks and tabs become spaces, other control characters (NUL...) go."""
    if not isinstance(value, str):
        return value
    return CONTROL.sub("", re.sub(r"[\t\r\n]+", " ", value)).strip()


def multi_line(value):
    """Text areas: browsers send CRLF, and a line break must count as one character, as the person sees it; other
    control characters go."""
    if not isinstance(value, str):
        return value
    return CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def has_control_characters(value):
    """True when `value` holds any control character, a tab or line break included (an email address may not)."""
    return isinstance(value, str) and ANY_CONTROL.search(value) is not None
