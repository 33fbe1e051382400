"""Call-back details of a request (when to call, voicemail, language) and the consent text's fingerprint. No Flask here.

What is stored are the ids below (`weekday_mornings`, `es`, ...), never their wording, so staff pages and the CSV
draw the words from here and a change of wording leaves stored requests readable.
"""
import hashlib
import json
from dataclasses import dataclass


def N_(text):  # noqa: N802 - gettext's name for "mark only"
    """Marks patient-facing words for `make translations`; the form (blueprints/requests.py) translates them.
    Staff read them in English, as they are here."""
    return text


# id -> (what the patient ticks, the hours staff read beside it in the clinic's time zone)
CALL_TIMES = {
    "weekday_mornings": (N_("Weekday mornings"), N_("8 AM to noon")),
    "weekday_afternoons": (N_("Weekday afternoons"), N_("noon to 5 PM")),
    "weekday_evenings": (N_("Weekday evenings"), N_("5 PM to 8 PM")),
    "weekends": (N_("Weekends"), N_("9 AM to 5 PM")),
}
VOICEMAIL = {"yes": "Yes, you may leave a voicemail", "no": "No, do not leave a voicemail"}
# BCP 47 tags, as a records system (FHIR Patient.communication) wants them; "other" comes with the person's words.
LANGUAGES = {"en": N_("English"), "es": N_("Spanish"), "other": N_("Another language")}
LANGUAGE_OTHER_MAX = 60

# The wall-clock words people use for the zones a US clinic is likely in; any other zone reads as its city.
ZONE_WORDS = {
    "America/New_York": N_("Eastern Time"), "America/Detroit": N_("Eastern Time"), "America/Chicago": N_("Central Time"),
    "America/Denver": N_("Mountain Time"), "America/Phoenix": N_("Arizona Time"), "America/Boise": N_("Mountain Time"),
    "America/Los_Angeles": N_("Pacific Time"), "America/Anchorage": N_("Alaska Time"),
    "Pacific/Honolulu": N_("Hawaii Time"), "America/Puerto_Rico": N_("Atlantic Time"),
}

CONSENT_TEXT = N_("I agree that the clinic may contact me about my request")


def zone_words(zone_name):
    """'America/Chicago' -> 'Central Time'; 'Europe/London' -> 'London time'."""
    if zone_name in ZONE_WORDS:
        return ZONE_WORDS[zone_name]
    city = zone_name.rpartition("/")[2].replace("_", " ")
    return f"{city} time"


def call_time_choices():
    """(id, label) for the form: 'Weekday mornings, 8 AM to noon' (the hint says which zone)."""
    return [(key, f"{label}, {hours}") for key, (label, hours) in CALL_TIMES.items()]


def call_times_for_staff(ids, zone_name):
    """Stored ids as staff read them: ['Weekday mornings (8 AM to noon Central Time)', ...]; unknown ids as they are."""
    words = zone_words(zone_name)
    shown = []
    for key in ids:
        if key in CALL_TIMES:
            label, hours = CALL_TIMES[key]
            shown.append(f"{label} ({hours} {words})")
        else:
            shown.append(str(key))
    return shown


def read_call_times(raw):
    """The stored JSON list of ids, or [] (rows saved before call-back details, or unreadable)."""
    try:
        ids = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    return [str(key) for key in ids] if isinstance(ids, list) else []


def language_words(language, other=None, interpreter=False):
    """'Spanish, would like an interpreter'; None when the patient did not say."""
    if not language:
        return None
    if language == "other":
        name = other or "Another language (not named)"
    else:
        name = LANGUAGES.get(language, language)
    return f"{name}, would like an interpreter" if interpreter else name


def preferred_language(language, other=None, interpreter=False, answers_language=None):
    """What staff read as "Preferred language": the one the patient chose for a call back, else the language of
    the guide they answered in when it is not English ('Spanish' for a request from /es/); None when neither says."""
    chosen = language_words(language, other, interpreter)
    if chosen:
        return chosen
    if answers_language and answers_language != "en":
        return LANGUAGES.get(answers_language, answers_language)
    return None


@dataclass(frozen=True)
class CallBack:
    """What the patient said about being called back. call_times: tuple of ids; voicemail 'yes'/'no' or None."""

    call_times: tuple = ()
    voicemail: str | None = None
    language: str | None = None
    language_other: str | None = None
    interpreter: bool = False

    def __post_init__(self):
        if any(key not in CALL_TIMES for key in self.call_times):
            raise ValueError("unknown call time")
        if self.voicemail not in (None, *VOICEMAIL):
            raise ValueError("voicemail must be yes, no or None")
        if self.language not in (None, *LANGUAGES):
            raise ValueError("unknown language")

    def call_times_json(self):
        return json.dumps(list(self.call_times)) if self.call_times else None


def consent_version(text=CONSENT_TEXT):
    """The fingerprint stored with a request: the first 16 hex digits of the text's SHA-256, so any change of
    wording (a comma too) is a new version, and the text itself is kept once per version."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
