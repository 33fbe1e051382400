"""The journey's routes: pages and partials, routing on answers, bad input, where answers are kept."""
import base64
import json
import re
import zlib

import pytest

from tests.conftest import ROOT, database_locked
from tests.support.storage import execute, stored

pytestmark = pytest.mark.both_databases

HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    """The small fixture journey: start -> safety -> (urgent | surgery -> (causes ->) summary)."""
    return make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"), WTF_CSRF_ENABLED=False)


def walk_to_summary(client, surgery="fusion"):
    client.post("/journey/start")
    client.post("/journey/safety", data={"bladder": "no"})
    client.post("/journey/surgery", data={"surgery": surgery})
    if surgery == "fusion":
        client.post("/journey/causes")


def stored_journeys(app):
    return [(row["id"], row["answers"], row["seen"]) for row in stored(app, "SELECT id, answers, seen FROM journeys")]


def test_start_page_is_a_full_page_with_the_start_button(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in html and "<head>" in html
    assert ">Start</button>" in html


def test_step_url_gives_a_full_page_and_a_partial_to_htmx_both_varying_on_hx_request(client):
    client.post("/journey/start")
    full = client.get("/journey/safety")
    partial = client.get("/journey/safety", headers=HTMX)
    assert full.status_code == partial.status_code == 200
    assert "<html" in full.get_data(as_text=True) and "<head>" in full.get_data(as_text=True)
    body = partial.get_data(as_text=True)
    assert "<html" not in body and "<head" not in body
    assert "<title>Bladder trouble?" in body  # htmx updates the page title from it
    for response in (full, partial):
        assert "HX-Request" in response.headers["Vary"]
        assert response.headers["Cache-Control"] == "no-store"
    assert partial.headers["HX-Push-Url"] == "/journey/safety"


def test_htmx_history_restore_gets_the_full_page(client):
    client.post("/journey/start")
    response = client.get("/journey/safety", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


def test_partial_moves_focus_to_its_heading_and_leaves_the_live_region_quiet(client):
    client.post("/journey/start")
    body = client.get("/journey/safety", headers=HTMX).get_data(as_text=True)
    assert re.search(r'<h1 id="step-title" tabindex="-1"[^>]* autofocus>', body)
    assert 'id="announcer" data-hx-swap-oob="innerHTML"><' in body  # the focused heading says it, once


def test_progress_names_the_part_from_the_content_not_a_step_count(client):
    client.post("/journey/start")
    html = client.get("/journey/safety").get_data(as_text=True)
    assert 'Part 1 of 4: <span class="progress-section">Safety</span>' in html
    assert not re.search(r"Step \d+ of \d+", html)


def test_answers_route_to_the_next_step_with_post_redirect_get(client):
    assert client.post("/journey/start").headers["Location"] == "/journey/safety"
    response = client.post("/journey/safety", data={"bladder": "no"})
    assert response.status_code == 303 and response.headers["Location"] == "/journey/surgery"
    response = client.post("/journey/surgery", data={"surgery": "other"})
    assert response.headers["Location"] == "/journey/summary"


def test_an_htmx_answer_gets_the_next_step_in_the_same_response_with_its_url_pushed(client):
    # One round trip per answer: no 303 and second GET when htmx posts.
    client.post("/journey/start")
    response = client.post("/journey/safety", data={"bladder": "no"}, headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/journey/surgery"
    assert "HX-Request" in response.headers["Vary"] and response.headers["Cache-Control"] == "no-store"
    assert "<html" not in body and "<title>Surgery" in body
    assert re.search(r'<h1 id="step-title" tabindex="-1"[^>]* autofocus>', body)
    assert 'action="/journey/surgery"' in body  # the swapped-in form answers the new step
    # The answer was stored: a reload of the pushed URL shows the same step.
    assert client.get("/journey/surgery").status_code == 200


def test_an_htmx_answer_with_an_error_stays_on_the_step_and_pushes_nothing_new(client):
    client.post("/journey/start")
    response = client.post("/journey/safety", data={}, headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/journey/safety"
    assert "<title>Error: Bladder trouble?" in body and 'class="error-summary"' in body


def test_an_htmx_change_from_the_summary_comes_back_to_the_summary_in_one_response(client):
    walk_to_summary(client, surgery="other")
    response = client.post("/journey/surgery?return=summary", data={"surgery": "other"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Push-Url"] == "/journey/summary"
    body = response.get_data(as_text=True)
    assert 'id="your-answers-list"' in body and "<details" not in body  # the answers on the page, never folded
    # A change that opens a new step goes there first; its form no longer carries return=summary,
    # exactly as after post/redirect/get without JavaScript.
    response = client.post("/journey/surgery?return=summary", data={"surgery": "fusion"}, headers=HTMX)
    assert response.headers["HX-Push-Url"] == "/journey/causes"
    assert 'action="/journey/causes"' in response.get_data(as_text=True)


def test_an_htmx_post_from_the_summary_goes_to_the_request_page_by_redirect(client):
    walk_to_summary(client, surgery="other")
    response = client.post("/journey/summary", headers=HTMX)
    assert response.status_code == 303


def test_a_warning_sign_leads_to_the_urgent_care_page_which_ends_the_journey(client):
    client.post("/journey/start")
    response = client.post("/journey/safety", data={"bladder": "yes"})
    assert response.headers["Location"] == "/journey/urgent"
    html = client.get("/journey/urgent").get_data(as_text=True)
    assert "Get help today" in html
    assert "<form class=\"step-form\"" not in html  # nothing to continue to
    assert 'href="/journey/safety">go back and change your answer' in html
    # The rest of the journey stays closed while the answer is "yes".
    assert client.get("/journey/surgery").headers["Location"] == "/journey/urgent"


def test_answering_by_mistake_can_be_undone_from_the_urgent_page(client):
    client.post("/journey/start")
    client.post("/journey/safety", data={"bladder": "yes"})
    response = client.post("/journey/safety", data={"bladder": "no"})
    assert response.headers["Location"] == "/journey/surgery"


def test_missing_answer_re_shows_the_step_with_a_message_and_an_error_summary(client):
    client.post("/journey/start")
    response = client.post("/journey/safety", data={})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>Error: Bladder trouble?" in html
    assert 'class="error-summary"' in html and 'href="#bladder-0"' in html
    assert 'id="bladder-error"' in html


def test_answer_not_among_the_options_is_refused_and_not_stored(client, app):
    client.post("/journey/start")
    response = client.post("/journey/safety", data={"bladder": "maybe"})
    assert "Choose one of the answers shown" in response.get_data(as_text=True)
    assert stored_journeys(app) == []  # nothing stored: not even an empty journey


def test_ticked_boxes_are_kept_when_another_question_on_the_step_is_missing(client):
    client.post("/journey/start")
    client.post("/journey/safety", data={"bladder": "no"})
    html = client.post("/journey/surgery", data={"tried": ["pills", "exercise"]}).get_data(as_text=True)
    assert re.search(r'value="pills" checked', html) and re.search(r'value="exercise" checked', html)
    assert "Choose an answer: Which surgery?" in html


def test_unknown_step_is_a_404_page_in_the_site_layout(client):
    response = client.get("/journey/no-such-step")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    assert "<footer" in response.get_data(as_text=True)


def test_opening_a_later_step_redirects_to_the_first_unanswered_one(client):
    assert client.get("/journey/summary").headers["Location"] == "/"
    client.post("/journey/start")
    assert client.get("/journey/summary").headers["Location"] == "/journey/safety"
    client.post("/journey/safety", data={"bladder": "no"})
    assert client.get("/journey/causes").headers["Location"] == "/journey/surgery"
    # Posting to a step off the path is refused the same way.
    assert client.post("/journey/causes").headers["Location"] == "/journey/surgery"


def test_previously_given_answers_are_shown_when_going_back(client):
    walk_to_summary(client)
    html = client.get("/journey/surgery").get_data(as_text=True)
    assert re.search(r'value="fusion" checked', html)
    assert 'href="/journey/safety"' in html  # the Back link


def test_changing_an_answer_on_the_summary_re_routes_what_follows(client):
    walk_to_summary(client, surgery="fusion")
    summary = client.get("/journey/summary").get_data(as_text=True)
    assert "Fusion question?" in summary
    assert 'href="/journey/surgery?return=summary#surgery"' in summary
    response = client.post("/journey/surgery?return=summary", data={"surgery": "other"})
    # Back at the summary, at the answers: the fragment opens their disclosure without JavaScript.
    assert response.headers["Location"] == "/journey/summary#your-answers-list"
    summary = client.get("/journey/summary").get_data(as_text=True)
    assert "Fusion question?" not in summary
    assert "Always asked?" in summary


def test_a_changed_answer_that_opens_a_new_step_goes_there_first(client):
    walk_to_summary(client, surgery="other")
    response = client.post("/journey/surgery?return=summary", data={"surgery": "fusion"})
    assert response.headers["Location"] == "/journey/causes"


def test_blocks_matching_the_answers_come_first_and_are_marked(client):
    walk_to_summary(client, surgery="fusion")
    html = client.get("/journey/causes").get_data(as_text=True)
    assert html.index("Fusion levels") < html.index("General")
    assert "Most relevant to you" in html
    # The research stays one tap away, named by its block for screen readers.
    assert '<summary>What the research says<span class="visually-hidden"> about fusion levels</span></summary>' in html
    # Without JavaScript a marker leads to the reference, with the way back; htmx opens it in place.
    assert 'href="/references?cite=cite-causes-1#ref-2"' in html
    assert 'data-hx-get="/references/2/note?cite=cite-causes-1"' in html


def test_a_reference_opens_in_place_for_htmx_and_closes_again(client):
    walk_to_summary(client, surgery="fusion")
    query = "cite=cite-causes-1"
    opened = client.get(f"/references/2/note?{query}", headers=HTMX)
    html = opened.get_data(as_text=True)
    assert opened.status_code == 200 and "<html" not in html
    assert html.startswith('<span class="cite-open"><a class="ref" id="cite-causes-1"')
    assert 'aria-expanded="true" aria-controls="cite-causes-1-note"' in html
    assert 'id="cite-causes-1-note" role="note"' in html and "Reference 2" in html
    closed = client.get(f"/references/2/note?{query}&open=0", headers=HTMX).get_data(as_text=True)
    assert closed.startswith('<a class="ref" id="cite-causes-1"') and 'aria-expanded="false"' in closed
    assert 'role="note"' not in closed
    # Without htmx the same address is the references page at that reference.
    plain = client.get(f"/references/2/note?{query}")
    assert plain.status_code == 302
    assert plain.headers["Location"] == "/references?cite=cite-causes-1#ref-2"


def test_the_references_page_offers_a_way_back_only_to_a_step_of_this_journey(client):
    html = client.get("/references?cite=cite-causes-1").get_data(as_text=True)
    assert '<a class="back-link" href="/journey/causes#cite-causes-1">Back to where you were</a>' in html
    for query in ("cite=https://evil.example", "cite=//evil.example", "cite=cite-//evil.example-1",
                  "cite=javascript:alert(1)", "cite=cite-nope-1", "cite=cite-causes", "next=https://evil.example", ""):
        html = client.get(f"/references?{query}").get_data(as_text=True)
        assert "Back to where you were" not in html, query
        assert "evil.example" not in html
    for query in ("cite=bad", "cite=cite-elsewhere-1", ""):
        assert client.get(f"/references/2/note?{query}", headers=HTMX).status_code == 404
    assert client.get("/references/999/note?cite=cite-causes-1", headers=HTMX).status_code == 404


def test_answers_are_kept_on_the_server_and_the_cookie_carries_only_a_random_id(client, app):
    walk_to_summary(client)
    cookie = client.get_cookie("session").value
    payload = cookie.split(".")[0]
    compressed = payload.startswith(".")
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload) % 4))
    data = json.loads(zlib.decompress(raw) if compressed else raw)
    journey_id = data["journey_id"]
    assert set(data) <= {"journey_id", "csrf_token"}
    assert len(base64.urlsafe_b64decode(journey_id + "=" * (-len(journey_id) % 4))) >= 16  # >= 128 bits
    for word in ("fusion", "bladder", "surgery", "no"):  # as a whole value: a random id may contain "no"
        assert f'"{word}"' not in json.dumps(data) and word not in data
    (stored_id, answers, _seen), = stored_journeys(app)
    assert stored_id == journey_id and json.loads(answers)["surgery"] == "fusion"


def test_unfinished_journeys_expire_after_a_week_without_activity(client, app):
    walk_to_summary(client)
    execute(app, "UPDATE journeys SET updated_at = updated_at - 8 * 86400")
    assert client.get("/journey/summary").headers["Location"] == "/"
    assert app.test_cli_runner().invoke(args=["housekeeping"]).exit_code == 0  # removes the expired answers
    assert stored_journeys(app) == []


def test_start_again_deletes_the_answers_once_confirmed(client, app):
    walk_to_summary(client)
    assert client.post("/journey/restart").headers["Location"] == "/journey/restart"  # asks first
    assert len(stored_journeys(app)) == 1
    client.post("/journey/restart", data={"confirm": "yes"})
    assert stored_journeys(app) == []
    assert client.get("/journey/summary").headers["Location"] == "/"


def test_references_page_lists_every_reference_with_an_anchor(client):
    html = client.get("/references").get_data(as_text=True)
    assert 'id="ref-1"' in html and 'id="ref-2"' in html


def test_footer_has_the_disclaimer_and_the_review_status(client):
    html = client.get("/").get_data(as_text=True)
    assert "This is a test." in html
    assert "This guide has not yet been reviewed by a test reviewer." in html  # tests/test_content_review.py: the rest


def test_journey_posts_need_a_csrf_token(make_app):
    client = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content")).test_client()
    assert client.post("/journey/start").status_code == 400


def test_a_locked_database_gives_a_busy_page_not_a_server_error(make_app):
    app = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content"), WTF_CSRF_ENABLED=False,
                   DATABASE_BUSY_TIMEOUT_MS=50)
    client = app.test_client()
    client.post("/journey/start")
    with database_locked(app, exclusive=True):
        response = client.post("/journey/safety", data={"bladder": "no"})
    assert response.status_code == 503
    assert "The site is busy" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert client.post("/journey/safety", data={"bladder": "no"}).status_code == 303


# --- refused answers are message ids, worded by the Flask layer (issue 20 A) ---------------------------------
def test_refused_answers_come_back_as_message_ids_with_their_question_never_as_english_sentences():
    from dataclasses import replace

    from clinic.journey import load_journey
    from clinic.journey.model import ANSWER_ERRORS, AnswerError, Option, Question

    journey = load_journey(ROOT / "tests" / "fixtures" / "content")

    def question(qid, kind, **extra):
        options = () if kind == "text" else (Option("a", "A"), Option("b", "B"), Option("none", "None of these"))
        return Question(id=qid, type=kind, label=f"Label {qid}", summary_label="", hint="", optional=False,
                        options=options, **extra)

    questions = (question("one", "single"), question("many", "multiple"), question("signs", "multiple", exclusive="none"),
                 question("words", "text", max_length=5))
    step = replace(journey.steps["surgery"], questions=questions)
    cases = [
        ({}, {"one": "choose_one", "many": "tick_one", "signs": "none_checked", "words": "text_missing"}),
        ({"one": ["c"], "many": ["c"], "signs": ["a", "none"], "words": ["a", "b"]},
         {"one": "unknown_option", "many": "unknown_options", "signs": "exclusive_with_other", "words": "text_repeated"}),
        ({"one": ["a", "b"], "many": ["a"], "signs": ["a"], "words": ["toolong"]}, {"one": "unknown_option",
                                                                                   "words": "text_too_long"}),
    ]
    for form, expected in cases:
        answers, errors = journey.read_answers(step, form)
        assert {qid: error.code for qid, error in errors.items()} == expected, form
        for qid, error in errors.items():
            assert isinstance(error, AnswerError) and error.code in ANSWER_ERRORS and error.question.id == qid
        assert not set(answers) & set(errors)
    _, errors = journey.read_answers(step, {"words": ["toolong"]})
    assert errors["words"].length == 7  # what the Flask layer needs to say "you wrote 7"


def test_each_refusal_is_worded_on_the_page_next_to_its_question(client):
    client.post("/journey/start")
    html = client.post("/journey/safety", data={}).get_data(as_text=True)
    assert re.search(r'id="bladder-error"[^>]*>.*Choose an answer: Bladder trouble\?', html, re.S)
    html = client.post("/journey/safety", data={"bladder": "maybe"}).get_data(as_text=True)
    assert re.search(r'id="bladder-error"[^>]*>.*Choose one of the answers shown', html, re.S)


def test_every_answer_error_id_has_words_in_the_flask_layer():
    from blueprints.journey import answer_error_message
    from clinic.journey import load_journey
    from clinic.journey.model import ANSWER_ERRORS, AnswerError

    journey = load_journey(ROOT / "tests" / "fixtures" / "content")
    question = journey.question("tried")
    worded = {code: answer_error_message(journey, AnswerError(code, question, length=9)) for code in ANSWER_ERRORS}
    assert all(worded.values()) and len(set(worded.values())) == len(ANSWER_ERRORS)
    with pytest.raises(ValueError, match="no words"):
        answer_error_message(journey, AnswerError("not_a_code", question))
