"""The emails the outbox sends: a staff notification and an optional patient receipt, with no health detail.

Only the reference, a link to the staff inbox and the clinic's own details go in. Nothing the
patient typed or answered (name, description, answers, phone) is ever read here; the patient's
address appears only as the recipient of their own receipt.
"""
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

MAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "requests" / "mail"
STAFF_SUBJECT = "New second-opinion request"
PRIORITY_MARK = " (priority)"  # flagged requests: the subject says so, the email never says why
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def N_(text):  # noqa: N802 - gettext's name for "mark only"
    """Marks text for `make translations`; translated below with the patient's catalog."""
    return text


RECEIPT_SUBJECT = N_("We have received your request")
# The receipt is in the language of the guide the patient used (requests.answers_language), from the same gettext
# catalogs as the pages (translations/), loaded by language since the outbox sends outside any request.
# Staff mail is English and not translated.
RECEIPT_LANGUAGES = ("en", "es")
DIGEST_SUBJECT = "Many second-opinion requests this hour: one email for all of them"

# Plain text mail (.txt): no HTML escaping there; StrictUndefined so a missing value fails loudly in tests.
_templates = Environment(loader=FileSystemLoader(MAIL_TEMPLATES), autoescape=select_autoescape(["html"]),
                         undefined=StrictUndefined, keep_trailing_newline=True)


def staff_link(base_url, reference):
    return f"{base_url.rstrip('/')}/staff/requests/{reference}"


def build_message(*, kind, outbox_id, reference, created_at, mail_from, recipients, base_url,
                  clinic_name, clinic_phone, priority=False, held=0, language="en"):
    """An EmailMessage for one outbox row. `recipients`: staff addresses, or the patient's own for a receipt.

    `priority`: the request is flagged (clinic/triage.py). Only the staff subject says so, never why.
    A staff digest (no reference) says how many requests (`held`) arrived past the hourly ceiling, and links to the inbox.
    `language`: the patient's, for their receipt ("es": the Spanish one); staff mail is always English.
    """
    context = {"reference": reference, "clinic_name": clinic_name, "clinic_phone": clinic_phone, "held": held,
               "link": staff_link(base_url, reference) if reference else f"{base_url.rstrip('/')}/staff"}
    if kind == "staff_digest":
        subject, template = DIGEST_SUBJECT, "staff_digest.txt"
    elif kind == "staff_notification":
        subject, template = STAFF_SUBJECT + (PRIORITY_MARK if priority else ""), "staff_notification.txt"
    elif kind == "patient_receipt":
        templates, translations = _receipt_templates(language if language in RECEIPT_LANGUAGES else "en")
        subject = translations.gettext(RECEIPT_SUBJECT)
        message = _message(subject, outbox_id, created_at, mail_from, recipients)
        message.set_content(templates.get_template("patient_receipt.txt").render(context))
        return message
    else:
        raise ValueError(f"unknown outbox kind {kind!r}")
    message = _message(subject, outbox_id, created_at, mail_from, recipients)
    message.set_content(_templates.get_template(template).render(context))
    return message


_receipts = {}


def _receipt_templates(language):
    """(Jinja environment with gettext in `language`, its translations), made once per language."""
    if language not in _receipts:
        translations = (NullTranslations() if language == "en"
                        else Translations.load(str(TRANSLATIONS_DIR), [language]))
        if language != "en" and not isinstance(translations, Translations):
            raise RuntimeError(f"no compiled catalog for {language!r} in {TRANSLATIONS_DIR} (make install compiles it)")
        templates = Environment(loader=FileSystemLoader(MAIL_TEMPLATES), autoescape=select_autoescape(["html"]),
                                undefined=StrictUndefined, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
        templates.install_gettext_translations(translations, newstyle=True)
        _receipts[language] = (templates, translations)
    return _receipts[language]


def _message(subject, outbox_id, created_at, mail_from, recipients):
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    message["Date"] = formatdate(created_at, usegmt=True)
    # The same id for every attempt at one row: a mail client shows a rare duplicate (a crash right
    # after the server accepted the message) as one message.
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<outbox-{outbox_id}-{created_at}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    return message
