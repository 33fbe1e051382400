"""Helpers other test files share: sending a second-opinion request as a patient would and delivering its mail,
tampering with a token, signing staff in with a browser, axe and touch-target checks, submitting a journey step and
waiting for the next, answering a journey by posts, and every combination of ticked boxes an info step can be
reached with."""
import itertools
import re
import time
from dataclasses import replace

from blueprints.requests import mail_settings, sign_started
from clinic.journey.reading import complete_answers
from clinic.outbox import send_pending
from tests.conftest import assert_no_axe_violations
from tests.support.factors import browser_sign_in
from tests.support.staff import EMAIL, PASSWORD

PATIENT = {
    "name": "Alex Example",
    "email": "alex@example.com",
    "phone": "",
    "contact_by": "email",
    "description": "My leg pain came back a year after my fusion.",
    "include_answers": "y",
    "consent": "y",
}


def form_fields(html):
    """The hidden inputs of the request form: csrf_token, submission_id, started."""
    fields = {}
    for name in ("csrf_token", "submission_id", "started"):
        found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
        if found:
            fields[name] = found.group(1)
    return fields


def submit_request(client, follow_redirects=False, age_seconds=60, **fields):
    """GET /request, date its timestamp `age_seconds` back (so it is not taken for a bot), POST it.

    Keyword arguments replace PATIENT's values; a value of None leaves that field out.
    Returns the response to the POST (a 303 to /request/sent when it was accepted).
    """
    page = client.get("/request")
    assert page.status_code == 200, page.status_code
    hidden = form_fields(page.get_data(as_text=True))
    app = client.application
    clock = app.config.get("REQUEST_CLOCK")
    served_at = (clock or time.time)() - age_seconds
    hidden["started"] = sign_started(served_at, app.config["SECRET_KEY"])
    data = {**hidden, **PATIENT, **fields}
    return client.post("/request", data={k: v for k, v in data.items() if v is not None},
                       follow_redirects=follow_redirects)


def deliver(app, clock=time.time, **overrides):
    """One pass of the outbox with the app's mail settings (`overrides` replace some); its counts."""
    with app.app_context():
        settings = mail_settings(app)
    if overrides:
        settings = replace(settings, **overrides)
    return send_pending(app.config["DATABASE_URL"], settings, clock)


def tampered(token):
    """`token` (itsdangerous: payload, then the signature after the last dot) with its signature changed.

    The signature's first character is replaced: every bit of it counts, so the result is always different
    and always fails the check. Not the last character: of a 20-byte signature in 27 base64 characters, its
    last two bits are padding, so `token[:-2] + "xx"` leaves the token valid when it ends in "xw" to "xz".
    """
    payload, dot, signature = token.rpartition(".")
    assert dot and signature, f"not a signed token: {token!r}"
    first = "B" if signature[0] == "A" else "A"
    return f"{payload}.{first}{signature[1:]}"


def sign_in(page, server, email=EMAIL, password=PASSWORD, start="/staff"):
    """In a Playwright page: open the inbox, which sends a signed-out browser to sign-in, and sign in there with
    the password and then the code from the phone (tests.support.factors).

    A wrong password stays on the sign-in page.
    """
    browser_sign_in(page, server, email, password, start=start)


# The error summary's links come from the shared form macros (styled in their section), so they are not checked here.
SMALL_TARGETS = """() => [...document.querySelectorAll('main a, main button, main input:not([type=hidden]), main textarea')]
  .filter(e => !e.closest('.error-summary'))
  .map(e => [e, (e.type === 'radio' || e.type === 'checkbox') ? e.closest('.choice') : e])
  .filter(([e, box]) => box.getBoundingClientRect().height < 44)
  .map(([e]) => e.outerHTML.slice(0, 80))"""


def assert_accessible(page):
    """axe-core finds nothing, and every link, button and field in the page is at least 44px tall."""
    assert_no_axe_violations(page)
    assert page.evaluate(SMALL_TARGETS) == [], page.url


def reference_in(html):
    found = re.search(r"FBS-[2-9A-Z]{4}", html)
    return found.group(0) if found else None


def fill_answers(page, form):
    """Answer one step in the browser: tick each named option, type into a text box (a text question's answer
    is the typed text, possibly empty)."""
    for name, values in form.items():
        for value in values if isinstance(values, list) else [values]:
            field = page.locator(f"[name='{name}']").first
            if field.get_attribute("type") in ("radio", "checkbox"):
                page.locator(f"input[name='{name}'][value='{value}']").check()
            else:
                field.fill(value)


def submit_and_wait(page):
    """Submit a journey step and wait until the next one is there (a new URL and its heading, swapped in by htmx
    or loaded without JavaScript)."""
    before = page.url
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_function("u => location.href !== u", arg=before)
    page.wait_for_selector("#step-title")


def post_answers(context, base, journey, answers, until="summary"):
    """In a Playwright browser context, answer every step before `until` on the route `answers` take, as plain form
    posts (the app must have WTF_CSRF_ENABLED=False); returns the URL of `until`. Much quicker than clicking through."""
    from urllib.parse import urlencode

    for step_id in journey.expected_route(answers):
        if step_id == until:
            return f"{base}/journey/{step_id}" if step_id != journey.first_step else f"{base}/"
        form = {q.id: answers[q.id] for q in journey.steps[step_id].questions if q.id in answers}
        response = context.request.post(f"{base}/journey/{step_id}", data=urlencode(form, doseq=True), max_redirects=0,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status == 303, (step_id, response.status)
    raise AssertionError(f"{until} is not on the route of {answers}")


def box_combinations(question):
    """Every set of ticked boxes a person can send for a question: none, or any mix of the other boxes."""
    boxes = [o.value for o in question.options if o.value != question.exclusive]
    combos = [list(c) for n in range(len(boxes) + 1) for c in itertools.combinations(boxes, n)]
    return [[question.exclusive] if question.exclusive and not c else c for c in combos]


def info_steps_with_every_box_combination(journey, question_ids=("told", "tried")):
    """(step, answers) for every info step on one typical path per set of the other answers that a block's
    `first_when` asks about (surgery, metal parts), with every combination of ticked boxes on the named questions
    that the step's blocks ask about, all of them together (the others change nothing the step shows)."""
    asked = {q for step in journey.steps.values() for b in step.blocks for q in b.first_when} - set(question_ids)
    typical = {tuple(sorted((k, str(v)) for k, v in a.items() if k in asked)): a
               for a in complete_answers(journey, "typical")}
    for answers in typical.values():
        for step_id in journey.expected_route(answers):
            step = journey.steps[step_id]
            if step.kind != "info":
                continue
            boxes = [q for q in question_ids if any(q in b.first_when for b in step.blocks)]
            for combo in itertools.product(*(box_combinations(journey.question(q)) for q in boxes)):
                given = {**answers, **dict(zip(boxes, combo, strict=True))}
                assert step_id in journey.expected_route(given)  # the boxes do not change the route here
                yield step, given


# What a person reads on a step in Chromium: the step's own text and the words drawn on its pictures. Navigation,
# buttons, markers, tags, closed disclosures, a picture's text alternative (its <title> and <desc>, not shown) and
# the summary's recap of the person's own answers and of the warning signs (reading.py, _summary_words) are not.
COUNT_WORDS = """() => {
  const copy = document.querySelector('article.step').cloneNode(true);
  copy.querySelectorAll('nav, .back, .progress, .progress-bar, button, .visually-hidden, .refs, .tag, .change, '
    + '.error-summary, .journey-tools, details:not([open]) > :not(summary), svg title, svg desc, .print-only, .recap')
    .forEach(e => e.remove());
  copy.querySelectorAll('li, dd, dt').forEach(e => e.append(' '));  // items shown on lines of their own
  return copy.textContent.split(/\\s+/).filter(Boolean).length;
}"""
