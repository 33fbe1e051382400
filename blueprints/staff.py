"""The staff inbox at /staff: sign-in, request list and detail, status, notes, export, erasure, audit; and its CLI."""
import functools
import itertools
import json
import sys
import time
from datetime import date, timedelta
from urllib.parse import quote, urlsplit

import click
from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    send_file,
    session,
    url_for,
)
from flask.cli import AppGroup
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from blueprints.web import get_db, is_htmx, journey_content, render
from clinic import audit, callback, factors, fhir, inbox, local_time, uploads
from clinic import staff as staff_store
from clinic.client_address import client_key
from clinic.db import connect, transaction
from clinic.private_files import private_file_for_writing
from clinic.requests import format_phone, is_reference, phone_uri
from clinic.typed_text import multi_line

bp = Blueprint("staff", __name__, url_prefix="/staff")
# The sign-in's own pages; the second-factor steps check the pending sign-in themselves (blueprints/factors.py).
PUBLIC_ENDPOINTS = frozenset({"staff.sign_in", "staff.factors.code", "staff.factors.recovery", "staff.factors.enrol",
                              "staff.factors.passkey_options", "staff.factors.passkey"})
STATUS_LABELS = {"new": "New", "contacted": "Contacted", "closed": "Closed", "spam": "Suspected spam"}
# A stored answer with nothing in it, by question type (the request page words it the same way).
EMPTY_ANSWER = {"single": "Not answered", "multiple": "None of these"}


class SignInForm(FlaskForm):
    email = StringField("Email address", validators=[InputRequired("Enter your email address")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])
    next = HiddenField()


class StatusForm(FlaskForm):
    status = RadioField("Status", choices=[SelectChoice(value, label) for value, label in STATUS_LABELS.items()],
                        validators=[InputRequired("Choose a status")])


class NoteForm(FlaskForm):
    body = TextAreaField("Add an internal note", filters=[multi_line], validators=[
        InputRequired("Enter the note"),
        Length(max=inbox.NOTE_MAX_LENGTH, message=f"The note must be {inbox.NOTE_MAX_LENGTH} characters or fewer"),
    ])


# --- helpers ----------------------------------------------------------------------------------------------
def now():
    clock = current_app.config.get("STAFF_CLOCK")
    return clock() if clock else time.time()


def hasher():
    return current_app.extensions["staff_hasher"]


def throttle():
    return staff_store.Throttle.from_settings(current_app.config)


def safe_next(target):
    """`target` if it is a path inside /staff on this site, else None (no open redirects)."""
    if not target or not isinstance(target, str) or any(ord(c) < 32 for c in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    if parts.path != "/staff" and not parts.path.startswith("/staff/"):
        return None
    if parts.path.startswith("/staff/sign-"):
        return None
    return target


def staff_token():
    return request.cookies.get(current_app.config["STAFF_COOKIE_NAME"])


def set_staff_cookie(response, token):
    """HttpOnly, SameSite=Lax, Path=/; Secure in production. No Max-Age: the server ends idle sessions."""
    config = current_app.config
    if token is None:
        response.delete_cookie(config["STAFF_COOKIE_NAME"], path="/", secure=config["SESSION_COOKIE_SECURE"],
                               httponly=True, samesite="Lax")
    else:
        response.set_cookie(config["STAFF_COOKIE_NAME"], token, path="/", secure=config["SESSION_COOKIE_SECURE"],
                            httponly=True, samesite="Lax")
        g.staff_cookie_issued = True  # a stale cookie's deferred deletion (require_staff) must not undo this one
    return response


def admin_only(view):
    """Mark a view as for the `admin` role: require_staff answers 403 to a reader before the view runs."""
    view.admin_only = True
    return view


def fresh_factor(return_to=None):
    """Views that export, erase or change one's own factors: when the session's second factor is older than
    15 minutes (factors.REAUTH_SECONDS), send the browser to give it again, then back to the page the action is on
    (the GET itself, or `return_to(**view_args)` for a post)."""

    def wrap(view):
        @functools.wraps(view)
        def guarded(**arguments):
            if not factors.needs_reauth(g.staff.factor_at, now()):
                return view(**arguments)
            if request.method == "GET":
                back = request.full_path.rstrip("?")
            else:
                back = return_to(**arguments) if return_to else url_for("staff.inbox")
            target = url_for("staff.factors.confirm", next=safe_next(back))
            if is_htmx():
                return "", 204, {"HX-Redirect": target}
            return redirect(target, 303 if request.method != "GET" else 302)

        return guarded

    return wrap


def audited(action, reference=None, detail=None):
    with transaction(get_db()):
        audit.record(get_db(), g.staff, action, now(), reference=reference, detail=detail)


@bp.before_request
def require_staff():
    token = staff_token()
    g.staff = staff_store.session_staff(get_db(), token, now(), current_app.config["STAFF_SESSION_IDLE_SECONDS"],
                                        current_app.config["STAFF_SESSION_MAX_SECONDS"])
    if g.staff is None and token is not None:
        # Runs after the view: unless the view signed someone in, the browser forgets the dead token.
        after_this_request(lambda response: response if g.get("staff_cookie_issued") else set_staff_cookie(response, None))
    if g.staff is not None:
        view = current_app.view_functions.get(request.endpoint)
        if getattr(view, "admin_only", False) and not g.staff.is_admin:
            abort(403)  # roles are checked here, on the server, before any admin view runs
        if "reference" in (request.view_args or {}) and not is_reference(request.view_args["reference"]):
            # Not a reference we hand out: no request has it, and PostgreSQL cannot even compare text with a NUL
            # in it (a 500), so no view looks it up. The page never repeats another site's words either.
            abort(404)
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.method == "GET":
        wanted = request.full_path.rstrip("?")
    elif request.view_args and "reference" in request.view_args:
        wanted = url_for("staff.detail", reference=request.view_args["reference"])
    else:
        wanted = None
    target = url_for("staff.sign_in", next=safe_next(wanted))
    if is_htmx():
        # A swap would put the sign-in form inside the page: send the whole browser there instead.
        return "", 204, {"HX-Redirect": target}
    return redirect(target, 303 if request.method != "GET" else 302)


def clinic_zone():
    return current_app.extensions["clinic_zone"]


@bp.app_template_filter("staff_time")
def staff_time(seconds):
    """'November 25, 2026, 11:42 PM EST': stored UTC seconds in the clinic's time zone (FLASK_CLINIC_TIMEZONE)."""
    return local_time.staff_time(seconds, clinic_zone())


@bp.app_template_filter("iso_utc")
def iso_utc(seconds):
    return local_time.iso_utc(seconds)


@bp.app_template_filter("mailto")
def mailto(address):
    """A mailto: URL for one recipient: every character that could start a header field (?, &, #) or an escape (%)
    is percent-encoded (RFC 6068), so an address cannot add a Bcc or a body to a reply."""
    return "mailto:" + quote(address, safe="@")


@bp.app_template_filter("call_times")
def call_times(ids):
    """Stored call-time ids as staff read them, with the hours in the clinic's zone: 'Weekday mornings (8 AM to noon
    Central Time)'."""
    return callback.call_times_for_staff(ids, clinic_zone().key)


bp.add_app_template_filter(callback.language_words, "language_words")
bp.add_app_template_filter(callback.preferred_language, "preferred_language")
bp.add_app_template_filter(lambda code: callback.LANGUAGES.get(code, code), "language_name")


@bp.app_template_filter("file_kind")
def file_kind(kind):
    return uploads.KINDS[kind][2] if kind in uploads.KINDS else kind


@bp.app_template_filter("file_size")
def file_size(size):
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


# Patients type numbers any way they like; staff read them grouped, and dial them with one tap.
bp.add_app_template_filter(format_phone, "phone")
bp.add_app_template_filter(phone_uri, "phone_uri")


@bp.app_context_processor
def staff_context():
    return {"status_labels": STATUS_LABELS}


@bp.context_processor
def staff_area_context():
    """Staff pages get the inbox's own header and footer instead of the patient site's (templates/layout.html)."""
    return {"staff_area": True, "site_label": f"Clinic inbox – {journey_content().clinic_name}",
            "clinic_zone_name": clinic_zone().key}


# --- sign-in and sign-out ---------------------------------------------------------------------------------
@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        if g.staff is not None:
            return redirect(safe_next(request.args.get("next")) or url_for("staff.inbox"))
        form.next.data = safe_next(request.args.get("next")) or ""
        staff_store.warm_up(hasher())
    problem, wait = None, 0
    if form.validate_on_submit():
        db = get_db()
        outcome, member, wait = staff_store.sign_in(db, form.email.data, form.password.data, client_key(request.remote_addr),
                                                    hasher(), now(), throttle())
        if outcome == "ok":
            # The password alone opens nothing: the second factor follows (blueprints/factors.py).
            return factors_bp().begin(member, safe_next(form.next.data))
        problem = outcome
    errors = [(form[name].id, form[name].errors[0]) for name in ("email", "password") if form[name].errors]
    has_error = bool(errors or problem)
    page = render("staff/sign_in.html", title=("Error: " if has_error else "") + "Staff sign-in", form=form,
                  errors=errors, problem=problem, wait_minutes=-(-wait // 60) if problem == "locked" else 0)
    if problem == "locked":
        return page, 429, {"Retry-After": str(wait)}
    return page


def factors_bp():
    from blueprints import factors  # the second factor's routes, a blueprint nested in this one

    return factors


def start_staff_session(member, next_url, page=None, detail=None):
    """Only once the second factor is given. `page()` makes the response (the recovery codes at enrolment, a JSON
    answer to a passkey), else a redirect to `next_url` or the inbox."""
    db = get_db()
    staff_store.end_session(db, staff_token())
    # A fresh session token and CSRF token: nothing issued before sign-in carries over.
    session.pop("csrf_token", None)
    token = staff_store.start_session(db, member, now())
    g.staff = staff_store.StaffMember(member.id, member.email, member.role, int(now()))
    g.staff_token = token
    audited("signed_in", detail=detail)
    response = make_response(page()) if page else redirect(next_url or url_for("staff.inbox"), 303)
    return set_staff_cookie(response, token)


@bp.post("/sign-out")
def sign_out():
    audited("signed_out")
    staff_store.end_session(get_db(), staff_token())
    session.pop("csrf_token", None)
    flash("", "signed_out")
    return set_staff_cookie(redirect(url_for("staff.sign_in"), 303), None)


# --- the list and a request -------------------------------------------------------------------------------
@bp.get("/", endpoint="inbox")
@bp.get("", endpoint="inbox")  # first: url_for builds /staff
def inbox_page():
    status = request.args.get("status", "new")
    if status not in inbox.STATUSES:
        status = "new"
    db = get_db()
    return render("staff/inbox.html", title=f"Requests: {STATUS_LABELS[status]}", status=status,
                  requests=inbox.list_requests(db, status), counts=inbox.counts(db),
                  flagged_counts=inbox.flagged_counts(db),
                  failed_notifications=inbox.failed_notifications(db))


def not_from_other_sites(view):
    """For GETs that write an audit row: a navigation that another site started (the browser says
    `Sec-Fetch-Site: cross-site`) gets a page with our own link instead, so no site can make a signed-in nurse
    leave a "viewed" row. Links typed, bookmarked, or opened from a mail program (`none`) go straight through.
    A reference not shaped like ours was a 404 before this (require_staff)."""

    @functools.wraps(view)
    def guarded(**arguments):
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            return render("staff/elsewhere.html", title="Opened from another site",
                          target=url_for(request.endpoint, **arguments), reference=arguments.get("reference")), 403
        return view(**arguments)

    return guarded


@bp.get("/requests/<reference>")
@not_from_other_sites
def detail(reference):
    return show_detail(reference)


def show_detail(reference, status_form=None, note_form=None, record_view=True):
    db = get_db()
    found = inbox.get_request(db, reference, journey_content()) or abort(404)
    if record_view:
        audited("viewed", reference=reference)
    status_form = status_form or StatusForm(formdata=None, status=found["status"])
    note_form = note_form or NoteForm(formdata=None)
    errors = [(field.id, field.errors[0]) for field in (status_form.status, note_form.body) if field.errors]
    return render("staff/detail.html", title=("Error: " if errors else "") + f"Request {reference}",
                  found=found, status_form=status_form, note_form=note_form, errors=errors,
                  banner=current_app.extensions["triage"].banner_for(found["flag_concepts"]),
                  unsure=unsure_answers(found["guide"]))


def unsure_answers(guide):
    """(number of "no" answers, number of SURE questions) when the patient said "no" to any of the guide's SURE
    questions (content/decision.yaml), else None: staff see at once who is not sure about their choice."""
    decision = journey_content().decision
    if decision is None or guide is None or guide.legacy:
        return None
    no = sum(1 for question_id in decision.sure_questions if (guide.values or {}).get(question_id) == ["no"])
    return (no, len(decision.sure_questions)) if no else None


def after_change(reference):
    """htmx gets the updated request in place; without JavaScript, Post/Redirect/Get."""
    if is_htmx():
        response = make_response(show_detail(reference, record_view=False))
        response.headers["HX-Push-Url"] = url_for("staff.detail", reference=reference)
        return response
    return redirect(url_for("staff.detail", reference=reference), 303)


@bp.post("/requests/<reference>/status")
def change_status(reference):
    form = StatusForm()
    if not form.validate_on_submit():
        return show_detail(reference, status_form=form, record_view=False)
    if not inbox.change_status(get_db(), g.staff, reference, form.status.data, now()):
        abort(404)
    flash(STATUS_LABELS[form.status.data], "status_changed")
    return after_change(reference)


@bp.post("/requests/<reference>/notes")
def add_note(reference):
    form = NoteForm()
    valid = form.validate_on_submit()
    if valid and not form.body.data.strip():
        form.body.errors.append("Enter the note")
        valid = False
    if not valid:
        return show_detail(reference, note_form=form, record_view=False)
    if not inbox.add_note(get_db(), g.staff, reference, form.body.data, now()):
        abort(404)
    flash(reference, "note_added")
    return after_change(reference)


def file_store():
    return uploads.FileStore(current_app.config["UPLOADS_DIR"])


@bp.get("/requests/<reference>/files/<position>")  # a plain segment, so URL-map walks can fill it like reference
@not_from_other_sites
def download_file(reference, position):
    """A report the patient attached, only ever as a download: never shown in the browser (`attachment`, `nosniff`
    and a sandbox policy, so a PDF's scripts cannot run with this site's rights). Each one in the audit trail."""
    if position not in [str(n) for n in range(1, uploads.MAX_FILES + 1)]:
        abort(404)
    position = int(position)
    found = inbox.request_file(get_db(), reference, position) or abort(404)
    path = file_store().path(found["stored_name"])
    if not path.is_file():
        abort(404)
    media_type, ending, _ = uploads.KINDS[found["kind"]]
    audited("viewed", reference=reference, detail=f"file {position} ({found['kind']}) downloaded")
    response = send_file(path, mimetype=media_type, as_attachment=True, download_name=f"{reference}-file-{position}.{ending}",
                         conditional=False, etag=False, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/requests/<reference>/erase", methods=["GET", "POST"])
@admin_only
@fresh_factor(return_to=lambda reference: url_for("staff.erase", reference=reference))
def erase(reference):
    db = get_db()
    found = inbox.get_request(db, reference, journey_content()) or abort(404)
    if request.method == "POST":
        inbox.erase(db, g.staff, reference, now(), files=file_store())
        flash(reference, "erased")
        return redirect(url_for("staff.inbox", status=found["status"]), 303)
    return render("staff/erase.html", title=f"Erase request {reference}?", found=found)


# --- export and audit -------------------------------------------------------------------------------------
@bp.post("/export.csv")
@admin_only
@fresh_factor(return_to=lambda: url_for("staff.inbox", status=request.form.get("status") or None))
def export():
    """A form post (CSRF token, same-site only): a link or a script on another site cannot start a download."""
    status = request.form.get("status")
    reader = connect(current_app.config["DATABASE_URL"], busy_timeout_ms=current_app.config["DATABASE_BUSY_TIMEOUT_MS"])
    _, chunks = inbox.export_csv(reader, get_db(), g.staff, now(), zone=clinic_zone(), journey=journey_content(),
                                 empty_answer=EMPTY_ANSWER, status=status if status in inbox.STATUSES else None)
    stamp = local_time.local(now(), clinic_zone()).strftime("%Y%m%d-%H%M")
    # Streamed as it is read, so memory stays flat however many requests there are.
    response = current_app.response_class(itertools.chain(["\ufeff"], chunks), mimetype="text/csv")  # BOM: UTF-8 to spreadsheets
    response.call_on_close(reader.close)  # also when the download is abandoned before the first row
    response.headers["Content-Disposition"] = f'attachment; filename="requests-{stamp}.csv"'
    return response


# --- FHIR export ------------------------------------------------------------------------------------------
class FhirExportForm(FlaskForm):
    """One request (its page posts the reference) or those received in a date range (the clinic's days)."""

    reference = HiddenField()
    received_from = StringField("Received from", render_kw={"type": "date"})
    received_to = StringField("Received up to and including", render_kw={"type": "date"})

    def day(self, field):
        try:
            return date.fromisoformat(field.data) if field.data else None
        except ValueError:
            return None

    def validate_received_from(self, field):
        if field.data and self.day(field) is None:
            raise ValidationError("Enter the first day as a date, like 2026-12-01")

    def validate_received_to(self, field):
        if field.data and self.day(field) is None:
            raise ValidationError("Enter the last day as a date, like 2026-12-31")
        first, last = self.day(self.received_from), self.day(field)
        if first and last and last < first:
            raise ValidationError("The last day must be the same as the first day or after it")

    def validate_reference(self, field):
        if field.data and not is_reference(field.data):
            raise ValidationError("That is not a request reference")


def show_fhir_export(form, status=200):
    errors = [(form[name].id, form[name].errors[0]) for name in ("received_from", "received_to") if form[name].errors]
    return render("staff/export_fhir.html", title=("Error: " if errors else "") + "Export for a records system (FHIR)",
                  form=form, errors=errors), status


@bp.get("/export-fhir")
@admin_only
def fhir_export_page():
    return show_fhir_export(FhirExportForm(formdata=None))


def fhir_return_to():
    """Back to the request the export was started from, or to the export page."""
    reference = request.form.get("reference")
    if reference and is_reference(reference):
        return url_for("staff.detail", reference=reference)
    return url_for("staff.fhir_export_page")


@bp.post("/export-fhir")
@admin_only
@fresh_factor(return_to=fhir_return_to)
def fhir_export():
    """A form post (CSRF token, same-site only), audited; admins only, with a second factor within 15 minutes."""
    form = FhirExportForm()
    if not form.validate_on_submit():
        if form.reference.errors:
            abort(404)
        for field in (form.received_from, form.received_to):
            if form.day(field) is None:
                field.data = ""  # a date input holds only a date: what no browser's picker sends is not echoed
        return show_fhir_export(form, status=400)
    zone = clinic_zone()
    first, last = form.day(form.received_from), form.day(form.received_to)
    start = local_time.start_of_day(first, zone) if first else None
    end = local_time.start_of_day(last + timedelta(days=1), zone) if last else None
    bundle, count = fhir_bundle(get_db(), g.staff, now(), reference=form.reference.data or None,
                                received_from=start, received_to=end)
    if form.reference.data and count == 0:
        abort(404)
    stamp = local_time.local(now(), zone).strftime("%Y%m%d-%H%M")
    name = f"{form.reference.data}-fhir.json" if form.reference.data else f"requests-fhir-{stamp}.json"
    response = current_app.response_class(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n", mimetype=fhir.MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def fhir_bundle(conn, actor, moment, **selection):
    """The Bundle of the selected requests, with its "exported" audit row (committed before it is handed out)."""
    rows = fhir.select_rows(conn, **selection)
    if selection.get("reference") and not rows:
        return None, 0  # no such request: nothing handed out, nothing to audit
    bundle = fhir.build_bundle(rows, journey_content(), current_app.config["BASE_URL"], moment)
    what = f"FHIR bundle, {len(rows)} request{'' if len(rows) == 1 else 's'}"
    with transaction(conn):
        audit.record(conn, actor, "exported", moment, reference=selection.get("reference"), detail=what)
    return bundle, len(rows)


@bp.get("/audit")
@admin_only
def audit_page():
    before = request.args.get("before", type=int)
    valid = before is not None and 0 < before < 2**63  # SQLite integers are 64-bit: larger ones would raise
    rows = audit.recent(get_db(), limit=200, before_id=before if valid else None)
    older = rows[-1]["id"] if len(rows) == 200 else None
    return render("staff/audit.html", title="Audit trail", rows=rows, older=older)


# --- command line -----------------------------------------------------------------------------------------
staff_cli = AppGroup("staff", help="Staff accounts for the inbox at /staff.")
requests_cli = AppGroup("requests", help="Second-opinion requests: export and retention.")


@staff_cli.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--role", type=click.Choice(staff_store.ROLES), default="reader", show_default=True,
              help="reader: list, read, change status, add notes. admin: also export, erase, the audit trail.")
def staff_create_command(email, password_stdin, role):
    """Create a staff account (password of at least 12 characters); it enrols a second factor at first sign-in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        member = staff_store.create_staff(get_db(), email, password, hasher(), time.time(), role=role)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created staff account {member.email} ({member.role})")


@staff_cli.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(staff_store.ROLES))
def staff_role_command(email, role):
    """Make an account a reader or an admin (takes effect on its next click)."""
    if not staff_store.set_role(get_db(), email, role):
        raise click.ClickException(f"no staff account for {email}")
    click.echo(f"{staff_store.normalise_email(email)} is now {role}")


@staff_cli.command("reset-factors")
@click.argument("email")
def staff_reset_factors_command(email):
    """A lost phone: forget the account's authenticator app, recovery codes and passkeys, end its sessions (audited).
    Its next sign-in with the password enrols again."""
    member = staff_store.find_staff(get_db(), email)
    if member is None:
        raise click.ClickException(f"no staff account for {email}")
    factors.reset(get_db(), member.id)
    with transaction(get_db()):
        audit.record(get_db(), None, "factors_reset", time.time(), detail=member.email)
    click.echo(f"Reset the second factor of {member.email}: it enrols again at its next sign-in")


@staff_cli.command("list")
def staff_list_command():
    """List staff accounts."""
    for row in staff_store.list_staff(get_db()):
        state = "active" if row["active"] else "disabled"
        second = "second factor set up" if row["totp_enrolled_at"] else "not enrolled yet"
        click.echo(f"{row['email']}\t{state}\t{row['role']}\t{second}\tcreated {staff_time(row['created_at'])}")


@staff_cli.command("disable")
@click.argument("email")
def staff_disable_command(email):
    """Disable an account and end its sessions."""
    if not staff_store.disable_staff(get_db(), email, time.time()):
        raise click.ClickException(f"no staff account for {email}")
    click.echo(f"Disabled {staff_store.normalise_email(email)}")


@requests_cli.command("export")
@click.option("--status", type=click.Choice(inbox.STATUSES), help="Only requests with this status (CSV).")
@click.option("--format", "export_format", type=click.Choice(["csv", "fhir"]), default="csv", show_default=True,
              help="csv for spreadsheets; fhir for a records system (a FHIR R4 collection Bundle, needs --output).")
@click.option("--reference", help="Only this request (FHIR): FBS-XXXX.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file, mode 0600 whatever the umask (a wider existing one is tightened first).")
def requests_export_command(status, export_format, reference, output):
    """Write every request as CSV to --output FILE, or to standard output (audited); --format fhir for FHIR."""
    if export_format == "fhir":
        if output is None:
            raise click.UsageError("--format fhir writes to a file: add --output FILE")
        if reference is not None and not is_reference(reference):
            raise click.BadParameter("a reference looks like FBS-7K3Q", param_hint="--reference")
        bundle, count = fhir_bundle(get_db(), None, time.time(), reference=reference)
        if reference is not None and count == 0:
            raise click.ClickException(f"No request {reference} (suspected spam is never exported)")
        with private_file_for_writing(output) as handle:
            handle.write(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n")
        click.echo(f"Exported {count} request{'' if count == 1 else 's'} as FHIR to {output}", err=True)
        return
    reader = connect(current_app.config["DATABASE_URL"])
    try:
        _, chunks = inbox.export_csv(reader, get_db(), None, time.time(), zone=clinic_zone(), journey=journey_content(),
                                     empty_answer=EMPTY_ANSWER, status=status)
        if output is None:
            for chunk in chunks:
                click.echo(chunk, nl=False)
            return
        with private_file_for_writing(output) as handle:
            for chunk in chunks:
                handle.write(chunk)
    finally:
        reader.close()
    click.echo(f"Exported to {output}", err=True)


@requests_cli.command("purge")
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True, help="Age in days.")
def requests_purge_command(days):
    """Erase requests received more than DAYS days ago, with their notes and outbox rows."""
    count = inbox.purge(get_db(), None, days, time.time(), files=file_store())
    click.echo(f"Purged {count} request{'s' if count != 1 else ''} older than {days} days")


def init_app(app):
    app.extensions["staff_hasher"] = staff_store.make_hasher(app.config["STAFF_ARGON2"])
    factors_bp()  # registers itself inside this blueprint, once per process
    app.register_blueprint(bp)
    app.cli.add_command(staff_cli)
    app.cli.add_command(requests_cli)
