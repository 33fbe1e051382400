"""Every page of the journey is valid HTML, checked by the Nu HTML Checker (vnu.jar, run once for all pages)."""
import re

from clinic.journey import load_journey
from tests.conftest import ROOT
from tests.support.html_check import html_problems

# Every safety screen with "None of these" (content/warning_signs.yaml: one group a screen).
SAFETY = [(group.step, {group.question_id: "none"}) for group in load_journey(ROOT / "content").warning_signs.groups]
ANSWERS = [
    ("start", {}),
    *SAFETY,
    ("surgery", {"surgery": "fusion"}),
    ("after-surgery", {"how_long": "over_2_years", "told": ["technical_success", "scar_tissue"]}),
    ("hardware", {"hardware_problem": "yes"}),
    ("hardware-first", {}),
    ("causes", {}),
    ("tried", {"tried": ["opioids", "stimulator"]}),
    ("conventional", {}),
    ("regenerative", {}),
]


def journey_pages(client):
    """The HTML of every step on one long path, a step with errors, and the plain pages."""
    pages = {}
    for step_id, answers in ANSWERS:
        url = "/" if step_id == "start" else f"/journey/{step_id}"
        pages[step_id] = client.get(url).get_data(as_text=True)
        assert client.post(f"/journey/{step_id}", data=answers).status_code == 303, step_id
    pages["summary"] = client.get("/journey/summary").get_data(as_text=True)
    pages["surgery-error"] = client.post("/journey/surgery", data={}).get_data(as_text=True)
    pages["surgery-partial"] = client.get("/journey/surgery", headers={"HX-Request": "true"}).get_data(as_text=True)
    for path in ("/references", "/privacy", "/compare", "/journey/save", "/journey/unknown", "/request"):
        pages[path.strip("/").replace("/", "-")] = client.get(path).get_data(as_text=True)
    link = re.search(r'href="https?://[^/"]+(/journey/continue/[^"]+)"', pages["journey-save"]).group(1)
    pages["continue-confirm"] = client.application.test_client().get(link).get_data(as_text=True)
    pages["continue-expired"] = client.get("/journey/continue/no-such-link").get_data(as_text=True)
    for screen, form in SAFETY:
        client.post(f"/journey/{screen}", data={"signs_chest": "calf_pain"} if "signs_chest" in form else form)
    pages["same-day"] = client.get("/journey/same-day").get_data(as_text=True)
    pages["safety-error"] = client.post("/journey/safety-chest", data={"signs_chest": ["none", "chest_pain"]}).get_data(
        as_text=True)
    client.post("/journey/safety-chest", data={"signs_chest": "chest_pain"})
    pages["urgent"] = client.get("/journey/urgent").get_data(as_text=True)
    return pages


def test_every_journey_page_is_valid_html(make_app, tmp_path):
    client = make_app(WTF_CSRF_ENABLED=False, OUTBOX_AUTOSEND=False).test_client()
    pages = journey_pages(client)
    # A fragment: wrap it the way htmx places it, inside the page's <main>.
    fragment = pages["surgery-partial"].split("</div>", 1)[1]
    pages["surgery-partial"] = f"<!doctype html><html lang=en><title>x</title><main>{fragment}</main></html>"
    problems = html_problems(pages, tmp_path)
    assert not problems, "\n".join(problems)
