"""The guide as a decision aid (issue 18): numbers as icon arrays, "keep going with what you do now, or wait" as an
option like the others, and the About page. Checked against the loaded content and the pages as served."""
import gzip
import re

import pytest

from clinic.journey import load_journey
from clinic.journey.model import FIGURE_CAPTION
from tests.conftest import PHONE, ROOT, assert_no_axe_violations, new_context

CONTENT = ROOT / "content"
JOURNEY = load_journey(CONTENT)
ARTICLE = (ROOT.parent / "shared" / "seed" / "failed-back-surgery-article.txt")
ICON_ARRAY_MAX_GZIPPED = 3 * 1024
# The figures of the issue, as the article gives them: (where, reference, shaded per picture).
FIGURES = [
    (("step", "start"), 6, [20]),                   # "1-in-5 patients experiencing persistent postoperative pain"
    (("block", "causes", "disc_returns"), 12, [28]),  # "an incidence of up to 28%"
    (("block", "conventional", "drug_pump"), 24, [68, 84, 92]),  # "68% ... one-month ..., 84% at one year, and 92%"
    (("block", "regenerative", "prp"), 34, [71]),   # "a success rate of 71.2%"
    (("compare", "drug_pump"), 24, [68, 84, 92]),
    (("compare", "prp"), 34, [71]),
]


def block(step_id, block_id):
    return next(b for b in JOURNEY.steps[step_id].blocks if b.id == block_id)


def figure_at(where):
    if where[0] == "step":
        return JOURNEY.steps[where[1]].figure
    if where[0] == "block":
        return block(where[1], where[2]).figure
    return next(row for row in JOURNEY.comparison.rows if row.id == where[1]).figure


@pytest.fixture
def client(make_app):
    return make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False).test_client()


def render_figure(app, figure):
    with app.test_request_context():
        from flask import render_template
        return render_template("_icon_array.html", figure=figure)


# --- C: numbers as pictures -------------------------------------------------------------------------------
@pytest.mark.parametrize("where, ref, shaded", FIGURES)
def test_each_figure_of_the_issue_is_an_icon_array_with_its_reference_and_caveat(where, ref, shaded):
    figure = figure_at(where)
    assert figure is not None, where
    assert figure.ref == ref and [n for n, _label in figure.arrays] == shaded
    assert f"ref-{ref}" in str(figure.marker)
    assert len(figure.caveat.split()) >= 8, "the caveat says who was in the study and what was measured"


def test_the_article_gives_those_figures():
    article = ARTICLE.read_text(encoding="utf-8")
    for quoted in ("1-in-5 patients experiencing persistent postoperative pain within 2 years",
                   "an incidence of up to 28%",
                   "68% of patients at one-month post-implant, 84% at one year, and 92% at five years",
                   "a success rate of 71.2%"):
        assert quoted in article, quoted


@pytest.mark.parametrize("where, ref, shaded", FIGURES)
def test_an_icon_array_shades_its_number_says_it_in_words_and_stays_small(app, where, ref, shaded):
    html = render_figure(app, figure_at(where))
    pictures = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(pictures) == len(shaded)
    for svg, n in zip(pictures, shaded, strict=True):
        assert 'role="img"' in svg
        assert svg.count("<use ") == 100
        assert len(re.findall(r'<use [^>]*class="ia-on"', svg)) == n
        assert len(re.findall(r'<use [^>]*class="ia-off"', svg)) == 100 - n
        title = re.search(r"<title id=\"([^\"]+)\">([^<]*)</title>", svg)
        desc = re.search(r"<desc id=\"([^\"]+)\">([^<]*)</desc>", svg)
        assert title.group(2) == f"{n} out of 100 people"
        assert f"{n} out of 100 people" in desc.group(2) and f"{100 - n} out of 100 did not" in desc.group(2)
        assert f'aria-labelledby="{title.group(1)}"' in svg and f'aria-describedby="{desc.group(1)}"' in svg
        assert not re.search(r'\b(fill|stroke|style)="', svg), "colours come from the stylesheet"
    assert FIGURE_CAPTION == "out of 100 people like those in the study" and FIGURE_CAPTION in html
    assert len(gzip.compress(html.encode(), compresslevel=6)) <= ICON_ARRAY_MAX_GZIPPED


def test_icon_array_colours_stay_visible_in_forced_colours_and_print():
    css = (ROOT / "static" / "site.css").read_text(encoding="utf-8")
    forced = css[css.index("@media (forced-colors: active) {\n  .ia-on"):]
    assert ".ia-on { fill: CanvasText; }" in forced and ".ia-off { fill: Canvas; stroke: CanvasText; }" in forced
    assert "@media print {\n  .ia-on { fill: #000; }\n  .ia-off { fill: #fff; stroke: #000; }" in css


def test_ids_of_icon_arrays_are_unique_on_every_page(client):
    for path in ("/", "/compare", "/journey/conventional"):
        html = client.get(path).get_data(as_text=True)
        ids = re.findall(r' id="([^"]+)"', html)
        assert len(ids) == len(set(ids)), path


def test_where_a_reader_looks_for_prolotherapy_figures_the_guide_says_there_are_none():
    none_given = "No study in our article gives figures for how often"
    assert none_given in block("regenerative", "prolotherapy").body_text
    assert none_given in next(row for row in JOURNEY.comparison.rows if row.id == "prolotherapy").text
    assert block("regenerative", "prolotherapy").figure is None


# --- D: keep going with what you do now, or wait ----------------------------------------------------------
def test_keep_going_or_wait_is_an_option_with_the_four_headings_and_no_figures():
    keep = block("conventional", "keep_going")
    assert keep.heading == "Keep going with what you do now, or wait"
    for heading in ("What it is", "What is known", "Its limits and risks", "Our clinic's view"):
        assert f"<h3>{heading}</h3>" in str(keep.body_html)
    known = str(keep.body_html).split("<h3>What is known</h3>")[1].split("<h3>")[0]
    assert "has no figures for it" in known and "ref-3" in known
    row = next(row for row in JOURNEY.comparison.rows if row.id == "keep_going")
    assert row.name == keep.heading and row.page == "conventional" and "has no figures for it" in row.known


def test_compare_lists_ten_options_with_keep_going(client):
    html = client.get("/compare").get_data(as_text=True)
    assert html.count('<li class="compare-option"') == 10
    assert ">Keep going with what you do now, or wait</h2>" in html
    assert html.count('class="icon-figure"') == 2


# --- E: about this guide ----------------------------------------------------------------------------------
def test_the_about_page_says_who_made_the_guide_how_and_who_checks_it(client):
    html = client.get("/about").get_data(as_text=True).replace("&#39;", "'")
    assert "Ross Hauser, MD, and Danielle R. Steilen-Matias, MMS, PA-C" in html
    assert '<time datetime="2021-02-14">February 14, 2021</time>' in html
    assert "Every fact, figure and study comes from the article" in html and "plain words" in html
    assert "medical reviewer set the warning signs" in html
    assert "How to read the evidence words" in html and "<strong>A case series</strong>" in html
    assert "Conflict of interest" in html and JOURNEY.conflict_of_interest in html
    assert "This guide has not yet been reviewed by the clinic's medical director." in html
    assert f"Content version {JOURNEY.version}" in html
    assert '<time datetime="2027-06-01">June 1, 2027</time>' in html and "sooner if the article is updated" in html
    assert f'href="tel:{re.sub(r"[^0-9+]", "", JOURNEY.clinic_phone)}"' in html and "Report a mistake" in html


def test_the_about_page_names_the_version_a_reviewer_signed(make_app, tmp_path):
    import shutil
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    meta = content / "journey.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + "reviewed: 2026-11-30\nreviewed_version: aaaa-bbbb-cccc\n",
                    encoding="utf-8")
    html = make_app(CONTENT_DIR=str(content)).test_client().get("/about").get_data(as_text=True)
    assert "has changed since" in html and "the version reviewed was aaaa-bbbb-cccc" in html


def test_every_patient_page_links_to_the_about_page_from_its_footer(client):
    for path in ("/", "/references", "/privacy", "/compare", "/about", "/request", "/journey/safety"):
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        footer = html[html.index('<footer class="site-footer">'):]
        assert '<a href="/about">About this guide</a>' in footer, path


@pytest.mark.browser
def test_compare_and_about_are_clean_at_320_pixels(live_server, browser):
    context = new_context(browser, **{**PHONE, "viewport": {"width": 320, "height": 640}}, bypass_csp=True)
    try:
        page = context.new_page()
        for path in ("/compare", "/about", "/"):
            page.goto(live_server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 320 px"
            assert_no_axe_violations(page)
        page.goto(live_server.url + "/compare")
        pictures = page.get_by_role("img", name=re.compile(r"^\d+ out of 100 people$"))
        assert pictures.count() == 4
        assert page.locator("svg.ia-svg").first.bounding_box()["width"] > 40
    finally:
        context.close()


# --- A: what matters to you, and B: do you feel ready (the SURE test) --------------------------------------
SURE = ["sure_sure", "sure_understand", "sure_values", "sure_support"]
SURE_WORDING = ["Do you feel sure about the best choice for you?", "Do you know the benefits and risks of each option?",
                "Are you clear about which benefits and risks matter most to you?",
                "Do you have enough support and advice to make a choice?"]


def test_the_values_step_follows_the_options_and_the_sure_questions_come_before_the_summary_on_every_path():
    from clinic.journey import reading
    paths = reading.complete_answers(JOURNEY, "typical")
    assert paths
    for answers in paths:
        route = JOURNEY.expected_route(answers)
        assert route[-3:] == ["values", "ready", "summary"], route
        assert route.index("regenerative") < route.index("values")


def test_the_values_question_asks_what_the_issue_lists_with_i_am_not_sure_yet_alone():
    values = JOURNEY.question("values")
    assert values.type == "multiple" and values.exclusive == "not_sure_yet"
    assert [o.label for o in values.options] == [
        "Avoiding another operation", "Fewer pain medicines", "No device inside my body", "Few visits or little travel",
        "Cost and insurance", "Back to work or daily tasks", "Something else", "I am not sure yet"]
    other = JOURNEY.question("values_other")
    assert other.type == "text" and other.optional and other.max_length == 200
    assert JOURNEY.step_of("values_other").id == JOURNEY.step_of("values").id == "values"


def test_the_sure_questions_are_the_four_of_the_test_each_yes_or_no_and_skippable():
    questions = [JOURNEY.question(q) for q in SURE]
    assert [q.label for q in questions] == SURE_WORDING
    assert all(q.type == "single" and q.optional and [o.value for o in q.options] == ["yes", "no"] for q in questions)
    assert {JOURNEY.step_of(q).id for q in SURE} == {"ready"}


def test_values_answers_are_checked_on_the_server():
    step = JOURNEY.steps["values"]

    def refused(form):
        return {qid: error.code for qid, error in JOURNEY.read_answers(step, form)[1].items()}

    assert refused({}) == {"values": "none_checked"}
    assert refused({"values": ["not_sure_yet", "cost"]}) == {"values": "exclusive_with_other"}
    assert refused({"values": ["a_ranking"]}) == {"values": "unknown_options"}
    answers, errors = JOURNEY.read_answers(step, {"values": ["cost", "avoid_operation"],
                                                  "values_other": ["  Being able\r\nto garden\x00 "]})
    assert not errors and answers == {"values": ["avoid_operation", "cost"], "values_other": "Being able to garden"}
    assert not refused({"values": ["something_else"], "values_other": ["x" * 200]})
    assert refused({"values": ["something_else"], "values_other": ["x" * 201]}) == {"values_other": "text_too_long"}
    assert refused({"values": ["cost"], "values_other": ["a", "b"]}) == {"values_other": "text_repeated"}


def test_a_refused_values_answer_is_said_next_to_the_field_and_what_was_typed_is_kept(client):
    from tests.conftest import route_to_summary
    for step, form in route_to_summary(JOURNEY)[:-1]:
        if step.id == "values":
            break
        client.post(f"/journey/{step.id}", data=form)
    html = client.post("/journey/values", data={"values": ["not_sure_yet", "cost"], "values_other": "y" * 201}
                       ).get_data(as_text=True).replace("&#34;", '"')
    assert "<title>Error: " in html
    assert "You checked \u201cI am not sure yet\u201d and another answer. Uncheck one of them" in html
    assert "In your own words must be 200 characters or fewer (you wrote 201)" in html
    assert 'href="#values-0"' in html and 'href="#values_other-0"' in html
    assert 'value="' + "y" * 201 + '"' in html
    assert re.search(r'<input type="checkbox" id="values-4" name="values" value="cost" checked', html)


def test_sure_answers_may_be_skipped_but_only_yes_or_no_is_taken():
    step = JOURNEY.steps["ready"]
    answers, errors = JOURNEY.read_answers(step, {"sure_sure": ["no"]})
    assert not errors and answers == {"sure_sure": "no", "sure_understand": "", "sure_values": "", "sure_support": ""}
    assert JOURNEY.read_answers(step, {"sure_values": ["maybe"]})[1]["sure_values"].code == "unknown_option"
    assert JOURNEY.decision.unsure(answers) and not JOURNEY.decision.unsure({q: "yes" for q in SURE})


def test_each_value_has_a_line_from_the_guide_and_a_doctor_question_and_nothing_ranks_an_option():
    decision = JOURNEY.decision
    values = JOURNEY.question("values")
    for option in values.options:
        answers = {"values": [option.value]}
        asked = JOURNEY.doctor_questions(answers)
        everyone = JOURNEY.doctor_questions({})
        if option.value == "avoid_operation":  # the question everyone gets is this one's
            assert "What are my options, including ones without surgery, and their risks?" in asked
        else:
            assert len(asked) == len(everyone) + 1, option.value
        if option.value != "not_sure_yet":
            assert decision.lines_text[option.value], option.value
    everything = " ".join(decision.lines_text.values()).lower() + " " + decision.unsure_text.lower()
    for word in ("best", "recommend", "should choose", "first choice", "rank"):
        assert word not in everything, word


def test_the_summary_ties_each_value_to_the_guide_and_shows_the_next_step_after_a_no(client):
    from tests.conftest import route_to_summary
    route = route_to_summary(JOURNEY)
    for step, form in route[:-1]:
        if step.id == "values":
            form = {"values": ["avoid_operation", "cost", "something_else"], "values_other": "Being able to garden"}
        if step.id == "ready":
            form = {"sure_sure": "yes", "sure_understand": "no"}
        assert client.post(f"/journey/{step.id}", data=form).status_code == 303, step.id
    html = client.get("/journey/summary").get_data(as_text=True).replace("&#39;", "'")
    section = html[html.index('id="what-matters"'):html.index("</section>", html.index('id="what-matters"'))]
    assert "Avoiding another operation:</strong> Not an operation: pain pills" in section
    assert "Cost and insurance:</strong> The costs of repeat surgery are high" in section
    assert "What would each option cost me, and what does my insurance cover?" in html
    recap = html[html.index('id="your-answers-list"'):html.index("</dl>", html.index('id="your-answers-list"'))]
    assert "Being able to garden" in recap and "Feel sure" in recap and "Not answered" in recap
    assert 'href="/journey/values?return=summary#values"' in recap
    assert 'href="/journey/ready?return=summary#sure_sure"' in recap
    assert "Not sure yet? That is common." in html and "You need not decide today." in html

    client.post("/journey/ready?return=summary", data={q: "yes" for q in SURE})
    assert "Not sure yet? That is common." not in client.get("/journey/summary").get_data(as_text=True)


def test_values_and_sure_answers_go_with_the_request_and_staff_see_them_on_the_request_and_in_the_csv(make_app):
    from tests.conftest import route_to_summary
    from tests.helpers import submit_request
    from tests.support.staff import FAST_ARGON2, create_staff, sign_in
    app = make_app(CONTENT_DIR=str(CONTENT), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2)
    create_staff(app)
    patient = app.test_client()
    for step, form in route_to_summary(JOURNEY)[:-1]:
        if step.id == "values":
            form = {"values": ["no_device", "few_visits"], "values_other": "My dog"}
        if step.id == "ready":
            form = {"sure_sure": "no"}
        assert patient.post(f"/journey/{step.id}", data=form).status_code == 303
    assert submit_request(patient).status_code == 303
    staff = app.test_client()
    sign_in(staff)
    reference = re.search(r'href="/staff/requests/(FBS-[^"]+)"', staff.get("/staff").get_data(as_text=True)).group(1)
    page = staff.get(f"/staff/requests/{reference}").get_data(as_text=True).replace("&#39;", "'")
    answers = page[page.index('class="answer-list journey-answers"'):]
    csv = staff.post("/staff/export.csv").get_data(as_text=True)
    # Two ticked boxes: a list on the staff page (issue 19: "; "-joined they read as one run), one line in the CSV.
    ticked = {answers: '<ul class="ticked"><li>No device inside my body</li><li>Few visits or little travel</li></ul>',
              csv: "No device inside my body; Few visits or little travel"}
    for shown in (answers, csv):
        for text in ("What matters to you in a treatment?", ticked[shown],
                     "In your own words", "My dog", "Do you feel sure about the best choice for you?",
                     "Do you know the benefits and risks of each option?"):
            assert text in shown, text
    assert re.search(r"Do you feel sure about the best choice for you\?</dt><dd>No<", answers)
    assert "Not sure about their choice:</strong> answered &ldquo;No&rdquo; to 1 of the 4" in page
    assert re.search(r"Do you know the benefits and risks of each option\?</dt><dd>Not answered<", answers)


@pytest.fixture
def site(make_app, tmp_path):
    from tests.conftest import LiveServer
    from tests.support.staff import FAST_ARGON2, create_staff
    app = make_app(CONTENT_DIR=str(CONTENT), STAFF_ARGON2=FAST_ARGON2, REQUEST_MIN_SECONDS=0, OUTBOX_AUTOSEND=False)
    create_staff(app)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_values_and_sure_are_asked_shown_printed_and_sent_to_staff(site, phone, js):
    from tests.helpers import sign_in, submit_and_wait
    from tests.support.journey_browser import SAFE, answer_step, step_id
    plan = {**SAFE, "surgery": "laminectomy", "how_long": "over_2_years", "told": [], "tried": [],
            "values": ["fewer_medicines", "daily_life", "something_else"], "sure_sure": "yes", "sure_understand": "yes",
            "sure_values": "no", "sure_support": ""}
    page = phone(js=js).new_page()
    page.goto(site.url + "/")
    seen = []
    while (current := step_id(page, site.url)) != "summary":
        seen.append(current)
        if current == "values":
            page.get_by_label("In your own words").fill("Time with my grandchildren")
        answer_step(page, plan)
        submit_and_wait(page)
    assert seen[-2:] == ["values", "ready"]

    recap = page.locator("#your-answers-list").inner_text()
    for text in ("Fewer pain medicines", "Back to work or daily tasks", "Time with my grandchildren", "Feel sure",
                 "Clear what matters", "Not answered"):
        assert text in recap, text
    lines = page.locator("#what-matters").locator("xpath=..").inner_text()
    assert "A review said long-term opioid pills do not work well" in lines and "few figures on work" in lines
    assert page.get_by_role("heading", name="Not sure yet? That is common.").is_visible()
    page.emulate_media(media="print")
    for text in ("Time with my grandchildren", "Clear what matters", "You need not decide today."):
        assert page.get_by_text(text).first.is_visible(), text
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Ask for a second opinion").click()
    page.get_by_label("Full name").fill("Alex Example")
    page.get_by_label("Email address").fill("alex@example.com")
    page.get_by_label("By email").check()
    page.get_by_label("Your back problem, in your own words").fill("Pain since my laminectomy.")
    page.get_by_label("I agree that the clinic may contact me about my request").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url(re.compile(r"/request/sent"))
    reference = re.search(r"FBS-[2-9A-Z]{4}", page.locator("main").inner_text()).group(0)

    staff = phone(js=js).new_page()
    sign_in(staff, site)
    staff.wait_for_url(re.compile(r"/staff$"))
    staff.get_by_role("link", name=re.compile(reference)).click()
    staff.wait_for_url(re.compile(reference))
    answers = staff.locator("dl.journey-answers").inner_text()
    for text in ("Fewer pain medicines", "Time with my grandchildren",
                 "Are you clear about which benefits and risks matter most to you?"):
        assert text in answers, text


def test_the_review_pack_holds_the_new_text_and_marks_what_is_not_from_the_article(make_app, tmp_path):
    import html as html_lib

    from clinic.journey.review_pack import added_claims
    app = make_app(CONTENT_DIR=str(CONTENT))
    out = tmp_path / "pack.html"
    result = app.test_cli_runner().invoke(args=["content", "review-pack", str(out)])
    assert result.exit_code == 0, result.output
    pack = html_lib.unescape(out.read_text(encoding="utf-8"))
    for text in ("What matters to you in a treatment?", "Do you feel sure about the best choice for you?",
                 JOURNEY.decision.lines_text["no_device"], "Not sure yet? That is common.", "How to read the evidence words",
                 "Keep going with what you do now, or wait", "out of 100 people like those in the study",
                 "No study in our article gives figures for how often"):
        assert text in pack, text
    added = {(claim.file, claim.reason) for claim in added_claims(JOURNEY)}
    files = {file for file, _reason in added}
    assert {"values.md", "ready.md", "decision.yaml", "pages/about.md"} <= files
    assert any("SURE" in reason for file, reason in added if file == "ready.md")


def test_a_figure_drawn_once_is_served_as_drawn_in_each_language(client):
    """Pages keep each figure's drawing per language (blueprints/web.py icon_array): the kept English drawing is
    never served on the Spanish page, and what is served is what the template draws."""
    english_caption = 'class="ia-caption">out of 100 people like those in the study<'
    spanish_caption = 'class="ia-caption">de cada 100 personas como las del estudio<'
    for _ in range(2):
        for path, caption, other in (("/", english_caption, spanish_caption), ("/es/", spanish_caption, english_caption),
                                     ("/compare", english_caption, spanish_caption)):
            for headers in ({}, {"HX-Request": "true"}):
                html = client.get(path, headers=headers).get_data(as_text=True)
                assert caption in html and other not in html, path
    app = client.application
    with app.test_request_context("/"):
        from flask import render_template
        drawn = render_template("_icon_array.html", figure=JOURNEY.steps["start"].figure)
    assert drawn in client.get("/").get_data(as_text=True)
