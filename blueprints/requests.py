"""The second-opinion request page: the form, its confirmation, the "not sent yet" and "too many" pages, the outbox sender."""
import functools
import time
from pathlib import Path

import click
from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.cli import AppGroup
from flask_babel import LazyString, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData, URLSafeSerializer
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, ValidationError
from wtforms.widgets import CheckboxInput

from blueprints.journey import current_journey, end_journey, step_url
from blueprints.web import get_db, journey_content, render, require_schema
from clinic import callback, request_answers, triage, uploads
from clinic.client_address import client_key
from clinic.db import DatabaseBusy, DatabaseError, connect
from clinic.outbox import MailSettings, Sender, parse_addresses, retry_failed, send_pending
from clinic.requests import (
    NewRequest,
    RequestStore,
    StoredFile,
    is_replyable_email,
    is_submission_id,
    new_submission_id,
    normalise_phone,
)
from clinic.shared_limits import FallbackCounter
from clinic.typed_text import multi_line, one_line

bp = Blueprint("requests", __name__)
STARTED_SALT = "request-form-started"
DESCRIPTION_MAX = 2000
SESSION_REFERENCE = "request_reference"


# --- The form ------------------------------------------------------------------------------------------
class CheckboxesField(SelectMultipleField):
    """Tick boxes, all that apply (the form macro `checkboxes` draws them as a fieldset)."""

    option_widget = CheckboxInput()


def _call_time_label(key):
    label, hours = callback.CALL_TIMES[key]
    return _l("%(when)s, %(hours)s", when=_l(label), hours=_l(hours))  # 'Weekday mornings, 8 AM to noon'


class RequestForm(FlaskForm):
    # Labels and messages in the page's language (lazy: the form class is made once, read on each request).
    name = StringField(_l("Full name"), filters=[one_line], validators=[
        DataRequired(_l("Enter your full name")),
        Length(max=200, message=_l("Full name must be 200 characters or fewer"))])
    email = EmailField(_l("Email address"), filters=[one_line], validators=[
        DataRequired(_l("Enter your email address")),
        Length(max=254, message=_l("Email address must be 254 characters or fewer")),
        Email(_l("Enter an email address in the correct format, like name@example.com"), check_deliverability=False)])
    contact_by = RadioField(_l("How should we contact you?"), validate_choice=False,
                            choices=[SelectChoice("email", _l("By email")), SelectChoice("phone", _l("By phone"))])
    # After the choice, so it reads as the follow-up it is; required only when phone is chosen.
    phone = TelField(_l("Phone number (needed if you choose phone)"), filters=[one_line])
    # Call-back details (clinic/callback.py): ids stored, words drawn from there. Voicemail only with phone contact.
    voicemail = RadioField(_l("May we leave a voicemail that says it is about your back?"), validate_choice=False,
                           choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))])
    call_times = CheckboxesField(_l("Best times to call you"), validate_choice=False,
                                 choices=[SelectChoice(key, _call_time_label(key)) for key in callback.CALL_TIMES])
    language = RadioField(_l("Which language would you like us to use?"), validate_choice=False,
                          choices=[SelectChoice(key, _l(label)) for key, label in callback.LANGUAGES.items()])
    language_other = StringField(_l("Which language?"), filters=[one_line])
    interpreter = BooleanField(_l("I would like an interpreter"))
    # No maxlength attribute: a browser would cut pasted text short without a word; the server says what is too long.
    description = TextAreaField(_l("Your back problem, in your own words"), filters=[multi_line],
                                render_kw={"maxlength": False}, validators=[
        DataRequired(_l("Tell us about your back problem")),
        Length(max=DESCRIPTION_MAX, message=_l("Your description must be %(num)s characters or fewer",
                                               num=LazyString(format_number, DESCRIPTION_MAX)))])  # 2,000 / 2.000
    # Only on the page with FLASK_UPLOADS=true; checked in create() (clinic/uploads.py), not by WTForms.
    reports = MultipleFileField(_l("Add your reports (optional)"))
    consent = BooleanField(_l(callback.CONSENT_TEXT), validators=[
        DataRequired(_l("Tick the box to agree that we may contact you about your request"))])
    include_answers = BooleanField(_l("Include my answers from the guide"), default=True)
    # Hidden from people by a stylesheet class; a bot that fills every field gives itself away.
    website = StringField(_l("Leave this field empty"))
    submission_id = HiddenField()
    started = HiddenField()

    def validate_email(self, field):
        if not field.errors and not is_replyable_email(field.data):
            raise ValidationError(_("Enter an email address we can reply to: "
                                    "only letters, numbers and . _ - + ' = before the @"))

    def validate_phone(self, field):
        if field.data:
            if len(field.data) > 40 or normalise_phone(field.data) is None:
                raise ValidationError(_("Enter a phone number, like (555) 010-0199, +1 555 010 0199 or 555 010 0199 "
                                        "ext 12"))
        elif self.contact_by.data == "phone":
            raise ValidationError(_("Enter a phone number, or choose to be contacted by email"))

    def validate_voicemail(self, field):
        if self.contact_by.data != "phone":
            return  # not asked: whatever a browser sent is ignored (call_back() stores nothing)
        if field.data not in callback.VOICEMAIL:
            raise ValidationError(_("Choose yes or no: may we leave a voicemail that says it is about your back?"))

    def validate_call_times(self, field):
        if any(key not in callback.CALL_TIMES for key in field.data or []):
            raise ValidationError(_("Choose times to call from the list"))

    def validate_language(self, field):
        if field.data not in (None, "", *callback.LANGUAGES):
            raise ValidationError(_("Choose a language from the list"))

    def validate_language_other(self, field):
        if field.data and len(field.data) > callback.LANGUAGE_OTHER_MAX:
            raise ValidationError(_("The language must be %(num)s characters or fewer", num=callback.LANGUAGE_OTHER_MAX))

    def call_back(self):
        """The validated call-back details as stored. A language typed without choosing one counts as 'other'."""
        language = self.language.data or ("other" if self.language_other.data else None)
        return callback.CallBack(
            call_times=tuple(key for key in callback.CALL_TIMES if key in (self.call_times.data or [])),
            voicemail=self.voicemail.data if self.contact_by.data == "phone" else None,
            language=language, language_other=self.language_other.data if language == "other" else None,
            interpreter=bool(self.interpreter.data))

    def validate_contact_by(self, field):
        if field.data not in ("email", "phone"):
            raise ValidationError(_("Choose how you would like us to contact you"))


def error_list(form):
    """(id to link to, message) in page order, for the error summary; radios link to their first option."""
    targets = {"contact_by": "contact_by-0", "reports": "reports", "voicemail": "voicemail-0", "call_times": "call_times-0",
               "language": "language-0"}
    return [(targets.get(f.name, f.id), f.errors[0]) for f in form
            if f.errors and f.name not in ("csrf_token", "website", "submission_id", "started")]


# --- The signed "page served at" time --------------------------------------------------------------------
def started_serializer(secret_key):
    return URLSafeSerializer(secret_key, salt=STARTED_SALT)


def sign_started(served_at, secret_key=None):
    return started_serializer(secret_key or current_app.config["SECRET_KEY"]).dumps(int(served_at))


def read_started(token):
    """The time the form was served, or None when the token is missing or was tampered with."""
    if not isinstance(token, str) or not token:
        return None
    try:
        served_at = started_serializer(current_app.config["SECRET_KEY"]).loads(token)
    except BadData:
        return None
    return served_at if isinstance(served_at, int) else None


def now():
    # REQUEST_CLOCK (a callable) lets tests move time instead of sleeping; never set in production.
    return current_app.config.get("REQUEST_CLOCK", time.time)()


def spam_reason(form):
    """Why this valid-looking post is suspected spam, or None. The sender is never told."""
    if form.website.data:
        return "honeypot"
    served_at = read_started(form.started.data)
    if served_at is None:
        return "bad_timestamp"
    age = now() - served_at
    if age < current_app.config["REQUEST_MIN_SECONDS"]:
        return "too_fast"
    if age > current_app.config["REQUEST_MAX_AGE_SECONDS"]:
        return "too_old"
    return None


def keep_hidden_fields(form):
    """Before showing a posted form again: the same submission id (a resend stays one request), and the
    first serving time unless it is unusable, so fixing a typo in a second is not taken for a bot."""
    if not is_submission_id(form.submission_id.data):
        form.submission_id.data = new_submission_id()
    served_at = read_started(form.started.data)
    if served_at is None or now() - served_at > current_app.config["REQUEST_MAX_AGE_SECONDS"]:
        form.started.data = sign_started(now() - current_app.config["REQUEST_MIN_SECONDS"])


# --- Pages ---------------------------------------------------------------------------------------------
def journey_answers():
    """(answers, seen) of this person's journey in the guide, or None when there is none (or it cannot be read)."""
    try:
        journey_id, answers, seen = current_journey()
    except DatabaseBusy:  # the form still works without them; any other database error is a fault (500)
        return None
    return None if journey_id is None else (answers, seen)


# An answer with nothing in it, by question type: a single choice skipped, tick boxes left empty.
EMPTY_ANSWER = {"single": _l("Not answered"), "multiple": _l("None of these")}


def stored_answers(found):
    """What the request stores of the guide (clinic/request_answers.py): ids of the answers in `found`
    ((answers, seen), or None when none are sent), the content version and the language."""
    content = journey_content()  # the journey in the page's language: its `language` is the one answered in
    return request_answers.from_journey(content, *(found or (None, ())), language=content.language)


def journey_answer_pairs():
    """(question, answer) as this person reads them, exactly the answers 'Include my answers' sends, and where Back goes."""
    found = journey_answers()
    if found is None:
        return [], url_for("journey.start")
    content = journey_content()
    stored = stored_answers(found)
    rows = request_answers.answer_rows(content, stored.values, stored.free_text)
    return [(row.question, row.text or EMPTY_ANSWER.get(row.kind, "")) for row in rows], step_url(content.path(*found)[-1])


def flag_for(form, found):
    """The staff flag (clinic/triage.py): warning signs only from answers the patient chose to send."""
    signs = triage.warning_signs(journey_content(), *found) if found else []
    return current_app.extensions["triage"].assess(signs, form.description.data)


def show_form(form, *, template="requests/new.html", status=200, expired=False):
    errors = error_list(form)
    pairs, back_url = journey_answer_pairs()
    title = {"requests/new.html": _("Ask for a second opinion"),
             "requests/not_sent.html": _("Your request has not been sent yet")}[template]
    return render(template, title=_("Error: %(title)s", title=title) if errors else title, form=form, error_list=errors,
                  answer_pairs=pairs, back_url=back_url, expired=expired, description_max=DESCRIPTION_MAX,
                  clinic_zone_words=_(callback.zone_words(current_app.extensions["clinic_zone"].key)),
                  uploads_on=current_app.config["UPLOADS"]), status


@bp.get("/request")
def new():
    form = RequestForm()
    form.submission_id.data = new_submission_id()
    form.started.data = sign_started(now())
    return show_form(form)


def posted_form():
    # The posted fields only: flask-wtf would otherwise also take uploaded files or a JSON body as answers.
    return RequestForm(formdata=request.form)


def sent_files():
    """[(position, bytes)] of the files chosen in the form (at most 10 MB and a byte of each is read); [] when
    uploads are off. A browser sends a part without a file name when no file was chosen: it does not count."""
    if not current_app.config["UPLOADS"]:
        return []
    chosen = [f for f in request.files.getlist("reports") if f.filename]
    return [(position, uploads.read_limited(f.stream)) for position, f in enumerate(chosen, 1)]


def check_files(form, valid):
    """The checked files to store, or [] with the problem set on the form's `reports` field."""
    files = sent_files()
    if not files:
        return []
    checked, problems = uploads.prepare(files, clamd_socket=current_app.config["CLAMD_SOCKET"] or None)
    if problems:  # worded in the page's language (clinic/uploads.py Message)
        form.reports.errors = [_(problem.template, **problem.params) if isinstance(problem, uploads.Message) else problem
                               for problem in problems]
    elif not valid:
        # A browser cannot put a file back in a form: say so, next to the field, rather than lose it silently.
        form.reports.errors = [_("Choose your files again: they were not sent because of the problem above")]
    return checked if valid and not problems else []


def store_files(checked):
    """Write the checked files (0600, random names) before the request's transaction; their rows go in with it."""
    store = uploads.FileStore(current_app.config["UPLOADS_DIR"])
    return store, tuple(StoredFile(position, store.save(upload.data), upload.kind, len(upload.data))
                        for position, upload in enumerate(checked, 1))


@bp.post("/request")
def create():
    form = posted_form()
    valid = form.validate()
    checked = check_files(form, valid)
    if form.reports.errors:
        valid = False
    if not valid:
        keep_hidden_fields(form)
        return show_form(form, expired="csrf_token" in form.errors, status=400 if "csrf_token" in form.errors else 200)
    reason = spam_reason(form)
    submission_id = form.submission_id.data if is_submission_id(form.submission_id.data) else new_submission_id()
    config = current_app.config
    store, files = store_files(checked if reason is None else [])  # suspected spam keeps no files
    try:
        found = journey_answers() if form.include_answers.data else None
        reference, created = RequestStore(get_db(), clock=now).submit(NewRequest(
            submission_id=submission_id, name=form.name.data, email=form.email.data,
            phone=normalise_phone(form.phone.data) if form.phone.data else None, contact_by=form.contact_by.data,
            description=form.description.data, answers=stored_answers(found),
            spam_reason=reason, flag=flag_for(form, found), call_back=form.call_back(),
            consent_text=str(form.consent.label.text), files=files), patient_receipt=config["PATIENT_RECEIPT"],
            hourly_ceiling=config["REQUEST_HOURLY_CEILING"])
    except DatabaseBusy as error:
        store.delete([f.stored_name for f in files])
        # Locked, full, read-only: the transaction rolled back, nothing is half-written. The message
        # is SQLite's own ("database is locked"), never anything the patient typed. Any other database
        # error (a missing column) is not the patient's to retry: it reaches the 500 page and the log.
        current_app.logger.warning("request not stored: %s: %s", type(error).__name__, error)
        form.submission_id.data = submission_id
        keep_hidden_fields(form)
        if files:
            form.reports.errors = [_("Choose your files again: they were not sent")]
        return show_form(form, template="requests/not_sent.html", status=503)
    except BaseException:
        store.delete([f.stored_name for f in files])
        raise
    if not created:  # the same submission again: the first one's files stand
        store.delete([f.stored_name for f in files])
    if created and reason is None:
        wake_sender(current_app)
    # The answers now travel with the request (if the box was ticked) and nowhere else, so erasing
    # the request erases them; a failure here only leaves them to expire with unfinished journeys.
    try:
        end_journey()
    except DatabaseBusy:
        current_app.logger.warning("journey not deleted after a request; it expires on its own")
    except DatabaseError:
        # A fault, logged as one; but the request is stored, so the patient is still told it was sent.
        current_app.logger.exception("journey not deleted after a request; it expires on its own")
    session[SESSION_REFERENCE] = reference
    return redirect(url_for("requests.sent"), 303)


@bp.get("/request/sent")
def sent():
    # Only the browser that sent the request sees its confirmation: the reference sits in its session.
    reference = session.get(SESSION_REFERENCE)
    if not isinstance(reference, str):
        return redirect(url_for("requests.new"))
    # When the database cannot tell, asking the patient to call today is the safe side; the request is stored.
    try:
        flagged = RequestStore(get_db()).is_flagged(reference)
    except DatabaseBusy:
        flagged = True
    except DatabaseError:
        current_app.logger.exception("could not read whether a request is flagged; its confirmation asks for a call")
        flagged = True
    return render("requests/sent.html", title=_("Request sent"), reference=reference, flagged=flagged)


@bp.errorhandler(CSRFError)
def form_expired(error):
    """An expired or missing token (a patient who took over an hour): the form again, as typed, with a fresh token."""
    if request.endpoint != "requests.create":
        return render("errors/error.html", code=400, title=_("This page has expired"),
                      message=_("Please go back, reload the page and try again.")), 400
    form = posted_form()
    keep_hidden_fields(form)
    return show_form(form, expired=True, status=400)


@bp.errorhandler(429)
def too_many(error):
    response = current_app.make_response((render("requests/too_many.html", title=_("Please wait a moment")), 429))
    limit = current_app.extensions["request_limiter"].current_limit
    if limit is not None:
        response.headers["Retry-After"] = str(max(1, int(limit.reset_at - time.time())))
    return response


# --- Sending mail --------------------------------------------------------------------------------------
def mail_settings(app):
    config = app.config
    content = app.extensions["journey"]
    return MailSettings(
        mail_dir=config.get("MAIL_DIR") or str(Path(app.instance_path) / "mail"),
        base_url=config["BASE_URL"], clinic_name=content.clinic_name, clinic_phone=content.clinic_phone,
        mail_from=config["MAIL_FROM"], staff_emails=parse_addresses(config["STAFF_EMAILS"]),
        smtp_host=config["SMTP_HOST"], smtp_port=config["SMTP_PORT"], smtp_starttls=config["SMTP_STARTTLS"],
        smtp_user=config["SMTP_USER"], smtp_password=config["SMTP_PASSWORD"], smtp_timeout=config["SMTP_TIMEOUT"],
        max_attempts=config["OUTBOX_MAX_ATTEMPTS"], retry_seconds=config["OUTBOX_RETRY_SECONDS"],
        lease_seconds=config["OUTBOX_LEASE_SECONDS"],
    )


def autosend(app):
    return app.config["OUTBOX_AUTOSEND"] and not app.testing


def wake_sender(app):
    if autosend(app):
        app.extensions["outbox_sender"].wake()


outbox_cli = AppGroup("outbox", help="The mail outbox (staff notifications, patient receipts).")


@outbox_cli.command("send")
def send_command():
    """Send what is due now, once (SMTP, or .eml files when FLASK_SMTP_HOST is empty), and print the counts."""
    require_schema()
    counts = send_pending(current_app.config["DATABASE_URL"], mail_settings(current_app))
    click.echo(f"outbox: {counts['sent']} sent, {counts['retry']} to retry later, {counts['failed']} failed")


@outbox_cli.command("retry-failed")
def retry_failed_command():
    """Queue every failed message again (after fixing the mail settings); the next pass sends them."""
    require_schema()
    conn = connect(current_app.config["DATABASE_URL"])
    try:
        count = retry_failed(conn)
    finally:
        conn.close()
    click.echo(f"outbox: {count} failed message(s) queued again")


def client_address():
    """The key every per-client limit counts under: the address, or an IPv6 client's /64 (clinic/client_address.py)."""
    return client_key(request.remote_addr)


def limit_only_where_limits_are(app, limiter, blueprint):
    """Flask-Limiter hooks into every request (before, after, teardown) to find out whether it has limits: a
    quarter of an htmx step's time went to finding none. This app's limits are all on `blueprint` (no default or
    application-wide limits, no other limiter), so its hooks move from the app to that blueprint: the same checks
    in the same place (after CSRFProtect's, which is app-wide) where limits are, none elsewhere."""
    if app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"):
        return  # limits on every route: every request needs the hooks

    def ours(hook):
        return getattr(hook, "__self__", None) is limiter or (
            isinstance(hook, functools.partial) and hook.args[:1] == (limiter,))

    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        moved = [hook for hook in registry.get(None, []) if ours(hook)]
        if len(moved) != 1:
            raise RuntimeError(f"Flask-Limiter's hooks are not where this expects them: {moved!r}")
        registry[None].remove(moved[0])
        registry[blueprint] = [moved[0], *registry.get(blueprint, [])]


# --- Wiring --------------------------------------------------------------------------------------------
def init_app(app):
    app.register_blueprint(bp)
    if app.config["UPLOADS"]:
        # Only this post may be large (blueprints/security.py): every other route keeps MAX_CONTENT_LENGTH (64 KB).
        app.extensions["upload_body_limits"] = {"requests.create": uploads.BODY_LIMIT}
    # One limiter per app (tests build many apps): only posts to this blueprint, per client address.
    # Call after CSRFProtect.init_app so a post without a valid token is answered before it counts.
    # With Redis (FLASK_RATELIMIT_STORAGE_URI) every process and host counts together. While Redis is down each
    # process counts in its own memory (logged once; Redis is tried again with back-off): limits stay on, and a
    # patient's request is never refused or lost for it (README "Rate limits on two hosts").
    # A Redis host that stopped answering costs a page at most a second, not the system's connect timeout.
    redis = app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://", "redis+unix://"))
    limiter = Limiter(client_address, in_memory_fallback_enabled=True,
                      storage_options={"socket_connect_timeout": 1, "socket_timeout": 1} if redis else {})
    limiter.limit(lambda: current_app.config["REQUEST_RATE_LIMIT"], methods=["POST"])(bp)
    limiter.init_app(app)
    limit_only_where_limits_are(app, limiter, bp.name)
    app.extensions["request_limiter"] = limiter
    app.extensions["journey_create_counter"] = FallbackCounter(limiter.limiter)
    app.cli.add_command(outbox_cli)

    sender = Sender(lambda: send_pending(app.config["DATABASE_URL"], mail_settings(app)),
                    interval=app.config["OUTBOX_POLL_SECONDS"])
    app.extensions["outbox_sender"] = sender

    @app.before_request
    def start_outbox_sender():
        # Lazily, in the process that serves: with gunicorn's preload a thread started in the master would not
        # survive the fork. Rows left pending by a restart go out within one poll interval.
        if autosend(app):
            sender.ensure_started()
