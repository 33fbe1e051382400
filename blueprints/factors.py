"""The staff second factor: enrolment, the code after the password, recovery codes, passkeys, asking again before
export / erase / factor changes, and the "Sign-in methods" page. Nested in the staff blueprint (/staff/...)."""
import base64
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, request, session, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from blueprints import staff
from blueprints.web import get_db, journey_content, render
from clinic import factors
from clinic import staff as staff_store
from clinic.client_address import client_key

bp = Blueprint("factors", __name__)
PENDING_SECONDS = 10 * 60  # from the right password to the second factor
CHALLENGE_SECONDS = 5 * 60  # a passkey challenge is good once, for this long
PASSKEY_NAME_MAX = 60


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[InputRequired("Enter the 6-digit code")])
    next = HiddenField()


class RecoveryForm(FlaskForm):
    code = StringField("Recovery code", validators=[InputRequired("Enter one of your recovery codes")])
    next = HiddenField()


class PasskeyNameForm(FlaskForm):
    name = StringField("Name for this passkey", validators=[Length(max=PASSKEY_NAME_MAX)])


# --- the sign-in waiting for its second factor --------------------------------------------------------------
def begin(member, next_url):
    """The password was right: remember who (in the signed session cookie, for 10 minutes) and ask for the second
    factor, or for enrolment when the account has none yet."""
    session["staff_pending"] = [member.id, int(staff.now()), next_url or ""]
    target = "staff.factors.code" if factors.enrolled(get_db(), member.id) else "staff.factors.enrol"
    return redirect(url_for(target), 303)


def pending_member():
    pending = session.get("staff_pending")
    if not isinstance(pending, list) or len(pending) != 3:
        return None
    staff_id, started, _ = pending
    if not isinstance(staff_id, int) or not isinstance(started, int) or staff.now() - started > PENDING_SECONDS:
        return None
    return staff_store.member_by_id(get_db(), staff_id)


def pending_next():
    return staff.safe_next(session.get("staff_pending", [None, None, None])[2])


def finish(member, page=None, detail=None):
    next_url = pending_next()
    session.pop("staff_pending", None)
    session.pop("passkey_challenge", None)
    return staff.start_staff_session(member, next_url, page=page, detail=detail)


def settings_throttle():
    return staff_store.Throttle.from_settings(current_app.config)


def check_factor(member, check):
    """Count the attempt in the sign-in throttle, then run `check`: ('ok'|'wrong'|'locked', wait seconds)."""
    # Keyed like the password step (an IPv6 home by its /64), so both count in the same limits.
    return staff_store.second_factor(get_db(), member, client_key(request.remote_addr), staff.now(),
                                     settings_throttle(), check)


def locked_message(wait):
    minutes = -(-wait // 60)
    return f"Too many attempts to sign in. Please wait {minutes} minute{'' if minutes == 1 else 's'} and try again."


def code_page(form, member, kind, purpose, problem=None, wait=0, status=200):
    errors = [(form.code.id, form.code.errors[0])] if form.code.errors else []
    messages = {
        "wrong": ("That code is not right, or it was used already. Wait for the next code and try again."
                  if kind == "totp" else "That recovery code is not right, or it was used already."),
        "locked": locked_message(wait),
    }
    if problem:
        errors.append((form.code.id, messages[problem]))
    title = "Confirm it is you" if purpose == "confirm" else "Enter your code"
    back = staff.safe_next(form.next.data) if purpose == "confirm" else None
    endpoints = {"sign-in": ("code", "recovery", "passkey_options", "passkey"),
                 "confirm": ("confirm", "confirm_recovery", "confirm_passkey_options", "confirm_passkey")}[purpose]
    totp, recovery, options, passkey = (f"staff.factors.{name}" for name in endpoints)
    links = {"action": url_for(totp if kind == "totp" else recovery),
             "other": url_for(recovery if kind == "totp" else totp, next=back),
             "passkey_options": url_for(options), "passkey": url_for(passkey, next=back)}
    page = render("staff/second_factor.html", title=("Error: " if errors else "") + title, heading=title, form=form,
                  errors=errors, kind=kind, purpose=purpose, member=member, links=links,
                  has_passkeys=bool(factors.passkeys(get_db(), member.id)))
    headers = {"Retry-After": str(wait)} if problem == "locked" else {}
    return page, 429 if problem == "locked" else status, headers


def code_is_well_formed(form, kind):
    if not form.validate_on_submit():
        return False
    if kind == "totp" and not factors.looks_like_totp(form.code.data):
        form.code.errors.append("Enter the 6 digits your authenticator app shows, like 123456")
        return False
    if kind == "recovery" and not factors.looks_like_recovery(form.code.data):
        form.code.errors.append("Enter a recovery code of 16 letters and digits, like ABCD-EFGH-JKLM-NPQR")
        return False
    return True


def verify_code(member, form, kind):
    """(outcome, wait, codes left or None) for the code in `form`, counted in the sign-in throttle."""
    left = []

    def check():
        if kind == "totp":
            return factors.accept_totp(get_db(), member.id, form.code.data, staff.now())
        remaining = factors.use_recovery_code(get_db(), member.id, form.code.data, staff.now(), staff.hasher())
        left.append(remaining)
        return remaining is not None

    outcome, wait = check_factor(member, check)
    return outcome, wait, (left[0] if left else None)


@bp.route("/sign-in/code", methods=["GET", "POST"], endpoint="code")
@bp.route("/sign-in/recovery", methods=["GET", "POST"], endpoint="recovery")
def sign_in_code():
    kind = "recovery" if request.endpoint == "staff.factors.recovery" else "totp"
    member = pending_member()
    if member is None:
        return redirect(url_for("staff.sign_in"), 303 if request.method == "POST" else 302)
    if not factors.enrolled(get_db(), member.id):
        return redirect(url_for("staff.factors.enrol"), 303 if request.method == "POST" else 302)
    form = (RecoveryForm if kind == "recovery" else CodeForm)()
    if request.method == "GET" or not code_is_well_formed(form, kind):
        return code_page(form, member, kind, "sign-in")
    outcome, wait, left = verify_code(member, form, kind)
    if outcome != "ok":
        return code_page(form, member, kind, "sign-in", problem=outcome, wait=wait)
    if kind == "recovery":
        response = finish(member, detail="with a recovery code")
        staff.audited("recovery_code_used", detail=f"{left} left")
        flash(str(left), "recovery_code_used")
        return response
    return finish(member)


# --- enrolment ----------------------------------------------------------------------------------------------
def grouped(secret):
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@bp.route("/sign-in/enrol", methods=["GET", "POST"], endpoint="enrol")
def enrol():
    member = pending_member()
    if member is None:
        return redirect(url_for("staff.sign_in"), 303 if request.method == "POST" else 302)
    db = get_db()
    if factors.enrolled(db, member.id):
        return redirect(url_for("staff.factors.code"), 303 if request.method == "POST" else 302)
    secret = factors.pending_secret(db, member.id)
    form = CodeForm()
    problem, wait = None, 0
    if request.method == "POST" and code_is_well_formed(form, "totp"):
        matched = []

        def check():
            step = factors.matching_step(secret, form.code.data, staff.now(), -1)
            matched.append(step)
            return step is not None

        problem, wait = check_factor(member, check)
        if problem == "ok":
            codes = factors.enrol_totp(db, member.id, secret, staff.now(), staff.hasher(), last_step=matched[0])

            def page():
                staff.audited("enrolled", detail="authenticator app")
                return render("staff/recovery_codes.html", title="Save your recovery codes", codes=codes,
                              continue_to=pending_next() or url_for("staff.inbox"), first_time=True)

            return finish(member, page=page)
    errors = [(form.code.id, form.code.errors[0])] if form.code.errors else []
    if problem == "wrong":
        errors.append((form.code.id, "That code is not right. Check the time on your phone, wait for the next "
                                     "code and try again."))
    elif problem == "locked":
        errors.append((form.code.id, locked_message(wait)))
    uri = factors.provisioning_uri(secret, member.email)
    page = render("staff/enrol.html", title=("Error: " if errors else "") + "Set up your authenticator app",
                  form=form, errors=errors, secret=grouped(secret),
                  qr=Markup(factors.qr_svg(uri, "QR code to scan with your authenticator app")))  # noqa: S704  # nosec B704 - segno's SVG of our own URI
    if problem == "locked":
        return page, 429, {"Retry-After": str(wait)}
    return page


# --- asking again -------------------------------------------------------------------------------------------
@bp.route("/confirm", methods=["GET", "POST"], endpoint="confirm")
@bp.route("/confirm/recovery", methods=["GET", "POST"], endpoint="confirm_recovery")
def confirm():
    """The second factor again, before export, erase or a change to one's own factors (every 15 minutes)."""
    kind = "recovery" if request.endpoint == "staff.factors.confirm_recovery" else "totp"
    form = (RecoveryForm if kind == "recovery" else CodeForm)()
    if request.method == "GET":
        form.next.data = staff.safe_next(request.args.get("next")) or ""
        return code_page(form, g.staff, kind, "confirm")
    form.next.data = staff.safe_next(form.next.data) or ""
    if not code_is_well_formed(form, kind):
        return code_page(form, g.staff, kind, "confirm")
    outcome, wait, left = verify_code(g.staff, form, kind)
    if outcome != "ok":
        return code_page(form, g.staff, kind, "confirm", problem=outcome, wait=wait)
    staff_store.factor_given(get_db(), staff.staff_token(), staff.now())
    if kind == "recovery":
        staff.audited("recovery_code_used", detail=f"{left} left")
        flash(str(left), "recovery_code_used")
    flash("", "confirmed")
    return redirect(staff.safe_next(form.next.data) or url_for("staff.inbox"), 303)


# --- passkeys (WebAuthn) --------------------------------------------------------------------------------------
def relying_party():
    """(id, origin) from FLASK_BASE_URL, never from the request's Host header: a proxy or a crafted Host cannot
    make this site accept a passkey made for another."""
    base = urlsplit(current_app.config["BASE_URL"])
    return base.hostname, f"{base.scheme}://{base.netloc}"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def remember_challenge(challenge, purpose):
    session["passkey_challenge"] = [b64url(challenge), int(staff.now()), purpose]


def take_challenge(purpose):
    """The challenge sent for `purpose`, once: a second answer to it is refused."""
    stored = session.pop("passkey_challenge", None)
    if not isinstance(stored, list) or len(stored) != 3 or stored[2] != purpose:
        return None
    if not isinstance(stored[1], int) or staff.now() - stored[1] > CHALLENGE_SECONDS:
        return None
    return base64url_to_bytes(stored[0])


def json_options(options):
    response = current_app.response_class(options_to_json(options), mimetype="application/json")
    return response


def authentication_options(member, purpose):
    rp_id, _ = relying_party()
    keys = factors.passkeys(get_db(), member.id)
    options = generate_authentication_options(
        rp_id=rp_id, allow_credentials=[PublicKeyCredentialDescriptor(id=bytes(key["credential_id"])) for key in keys],
        user_verification=UserVerificationRequirement.PREFERRED)
    remember_challenge(options.challenge, purpose)
    return json_options(options)


def passkey_matches(member, purpose):
    """True if the posted assertion is signed by one of the member's passkeys for our challenge and origin."""
    challenge = take_challenge(purpose)
    credential = request.get_json(silent=True)
    if challenge is None or not isinstance(credential, dict) or not isinstance(credential.get("rawId"), str):
        return False
    try:
        credential_id = base64url_to_bytes(credential["rawId"])
    except (ValueError, TypeError):
        return False
    key = factors.passkey_by_credential(get_db(), member.id, credential_id)
    if key is None:
        return False
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=bytes(key["public_key"]), credential_current_sign_count=key["sign_count"])
    except (WebAuthnException, ValueError, TypeError, KeyError):
        return False
    return factors.passkey_used(get_db(), key["id"], key["sign_count"], verified.new_sign_count, staff.now())


def json_problem(message, status=200):
    """What went wrong, for the page's script to say (200: the answer is the message; 429 when throttled)."""
    return jsonify({"error": message}), status


@bp.post("/sign-in/passkey/options", endpoint="passkey_options")
def sign_in_passkey_options():
    member = pending_member()
    if member is None or not factors.passkeys(get_db(), member.id):
        return jsonify({"redirect": url_for("staff.sign_in")})
    return authentication_options(member, "sign-in")


@bp.post("/sign-in/passkey", endpoint="passkey")
def sign_in_passkey():
    member = pending_member()
    if member is None:
        return jsonify({"redirect": url_for("staff.sign_in")})
    outcome, wait = check_factor(member, lambda: passkey_matches(member, "sign-in"))
    if outcome == "locked":
        return json_problem(locked_message(wait), 429)
    if outcome != "ok":
        return json_problem("That passkey did not work. Try again, or enter the code from your app.")
    target = pending_next() or url_for("staff.inbox")
    return finish(member, page=lambda: jsonify({"redirect": target}), detail="with a passkey")


@bp.post("/confirm/passkey/options", endpoint="confirm_passkey_options")
def confirm_passkey_options():
    if not factors.passkeys(get_db(), g.staff.id):
        return json_problem("You have no passkey yet.")
    return authentication_options(g.staff, "confirm")


@bp.post("/confirm/passkey", endpoint="confirm_passkey")
def confirm_passkey():
    outcome, wait = check_factor(g.staff, lambda: passkey_matches(g.staff, "confirm"))
    if outcome != "ok":
        return json_problem("That passkey did not work. Try again, or enter the code from your app.",
                            429 if outcome == "locked" else 200)
    staff_store.factor_given(get_db(), staff.staff_token(), staff.now())
    flash("", "confirmed")
    return jsonify({"redirect": staff.safe_next(request.args.get("next")) or url_for("staff.inbox")})


# --- sign-in methods: one's own factors ---------------------------------------------------------------------
def stale():
    return factors.needs_reauth(g.staff.factor_at, staff.now())


def confirm_first_json():
    return jsonify({"redirect": url_for("staff.factors.confirm", next=url_for("staff.factors.account"))})


@bp.get("/account", endpoint="account")
def account():
    return render("staff/account.html", title="Your sign-in methods", state=factors.state(get_db(), g.staff.id),
                  name_form=PasskeyNameForm(formdata=None))


@bp.post("/account/recovery-codes", endpoint="renew_recovery_codes")
@staff.fresh_factor(return_to=lambda: url_for("staff.factors.account"))
def renew_recovery_codes():
    codes = factors.renew_recovery_codes(get_db(), g.staff.id, staff.now(), staff.hasher())
    staff.audited("recovery_codes_renewed")
    return render("staff/recovery_codes.html", title="Save your new recovery codes", codes=codes,
                  continue_to=url_for("staff.factors.account"), first_time=False)


@bp.post("/account/passkeys/options", endpoint="register_options")
def register_options():
    if stale():
        return confirm_first_json()
    rp_id, _ = relying_party()
    keys = factors.passkeys(get_db(), g.staff.id)
    options = generate_registration_options(
        rp_id=rp_id, rp_name=journey_content().clinic_name or factors.ISSUER, user_name=g.staff.email,
        user_id=f"staff-{g.staff.id}".encode(),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=bytes(key["credential_id"])) for key in keys],
        authenticator_selection=AuthenticatorSelectionCriteria(resident_key=ResidentKeyRequirement.DISCOURAGED,
                                                               user_verification=UserVerificationRequirement.PREFERRED))
    remember_challenge(options.challenge, "register")
    return json_options(options)


@bp.post("/account/passkeys", endpoint="register")
def register():
    if stale():
        return confirm_first_json()
    challenge = take_challenge("register")
    credential = request.get_json(silent=True)
    if challenge is None or not isinstance(credential, dict):
        return json_problem("That did not work. Reload the page and try again.")
    name = credential.pop("name", "") if isinstance(credential.get("name", ""), str) else ""
    name = " ".join(name.split())[:PASSKEY_NAME_MAX] or "Passkey"
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(credential=credential, expected_challenge=challenge,
                                                expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, TypeError, KeyError):
        return json_problem("That passkey could not be added. Try again.")
    try:
        factors.add_passkey(get_db(), g.staff.id, verified.credential_id, verified.credential_public_key,
                            verified.sign_count, name, staff.now())
    except Exception as error:  # noqa: BLE001 - a credential id already stored (UNIQUE): say so, do not 500
        if "UNIQUE" not in str(error):
            raise
        return json_problem("That passkey is already added.")
    staff.audited("passkey_added", detail=name)
    flash(name, "passkey_added")
    return jsonify({"redirect": url_for("staff.factors.account")})


@bp.post("/account/passkeys/<int:passkey_id>/remove", endpoint="remove_passkey")
@staff.fresh_factor(return_to=lambda passkey_id: url_for("staff.factors.account"))
def remove_passkey(passkey_id):
    names = {key["id"]: key["name"] for key in factors.passkeys(get_db(), g.staff.id)}
    if passkey_id not in names or not factors.remove_passkey(get_db(), g.staff.id, passkey_id):
        abort(404)
    staff.audited("passkey_removed", detail=names[passkey_id])
    flash(names[passkey_id], "passkey_removed")
    return redirect(url_for("staff.factors.account"), 303)


@bp.post("/account/sign-out-others", endpoint="sign_out_others")
def sign_out_others():
    ended = staff_store.end_other_sessions(get_db(), g.staff, staff.staff_token())
    staff.audited("other_sessions_ended", detail=f"{ended} session{'s' if ended != 1 else ''}")
    flash(str(ended), "other_sessions_ended")
    return redirect(url_for("staff.factors.account"), 303)


staff.bp.register_blueprint(bp)
