"""Times as clinic staff read them: stored UTC seconds shown in the clinic's own time zone. No Flask here.

The zone is an IANA name (FLASK_CLINIC_TIMEZONE, default America/New_York: the clinic is in Fort Myers, Florida);
zoneinfo applies its daylight saving rules, so a January time reads EST and a July one EDT. Stored times stay UTC seconds.
"""
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime

DEFAULT_ZONE = "America/New_York"
# Month names and AM/PM from Babel's data for a named locale, never strftime's %B and %p (the server's locale).
STAFF_LOCALE = "en_US"


def load_zone(name):
    """The ZoneInfo for an IANA name such as 'America/New_York'; ValueError saying what to set otherwise."""
    text = name.strip() if isinstance(name, str) else ""
    problem = (f"FLASK_CLINIC_TIMEZONE is {name!r}, which is not an IANA time zone name. "
               f"Use one such as {DEFAULT_ZONE}, America/Chicago or Europe/London.")
    if not text:
        raise ValueError(problem)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # ValueError: a path such as '../x'
        raise ValueError(problem) from None


def start_of_day(day, zone):
    """Unix seconds of midnight starting `day` (a date) in `zone`: a day's bounds as the clinic counts them."""
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp())


def local(seconds, zone):
    """Unix seconds (UTC) as an aware datetime in `zone`."""
    return datetime.fromtimestamp(int(seconds), UTC).astimezone(zone)


def abbreviation(moment):
    """'EST', 'EDT', 'BST'; zones whose data has no letters ('+03') read 'UTC+03'."""
    name = moment.tzname() or ""
    return f"UTC{name}" if name[:1] in ("+", "-") else name


def staff_time(seconds, zone):
    """'November 25, 2026, 11:42 PM EST': what staff read on every page."""
    moment = local(seconds, zone)
    return f"{format_datetime(moment, 'MMMM d, y, h:mm a', locale=STAFF_LOCALE)} {abbreviation(moment)}"


def long_day(day, locale=STAFF_LOCALE):
    """A date as 'November 25, 2026' (or in `locale`: '25 de noviembre de 2026')."""
    return format_date(day, "long", locale=locale)


def long_date(seconds, zone, locale=STAFF_LOCALE):
    """'November 25, 2026' ('25 de noviembre de 2026' with locale 'es'): the day in the clinic's zone, as a printed
    summary shows it."""
    return long_day(local(seconds, zone).date(), locale)


def csv_time(seconds, zone):
    """'2026-11-25 23:42 EST': sortable, for the CSV export."""
    moment = local(seconds, zone)
    return f"{moment:%Y-%m-%d %H:%M} {abbreviation(moment)}"


def iso_utc(seconds):
    """'2026-11-26T05:42:00Z': the machine-readable moment, for <time datetime> and the CSV."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
