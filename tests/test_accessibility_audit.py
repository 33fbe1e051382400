"""The accessibility audit's findings (issue 9 E), one test or more each: on the server's HTML, then in Chromium."""
import re
from urllib.parse import urlencode

import pytest

from clinic.journey import ContentError, all_paths, load_journey
from tests.conftest import ROOT, LiveServer, assert_no_axe_violations, content_dir, new_context, route_to_summary
from tests.helpers import sign_in, submit_request
from tests.support.staff import EMAIL, FAST_ARGON2, add_request, create_staff
from tests.support.staff import sign_in as staff_sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2)


@pytest.fixture
def journey(app):
    return app.extensions["journey"]


def walk_to(client, journey, step_id):
    """Answer every step before `step_id` on the way to the summary (test client, CSRF off)."""
    for step, form in route_to_summary(journey):
        if step.id == step_id:
            return
        assert client.post(f"/journey/{step.id}", data=form).status_code == 303, step.id
    raise AssertionError(f"{step_id} is not on the way to the summary")


def between(html, start, end):
    return html[html.index(start):html.index(end, html.index(start))]


# --- "Start again and clear my answers" asks first, away from "Save and continue later" -----------------------
def test_start_again_is_a_link_to_a_confirmation_page_apart_from_save_and_continue_later(client, journey):
    walk_to(client, journey, "surgery")
    html = client.get("/journey/surgery").get_data(as_text=True)
    tools = between(html, '<nav class="journey-tools"', "</nav>")
    assert 'action="/journey/restart"' not in html, "one tap must not delete the answers"
    save = re.search(r'<p><a href="/journey/save">Save and continue later</a></p>', tools)
    restart = re.search(r'<p class="journey-restart"><a href="/journey/restart">Start again and clear my answers</a></p>',
                        tools)
    assert save and restart and save.end() <= restart.start()

    confirm = client.get("/journey/restart").get_data(as_text=True)
    assert "<h1" in confirm and "Start again and clear your answers?" in confirm
    form = between(confirm, '<form class="restart-form"', "</form>")
    assert 'method="post" action="/journey/restart"' in form and 'name="confirm" value="yes"' in form
    assert 'href="/journey/surgery">No, keep my answers and go back</a>' in confirm
    assert client.get("/journey/surgery").status_code == 200  # nothing deleted by looking


def test_the_confirmation_page_without_a_journey_goes_to_the_start(client):
    assert client.get("/journey/restart").headers["Location"] == "/"


# --- real h2 headings on the start page ----------------------------------------------------------------------
def test_the_start_page_has_real_h2_headings_not_bold_paragraphs(client):
    html = client.get("/").get_data(as_text=True)
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert {"What this guide is", "Your answers"} <= set(headings), headings
    assert not re.search(r"<p><strong>[^<]*</strong></p>", html), "a bold paragraph standing in for a heading"


# --- progress by parts, from the content ---------------------------------------------------------------------
def test_progress_names_the_part_from_the_content_and_never_jumps_back_or_changes_its_total(journey):
    assert journey.parts, "content/journey.yaml lists the parts"
    for path in all_paths(journey):
        shown = [journey.progress(journey.steps[s]) for s in path if s in journey.steps]
        shown = [p for p in shown if p]
        assert {total for _, total, _ in shown} == {len(journey.parts)}, path
        numbers = [n for n, _, _ in shown]
        assert numbers == sorted(numbers), path
        assert numbers[-1] == len(journey.parts) or journey.steps[path[-1]].kind == "stop", path


def test_the_step_page_shows_the_part_and_its_name(client, journey):
    walk_to(client, journey, "surgery")
    html = client.get("/journey/surgery").get_data(as_text=True)
    number = journey.parts.index("Your surgery") + 1
    assert f'Part {number} of {len(journey.parts)}: <span class="progress-section">Your surgery</span>' in html
    assert not re.search(r"Step \d+ of \d+", html)


def test_a_section_that_is_not_a_part_or_a_part_no_step_uses_stops_start_up(fixture_content):
    journey_yaml = fixture_content / "journey.yaml"
    text = journey_yaml.read_text(encoding="utf-8")
    journey_yaml.write_text(text.replace("parts: [Safety, Surgery, Why, Summary]", "parts: [Safety, Surgery, Why, Summry]"),
                            encoding="utf-8")
    with pytest.raises(ContentError, match="Summry"):
        load_journey(fixture_content)
    journey_yaml.write_text(text.replace("parts: [Safety, Surgery, Why, Summary]", "parts: [Safety, Why, Surgery, Summary]"),
                            encoding="utf-8")
    with pytest.raises(ContentError, match="backwards"):
        load_journey(fixture_content)


# --- the live region: once after a swap, quiet after an error ---------------------------------------------
def test_a_swap_announces_the_step_once_and_an_error_swap_leaves_the_live_region_quiet(client, journey):
    """Once: the swap focuses the heading (read with its part, by aria-describedby); the live region, which used to
    repeat the title with ". Part 2 of 5", stays quiet."""
    walk_to(client, journey, "surgery")
    html = client.get("/journey/surgery", headers=HTMX).get_data(as_text=True)
    assert re.search(r'<div id="announcer" data-hx-swap-oob="innerHTML"></div>', html)
    heading = re.search(r'<h1 id="step-title"[^>]*>', html).group(0)
    assert "autofocus" in heading and 'aria-describedby="progress"' in heading
    assert re.search(r'<p class="progress" id="progress">Part 2 of', html)

    error = client.post("/journey/surgery", data={}, headers=HTMX).get_data(as_text=True)
    assert re.search(r'<div id="announcer" data-hx-swap-oob="innerHTML"></div>', error)
    assert 'class="error-summary" role="alert"' in error


# --- ARIA on hints and errors -----------------------------------------------------------------------------
def test_consent_and_include_answers_hints_are_tied_to_their_boxes(client, journey):
    walk_to(client, journey, "summary")
    html = client.get("/request").get_data(as_text=True)
    for box in ("consent", "include_answers"):
        tag = re.search(rf'<input[^>]*id="{box}"[^>]*>', html).group(0)
        assert f'aria-describedby="{box}-hint"' in tag, tag
        assert f'id="{box}-hint"' in html
    errors = submit_request(client, consent=None).get_data(as_text=True)
    tag = re.search(r'<input[^>]*id="consent"[^>]*>', errors).group(0)
    assert 'aria-describedby="consent-error consent-hint"' in tag and 'aria-invalid="true"' in tag


def test_radios_in_error_are_marked_invalid(client, journey):
    walk_to(client, journey, "surgery")
    html = client.post("/journey/surgery", data={}).get_data(as_text=True)
    radios = re.findall(r'<input type="radio"[^>]*name="surgery"[^>]*>', html)
    assert radios and all('aria-invalid="true"' in r for r in radios)
    fine = client.get("/journey/surgery").get_data(as_text=True)
    assert "aria-invalid" not in fine

    request_form = submit_request(client, contact_by=None).get_data(as_text=True)
    contact = re.findall(r'<input[^>]*name="contact_by"[^>]*>', request_form)
    assert contact and all('aria-invalid="true"' in r for r in contact)


def test_sign_in_fields_are_marked_invalid_after_a_failed_sign_in(app):
    create_staff(app)
    client = app.test_client()
    assert "aria-invalid" not in client.get("/staff/sign-in").get_data(as_text=True)
    html = client.post("/staff/sign-in", data={"email": EMAIL, "password": "wrong password!"}).get_data(as_text=True)
    for field in ("email", "password"):
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag, tag


# --- the request form ---------------------------------------------------------------------------------------
def test_how_to_contact_comes_before_the_phone_and_consent_before_the_collapsed_answers(client, journey):
    walk_to(client, journey, "summary")
    html = client.get("/request").get_data(as_text=True)
    order = [html.index(marker) for marker in (
        "<legend class=\"label\">How should we contact you?</legend>", 'id="phone"', 'id="consent"',
        '<details class="sent-answers">')]
    assert order == sorted(order), order
    details = between(html, '<details class="sent-answers">', "</details>")
    assert "<summary>" in details and "<details class=\"sent-answers\" open" not in html


def test_the_phone_is_needed_only_when_phone_is_chosen_and_may_have_an_extension(client, app):
    by_email = submit_request(client, phone="", contact_by="email")
    assert by_email.status_code == 303
    by_phone = submit_request(client, phone="", contact_by="phone").get_data(as_text=True)
    assert "Enter a phone number, or choose to be contacted by email" in by_phone
    with_extension = submit_request(client, phone="(555) 010-0199 ext 12", contact_by="phone",
                                    voicemail="no")
    assert with_extension.status_code == 303
    import sqlite3

    conn = sqlite3.connect(app.config["DATABASE"])
    phones = [row[0] for row in conn.execute("SELECT phone FROM requests ORDER BY id")]
    conn.close()
    assert phones == [None, "5550100199 ext 12"]


def test_the_phone_field_is_on_the_page_without_javascript_whatever_is_chosen(client):
    html = client.get("/request").get_data(as_text=True)
    tag = re.search(r'<input[^>]*id="phone"[^>]*>', html).group(0)
    assert "hidden" not in tag and "disabled" not in tag and 'type="tel"' in tag


# --- staff: formatted phone numbers, a focused message after each change --------------------------------------
def test_staff_see_phone_numbers_formatted_and_dial_them_with_the_extension(app):
    create_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    cases = {"5550100199 ext 12": ("(555) 010-0199 ext. 12", "tel:5550100199;ext=12"),
             "+15550100199": ("+1 (555) 010-0199", "tel:+15550100199"),
             "+442079460018": ("+442079460018", "tel:+442079460018")}
    for stored, (shown, href) in cases.items():
        reference = add_request(app, phone=stored)
        html = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
        assert f'<a class="staff-link" href="{href}">{shown}</a>' in html, stored


def test_staff_hear_status_saved_with_the_new_status_and_note_added_and_focus_goes_there(app):
    create_staff(app)
    client = app.test_client()
    staff_sign_in(client)
    reference = add_request(app)
    html = client.post(f"/staff/requests/{reference}/status", data={"status": "contacted"}, headers=HTMX).get_data(
        as_text=True)
    assert re.search(r'<p class="staff-notice" role="status" tabindex="-1" autofocus>Status saved: Contacted</p>', html)
    assert re.search(r'<h1 id="staff-title" tabindex="-1">', html), "only the message takes the focus"
    assert re.search(r'<div id="announcer" data-hx-swap-oob="innerHTML"></div>', html), "said once, by the message"
    html = client.post(f"/staff/requests/{reference}/notes", data={"body": "Called, left a message."},
                       headers=HTMX).get_data(as_text=True)
    assert re.search(r'<p class="staff-notice" role="status" tabindex="-1" autofocus>Note added.</p>', html)
    # Without JavaScript the same message arrives after Post/Redirect/Get.
    client.post(f"/staff/requests/{reference}/status", data={"status": "closed"})
    assert "Status saved: Closed" in client.get(f"/staff/requests/{reference}").get_data(as_text=True)


# --- print ------------------------------------------------------------------------------------------------
def test_the_summary_carries_a_print_header_with_the_clinic_name_phone_and_date(client, journey):
    walk_to(client, journey, "summary")
    html = client.get("/journey/summary").get_data(as_text=True)
    header = re.search(r'<p class="print-only print-header">(.*?)</p>', html).group(1)
    assert journey.clinic_name in header and journey.clinic_phone in header
    assert re.search(r"(January|February|March|April|May|June|July|August|September|October|November|December) "
                     r"\d{1,2}, 20\d\d", header)
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    print_rules = css[css.index("@media print"):]
    assert ".progress," in print_rules and ".print-only { display: block; }" in print_rules


# === In Chromium ===========================================================================================
def post_to(context, base, journey, step_id):
    """Answer, in this browser context, every step before `step_id` (the app's CSRF check is off)."""
    for step, form in route_to_summary(journey):
        if step.id == step_id:
            return f"{base}/journey/{step_id}"
        response = context.request.post(f"{base}/journey/{step.id}", data=urlencode(form, doseq=True), max_redirects=0,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status == 303, (step.id, response.status)
    raise AssertionError(step_id)


def contrast(first, second):
    def luminance(rgb):
        channels = []
        for value in rgb:
            value /= 255
            channels.append(value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4)
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def rgb(css_colour):
    return tuple(int(v) for v in re.findall(r"\d+", css_colour)[:3])


FOCUS_RING = """(selector) => { const e = document.querySelector(selector), s = getComputedStyle(e);
  return {focused: document.activeElement === e, visible: e.matches(':focus-visible'), style: s.outlineStyle,
          width: parseFloat(s.outlineWidth), colour: s.outlineColor,
          background: getComputedStyle(document.body).backgroundColor}; }"""


def assert_focus_ring(page, selector):
    ring = page.evaluate(FOCUS_RING, selector)
    assert ring["focused"], f"{selector} is not focused"
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    assert contrast(rgb(ring["colour"]), rgb(ring["background"])) >= 3, ring


@pytest.mark.browser
def test_start_again_without_javascript_confirms_then_clears(app, live_server, phone, journey):
    context = phone(js=False)
    page = context.new_page()
    page.goto(post_to(context, live_server.url, journey, "causes"))
    save = page.get_by_role("link", name="Save and continue later").bounding_box()
    restart = page.get_by_role("link", name="Start again and clear my answers").bounding_box()
    assert restart["y"] - (save["y"] + save["height"]) >= 32, "the two sit apart"
    page.get_by_role("link", name="Start again and clear my answers").click()
    assert page.url.endswith("/journey/restart")
    page.get_by_role("link", name="No, keep my answers and go back").click()
    assert page.url.endswith("/journey/causes")
    page.get_by_role("link", name="Start again and clear my answers").click()
    page.get_by_role("button", name="Yes, clear my answers and start again").click()
    assert page.url == live_server.url + "/"
    page.goto(live_server.url + "/journey/causes")
    assert page.url == live_server.url + "/", "the answers are gone"


@pytest.mark.browser
def test_error_summary_links_bring_the_legend_or_label_into_view_and_focus_the_field(app, live_server, phone, journey):
    context = phone(bypass_csp=True)
    page = context.new_page()
    page.goto(post_to(context, live_server.url, journey, "surgery"))
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    assert_no_axe_violations(page)
    page.locator(".error-summary a").first.click()
    in_view = page.evaluate("""() => { const r = document.querySelector('#surgery legend').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight; }""")
    assert in_view, "the question's legend is in view"
    assert page.evaluate("document.activeElement.id") == "surgery-0"

    page.goto(live_server.url + "/request")
    page.get_by_label("Full name").fill("Alex Example")
    page.get_by_label("By phone").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_selector(".error-summary")
    page.get_by_role("link", name="Enter a phone number, or choose to be contacted by email").click()
    assert page.evaluate("document.activeElement.id") == "phone"
    assert page.evaluate("""() => { const r = document.querySelector('label[for=phone]').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight; }""")
    for path in ("/journey/restart", "/journey/save"):  # the confirmation and continue-later pages
        page.goto(live_server.url + path)
        assert_no_axe_violations(page)


@pytest.mark.browser
def test_focused_headings_and_the_error_summary_have_a_ring_of_at_least_3_to_1(app, live_server, phone, journey):
    context = phone()
    page = context.new_page()
    page.goto(post_to(context, live_server.url, journey, "surgery"))
    page.locator("form.step-form button[type=submit]").focus()
    page.keyboard.press("Enter")  # no answer: the error summary takes the focus
    page.wait_for_selector(".error-summary:focus")
    assert_focus_ring(page, ".error-summary")
    page.locator("#surgery-0").focus()
    page.keyboard.press("Space")
    page.locator("form.step-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/journey/after-surgery")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'step-title'")
    assert page.evaluate("document.activeElement.matches(':focus-visible')")
    assert_focus_ring(page, "#step-title")


@pytest.mark.browser
def test_a_step_is_announced_once_after_a_swap_by_its_focused_heading_and_not_after_an_error_swap(
        app, live_server, phone, journey):
    context = phone()
    page = context.new_page()
    page.goto(post_to(context, live_server.url, journey, "surgery"))
    page.evaluate("""() => { window.spoken = [];
      new MutationObserver(() => { const t = document.getElementById('announcer').textContent.trim();
        if (t) { window.spoken.push(t); } }).observe(document.getElementById('announcer'),
        {childList: true, characterData: true, subtree: true}); }""")
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    page.wait_for_timeout(300)  # let any late announcement land before counting
    assert page.evaluate("window.spoken") == [], "the alert speaks, the live region stays quiet"
    assert page.get_by_role("alert").filter(has_text="There is a problem").is_visible()
    page.locator("#surgery-0").check()
    page.locator("form.step-form button[type=submit]").click()
    page.wait_for_url("**/journey/after-surgery")
    # Said once: by the heading that takes the focus, with its part as its description; the live region is quiet.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'step-title'")
    page.wait_for_timeout(300)
    assert page.evaluate("window.spoken") == []
    title = journey.steps["after-surgery"].title
    focused = page.evaluate("""() => { const h = document.activeElement;
        return [h.textContent.trim(), document.getElementById(h.getAttribute('aria-describedby')).textContent.trim()]; }""")
    assert focused[0] == title and focused[1].startswith("Part "), focused
    assert page.title().count(title) == 1


@pytest.mark.browser
def test_at_200_percent_text_the_surgery_step_does_not_scroll_sideways_and_radios_grow(app, live_server, phone, journey):
    context = phone()
    page = context.new_page()
    url = post_to(context, live_server.url, journey, "surgery")
    page.goto(url)
    normal = page.locator("#surgery-0").bounding_box()["width"]
    context.add_init_script("document.addEventListener('DOMContentLoaded', () => "
                            "{ document.documentElement.style.fontSize = '200%'; })")
    page.goto(url)
    page.wait_for_function("() => document.documentElement.style.fontSize === '200%'")
    wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"{wide} px of sideways scrolling at 200% text"
    offenders = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + '.' + e.className)""")
    assert not offenders, offenders
    bigger = page.locator("#surgery-0").bounding_box()["width"]
    assert bigger >= 1.8 * normal, (normal, bigger)
    assert page.locator("input[type=checkbox], input[type=radio]").count() > 0

    # The summary with every "tried" box ticked: its answer rows (minmax(0, 1fr)) wrap instead of running 408 px wide.
    for step, form in route_to_summary(journey):
        if step.id == "summary":
            break
        if step.id == "tried":
            form = {**form, "tried": [o.value for o in step.questions[0].options if o.value != step.questions[0].exclusive]}
        context.request.post(f"{live_server.url}/journey/{step.id}", data=urlencode(form, doseq=True), max_redirects=0,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    page.goto(live_server.url + "/journey/summary")
    page.wait_for_function("() => document.documentElement.style.fontSize === '200%'")
    assert page.locator(".answer-row").count() > 5
    rows = page.evaluate("""() => [...document.querySelectorAll('.answer-row, .answer-row *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 30))""")
    assert not rows, f"summary rows past the screen at 200% text: {rows}"
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


@pytest.mark.browser
@pytest.mark.parametrize("js", [False, True])
def test_continue_later_has_short_link_text_a_selectable_link_and_a_copy_button_with_javascript(
        app, live_server, phone, journey, js):
    context = phone(js=js, **({"permissions": ["clipboard-read", "clipboard-write"]} if js else {}))
    page = context.new_page()
    post_to(context, live_server.url, journey, "causes")
    page.goto(live_server.url + "/journey/save")
    link = page.get_by_role("link", name="Your link to continue later")
    href = link.get_attribute("href")
    assert "/journey/continue/" in href and len(link.inner_text()) <= 30
    field = page.get_by_label("Your link")
    assert field.input_value() == href and field.is_editable() is False
    button = page.get_by_role("button", name="Copy link")
    if not js:
        assert button.count() == 0 or not button.is_visible(), "no button that cannot work"
        return
    button.click()
    page.wait_for_function("() => document.getElementById('continue-link-status').textContent.length > 0")
    assert "Link copied" in page.locator("#continue-link-status").inner_text()
    assert page.evaluate("navigator.clipboard.readText()") == href


@pytest.mark.browser
def test_summary_prints_with_the_clinic_name_phone_and_date_and_no_progress(app, live_server, phone, journey):
    context = phone(js=False)
    page = context.new_page()
    page.goto(post_to(context, live_server.url, journey, "summary"))
    header = page.locator(".print-header")
    assert not header.is_visible(), "on screen the header is not needed"
    page.emulate_media(media="print")
    assert header.is_visible()
    text = header.inner_text()
    assert journey.clinic_name in text and journey.clinic_phone in text
    first = page.evaluate("""() => { const h = document.querySelector('.print-header').getBoundingClientRect().top;
        return [...document.querySelectorAll('main *')].filter(e => e.offsetParent && e.getBoundingClientRect().height > 0
          && e.getBoundingClientRect().top < h - 1).map(e => e.tagName); }""")
    assert first == [], f"printed above the header: {first}"
    assert not page.locator(".progress").is_visible() and not page.locator(".progress-bar").is_visible()


@pytest.fixture
def staff_server(make_app):
    staff_app = make_app(CONTENT_DIR=str(content_dir()), STAFF_ARGON2=FAST_ARGON2)  # CSRF on, as in production
    create_staff(staff_app)
    with LiveServer(staff_app) as server:
        yield server


@pytest.mark.browser
def test_staff_status_and_note_messages_take_the_focus(staff_server, phone):
    reference = add_request(staff_server.app, phone="5550100199 ext 12")
    page = phone(bypass_csp=True).new_page()
    sign_in(page, staff_server)
    page.wait_for_url(f"{staff_server.url}/staff")
    page.goto(f"{staff_server.url}/staff/requests/{reference}")
    assert page.get_by_role("link", name="(555) 010-0199 ext. 12").is_visible()
    page.get_by_label("Contacted").check()
    page.get_by_role("button", name="Save status").click()
    page.wait_for_function("() => document.activeElement && document.activeElement.classList.contains('staff-notice')")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Status saved: Contacted"
    assert page.evaluate("document.activeElement.getAttribute('role')") == "status"
    assert_focus_ring(page, ".staff-notice")
    assert_no_axe_violations(page)
    page.get_by_label("Add an internal note").fill("Left a message.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_function("() => document.activeElement && document.activeElement.textContent.trim() === 'Note added.'")


@pytest.mark.browser
def test_every_page_has_no_axe_violations_at_320_px_including_the_staff_audit_trail(staff_server, browser):
    long_address = "reception.and.second.opinions.desk@caring-medical-clinic.example"
    create_staff(staff_server.app, email=long_address)  # the audit's "Who" column: wider than a small phone
    add_request(staff_server.app)
    context = new_context(browser, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True,
                                  bypass_csp=True)
    try:
        page = context.new_page()
        sign_in(page, staff_server, email=long_address)
        page.wait_for_url(f"{staff_server.url}/staff")
        for path in ("/staff", "/staff/audit"):
            page.goto(staff_server.url + path)
            assert_no_axe_violations(page)
        region = page.locator(".table-wrap")
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
        assert page.evaluate("document.querySelector('.table-wrap').scrollWidth > "
                             "document.querySelector('.table-wrap').clientWidth"), "the table does scroll here"
        patient = context.new_page()
        for path in ("/", "/request", "/references", "/privacy"):
            patient.goto(staff_server.url + path)
            assert_no_axe_violations(patient)
    finally:
        context.close()
