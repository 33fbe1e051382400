"""Walking the journey in a Playwright page: the planned answers of four paths, the steps each must show, and
ticking a step's answers (tests/test_journey_browser.py and the other browser tests that walk a path)."""
import re

from clinic.journey import load_journey
from tests.conftest import ROOT

# "None of these" on every warning-sign group of the safety screens (content/warning_signs.yaml).
SIGNS = load_journey(ROOT / "content").warning_signs
SAFE = {group.question_id: ["none"] for group in SIGNS.groups}
# What matters to them, and the SURE questions ("" skips one).
CHOOSING = {"values": ["avoid_operation"], "sure_sure": "no", "sure_understand": "yes", "sure_values": "",
            "sure_support": "yes"}

PATHS = {
    "fusion-with-hardware-problem": {
        **SAFE, **CHOOSING, "surgery": "fusion", "how_long": "6_to_24_months", "told": ["technical_success"],
        "hardware_problem": "yes", "tried": ["opioids", "stimulator"],
    },
    "discectomy": {
        **SAFE, **CHOOSING, "surgery": "discectomy", "how_long": "under_6_months", "told": [], "tried": [],
    },
    "several-operations": {
        **SAFE, **CHOOSING, "surgery": "more_than_one", "how_long": "over_2_years", "told": ["several_surgeries", "scar_tissue"],
        "hardware_problem": "no", "tried": ["another_operation", "injections", "exercise"],
    },
    "laminectomy": {
        **SAFE, **CHOOSING, "surgery": "laminectomy", "how_long": "over_2_years", "told": ["weakness"], "tried": ["mind_therapy"],
    },
}
SAFETY = ["start", *SIGNS.screens()]
OPTIONS = ["tried", "conventional", "regenerative", "values", "ready", "summary"]
EXPECTED = {
    "fusion-with-hardware-problem": SAFETY + ["surgery", "after-surgery", "hardware", "hardware-first", "causes"] + OPTIONS,
    "discectomy": SAFETY + ["surgery", "after-surgery", "causes"] + OPTIONS,
    "several-operations": SAFETY + ["surgery", "after-surgery", "hardware", "causes"] + OPTIONS,
    "laminectomy": SAFETY + ["surgery", "after-surgery", "causes"] + OPTIONS,
}


def step_id(page, base):
    path = page.url[len(base):]
    return "start" if path == "/" else re.match(r"/journey/([a-z0-9-]+)", path).group(1)


def answer_step(page, plan):
    """Tick the planned answers for every question on the page."""
    for name in page.eval_on_selector_all(
        "form.step-form input[type=radio], form.step-form input[type=checkbox]",
        "els => [...new Set(els.map(e => e.name))]",
    ):
        assert name in plan, f"no planned answer for {name} on {page.url}"
        kind = page.get_attribute(f"input[name={name}]", "type")
        if kind == "checkbox":
            for box in page.locator(f"input[name={name}]").all():
                box.set_checked(box.get_attribute("value") in plan[name])
        elif plan[name]:  # "" leaves an optional question unanswered
            page.locator(f"input[name={name}][value='{plan[name]}']").check()


def submit(page):
    page.locator("form.step-form button[type=submit]").click()
