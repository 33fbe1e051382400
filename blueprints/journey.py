"""The guided journey: one view shows any step, one view takes its answers and routes on."""
import time

from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse_many

from blueprints.i18n import showing
from blueprints.web import get_db, is_htmx, journey_content, render
from clinic import insights
from clinic.answer_store import AnswerStore
from clinic.client_address import client_key
from clinic.journey import REQUEST_TARGET, reading

bp = Blueprint("journey", __name__)
CONTINUE_SALT = "journey-continue-later"
# This browser's journey in the session cookie. Only these keys are ever dropped by journey actions: the CSRF
# token and a sent request's reference stay (staff sign-in has a cookie of its own, see blueprints/staff.py).
# Until the first answer there is no row: "journey_seen" lists the info steps read so far (the welcome page).
JOURNEY_KEYS = ("journey_id", "journey_seen")


class TooManyJourneys(Exception):
    """No new journey now: this address started too many, or everyone together passed the hourly ceiling."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def store():
    return AnswerStore(get_db())


def current_journey():
    """(journey id, answers, seen) from the cookie's id; (None, {}, info steps read so far) when there is no row."""
    journey_id = session.get("journey_id")
    state = store().load(journey_id, current_app.config["JOURNEY_KEEP_DAYS"]) if journey_id else None
    if state is None:
        return None, {}, seen_before_first_answer()
    return journey_id, state[0], state[1]


def seen_before_first_answer():
    steps = journey_content().steps
    listed = session.get("journey_seen")
    if not isinstance(listed, list):
        return set()
    return {s for s in listed if isinstance(s, str) and s in steps and steps[s].kind == "info"}


def start_journey(seen):
    """The row for a journey, made at its first answer. Raises TooManyJourneys past either limit."""
    config = current_app.config
    retry_after = creation_rate_limited(config["JOURNEY_CREATE_RATE_LIMIT"])
    if retry_after:
        raise TooManyJourneys(retry_after)
    journey_id = store().create(seen, ceiling=config["JOURNEY_HOURLY_CEILING"])
    if journey_id is None:
        current_app.logger.warning("journey not started: %s journeys made in the last hour",
                                   config["JOURNEY_HOURLY_CEILING"])
        raise TooManyJourneys(300)
    forget_journey()
    session["journey_id"] = journey_id
    return journey_id


def creation_rate_limited(limit_text):
    """Seconds until this client address may start another journey (0: now). Counted in the app's Flask-Limiter
    storage (blueprints/requests.py makes the limiter), under a key of its own; in this process's memory while that
    storage is down (clinic/shared_limits.py)."""
    counter = current_app.extensions.get("journey_create_counter")
    if counter is None or not limit_text:
        return 0
    address = client_key(request.remote_addr)  # an IPv6 client by its /64
    for limit in parse_many(limit_text):
        allowed, strategy = counter.hit(limit, "journey-create", address)
        if not allowed:
            try:
                reset_at = strategy.get_window_stats(limit, "journey-create", address).reset_time
            except Exception:  # the store went down between the two calls: a minute is a fair guess
                reset_at = time.time() + 60
            return max(1, int(reset_at - time.time()))
    return 0


def forget_journey():
    for key in JOURNEY_KEYS:
        session.pop(key, None)


def end_journey(counting=()):
    """Forget this browser's journey: its answers leave the guide's table and the cookie's id is dropped."""
    journey_id = session.get("journey_id")
    forget_journey()
    if journey_id:
        store().delete(journey_id, counting)


def report_progress(answers, seen):
    """The staff report's milestones for a journey's answers (counted once each, in the answer's transaction)."""
    return insights.milestones(journey_content(), answers, seen)


# --- refused answers, in words (clinic/journey/model.py gives message ids; worded here in the page's language) ---
def answer_error_message(content, error):
    """The sentence for one refused answer (model.AnswerError), shown next to its question and in the summary."""
    question = error.question
    label, alone = question.label, question.label_for(question.exclusive)
    signs = content.warning_signs
    is_sign = bool(signs) and any(group.question_id == question.id for group in signs.groups)
    code = error.code
    if code == "choose_one":
        return _("Choose an answer: %(question)s", question=label)
    if code == "unknown_option":
        return _("Choose one of the answers shown")
    if code == "unknown_options":
        return _("Choose only from the answers shown")
    if code == "none_checked":
        return (_("%(question)s: check each one you have, or check \u201c%(none)s\u201d", question=label, none=alone)
                if is_sign else _("%(question)s Check at least one, or check \u201c%(none)s\u201d", question=label, none=alone))
    if code == "exclusive_with_other":
        return (_("%(question)s: you checked a sign and \u201c%(none)s\u201d. Uncheck \u201c%(none)s\u201d if you have the "
                  "sign", question=label, none=alone)
                if is_sign else _("You checked \u201c%(none)s\u201d and another answer. Uncheck one of them", none=alone))
    if code == "tick_one":
        return _("Tick at least one box: %(question)s", question=label)
    if code == "text_missing":
        return _("Enter an answer: %(question)s", question=label)
    if code == "text_too_long":
        return ngettext("%(question)s must be %(num)d character or fewer (you wrote %(length)d)",
                        "%(question)s must be %(num)d characters or fewer (you wrote %(length)d)",
                        question.max_length, question=label, length=error.length)
    if code == "text_repeated":
        return _("%(question)s: send one answer", question=label)
    raise ValueError(f"no words for the answer error {code!r}")


def step_url(step_id, **args):
    if step_id == REQUEST_TARGET:
        return request_page_url()
    return url_for("journey.step", step_id=step_id, **args)


def request_page_url():
    try:
        return url_for("requests.new")
    except Exception:  # the requests blueprint is not registered (tests of the journey alone)
        return "/request"


def continue_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=CONTINUE_SALT)


@bp.get("/")
def start():
    return show_step(journey_content().first_step)


@bp.get("/journey/<step_id>")
def step(step_id):
    return show_step(step_id)


def show_step(step_id, errors=None, typed=None, status=200, push_url=None, return_to="from-query"):
    """The step as a page, or as the partial htmx swaps in (with the URL htmx should show for it)."""
    content = journey_content()
    step = content.steps.get(step_id) or abort(404)
    journey_id, answers, seen = current_journey()
    if journey_id is None and not seen and step_id != content.first_step:
        return redirect(url_for("journey.start"))
    walked = content.path(answers, seen)
    if step_id not in walked:
        # Earlier questions are unanswered: go to the first unanswered one.
        return redirect(step_url(walked[-1]))

    index = walked.index(step_id)
    previous = walked[index - 1] if index > 0 else None
    context = {
        "step": step,
        "title": _("Error: %(title)s", title=step.heading) if errors else step.heading,
        "answers": typed if typed is not None else answers,
        "errors": errors or {},
        "error_list": [(f"{q.id}-0", errors[q.id]) for q in step.questions if errors and q.id in errors],
        "progress": content.progress(step),
        "back_url": step_url(previous) if previous else None,
        "layout": reading.layout(step, answers),
        "return_to": (request.args.get("return") if request.args.get("return") == "summary" else None)
        if return_to == "from-query" else return_to,
        "request_url": request_page_url(),
        "has_journey": journey_id is not None,
    }
    if step.kind == "stop":
        context["signs_given"] = content.warning_signs_in(answers)
        context["calls"] = [(content.clinic_phone if number == "clinic" else number, label, main)
                            for number, label, main in step.calls]
    if step.kind == "summary":
        context["summary_rows"] = [
            (question, answer, step_url(owner.id, **{"return": "summary"}) + f"#{question.id}")
            for owner, question, answer in content.relevant_answers(answers, seen)
        ]
        context["doctor_questions"] = content.doctor_questions(answers)
        decision = content.decision
        if decision:
            context["decision"] = decision
            context["values_chosen"] = decision.values_chosen(content, answers)
            context["unsure"] = decision.unsure(answers)
    if push_url:
        showing(push_url)
    headers = {"HX-Push-Url": push_url or request.script_root + request.full_path.rstrip("?")} if is_htmx() else {}
    return render("journey/step.html", **context), status, headers


@bp.post("/journey/<step_id>")
def answer(step_id):
    content = journey_content()
    step = content.steps.get(step_id) or abort(404)
    journey_id, answers, seen = current_journey()
    if journey_id is None and not seen and step_id != content.first_step:
        return redirect(url_for("journey.start"), 303)
    walked = content.path(answers, seen)
    if step_id not in walked:
        return redirect(step_url(walked[-1]), 303)

    if step.kind == "question":
        given, refused = content.read_answers(step, request.form.to_dict(flat=False))
        errors = {question_id: answer_error_message(content, error) for question_id, error in refused.items()}
        if errors:
            typed = dict(answers)
            typed.update({q.id: _typed_value(q) for q in step.questions})
            return show_step(step_id, errors=errors, typed=typed)
        if journey_id is None:
            try:
                journey_id = start_journey(seen)
            except TooManyJourneys as refused:
                return too_many_journeys(refused.retry_after)
        store().save_answers(journey_id, given, progress=report_progress)
        answers.update(given)
    elif step.kind == "info" and journey_id is None:
        # Pressing Start (or reading another page before the first question) makes no row: anyone could
        # otherwise fill the table with empty journeys, one request each.
        seen.add(step_id)
        session["journey_seen"] = sorted(seen)
    elif step.kind == "info":
        store().mark_seen(journey_id, step_id, progress=report_progress)
        seen.add(step_id)
    else:
        return redirect(step_url(step_id), 303)

    if request.args.get("return") == "summary":
        # Back to the summary if the new answers still lead there, else to what is now missing.
        return go_to(content.path(answers, seen)[-1], show_answers=True)
    return go_to(content.next_step(step, answers))


def go_to(step_id, show_answers=False):
    """After an answer: htmx gets the next step in this same response and pushes its URL (one round trip);
    plain forms keep post/redirect/get, so reload and Back never resend the form. After a change made from
    the summary, the summary opens at the answers list."""
    if is_htmx() and step_id != REQUEST_TARGET:
        return show_step(step_id, push_url=step_url(step_id), return_to=None)
    fragment = "#your-answers-list" if show_answers and journey_content().steps[step_id].kind == "summary" else ""
    return redirect(step_url(step_id) + fragment, 303)


def too_many_journeys(retry_after):
    page = render("journey/too_many.html", title=_("Please wait a moment"))
    return page, 429, {"Retry-After": str(retry_after)}


def _typed_value(question):
    values = [v for v in request.form.getlist(question.id) if isinstance(v, str)]
    return values if question.type == "multiple" else (values[0] if values else None)


@bp.get("/journey/restart")
def restart_confirm():
    """"Start again and clear my answers" asks first: a page of its own, so it works without JavaScript."""
    journey_id, answers, seen = current_journey()
    if journey_id is None:
        return redirect(url_for("journey.start"))
    walked = journey_content().path(answers, seen)
    return render("journey/restart.html", title=_("Start again and clear your answers?"), back_url=step_url(walked[-1]))


@bp.post("/journey/restart")
def restart():
    if request.form.get("confirm") != "yes":  # a post from an old page or a stray form: ask first
        return redirect(url_for("journey.restart_confirm"), 303)
    end_journey(counting=["restarted"])
    return redirect(url_for("journey.start"), 303)


@bp.get("/journey/save")
def save():
    journey_id, answers, seen = current_journey()
    if journey_id is None:
        return redirect(url_for("journey.start"))
    store().count_once(journey_id, [insights.event("link_made")])
    token = continue_serializer().dumps(journey_id)
    link = current_app.config["BASE_URL"].rstrip("/") + url_for("journey.resume", token=token)
    walked = journey_content().path(answers, seen)
    return render("journey/save.html", title=_("Continue later"), link=link, back_url=step_url(walked[-1]),
                  keep_days=current_app.config["CONTINUE_LINK_MAX_AGE_DAYS"])


def saved_journey_id(token):
    """The id a continue-later link points to, or None when the link is forged, expired or already used."""
    max_age = current_app.config["CONTINUE_LINK_MAX_AGE_DAYS"] * 86400
    try:
        journey_id = continue_serializer().loads(token, max_age=max_age)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(journey_id, str) or store().load(journey_id, current_app.config["JOURNEY_KEEP_DAYS"]) is None:
        return None
    return journey_id


def link_expired():
    return render("journey/link_expired.html", title=_("This link no longer works")), 410


def where_they_were(answers, seen):
    return step_url(journey_content().path(answers, seen)[-1])


@bp.get("/journey/continue/<token>")
def resume(token):
    """Opening a link changes nothing: someone else's link opened by a page on another site must not
    replace this browser's answers. The person confirms with a POST (below)."""
    saved_id = saved_journey_id(token)
    if saved_id is None:
        return link_expired()
    journey_id, answers, seen = current_journey()
    if journey_id == saved_id:  # their own link, in the browser that made it
        return redirect(where_they_were(answers, seen))
    here_url = where_they_were(answers, seen) if journey_id else None
    return render("journey/continue.html", title=_("Continue your saved answers?"), token=token, here_url=here_url)


@bp.post("/journey/continue/<token>")
def confirm_resume(token):
    """The answers move to a new journey id: the link works once, and whoever else held the old id (the browser
    that saved it, or whoever made the link) no longer sees them. Answers this browser had are replaced."""
    saved_id = saved_journey_id(token)
    new_id = store().move(saved_id, current_app.config["JOURNEY_KEEP_DAYS"]) if saved_id else None
    if new_id is None:
        return link_expired()
    end_journey()
    session["journey_id"] = new_id
    _, answers, seen = current_journey()
    return redirect(where_they_were(answers, seen), 303)
