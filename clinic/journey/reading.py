"""What a step shows a person, relevance first, and how long their path takes to read."""
import itertools
import math
from dataclasses import dataclass, replace

from clinic.journey.model import FIGURE_CAPTION, REQUEST_TARGET, conditions_hold
from clinic.journey.render import Renderer

WORDS_PER_MINUTE = 200
# Words of intro and of blocks shown in full above the Continue button. With the headings and the "On this page"
# list, about this much text keeps Continue within two phone screens (390x844); "Also on this page" follows
# the button. tests/test_reading_browser.py holds the layout to that in Chromium.
SHOWN_WORDS = 210
DIAGRAM_WORDS = 70  # a diagram with its caption takes about the height of this many words on a phone
FIGURE_WORDS = 60  # a row of icon arrays with its caption and caveat: about this many words' height
# A block's heading with its tag, its "What the research says" line, its margins and its line under "On this page"
# take about this many words' height: two blocks that each fit went past two screens without it.
BLOCK_OVERHEAD_WORDS = 25
PATH_WORD_LIMIT = 1500
PATHS_PER_ANSWER_OF = "surgery"  # the limit holds for the longest typical path of each answer to this question
RESEARCH_SUMMARY = "What the research says"
ALSO_HEADING = "Also on this page"
# The summary template's own text (headings, the warning signs' lead-ins, the request section);
# tests/test_reading_browser.py compares the whole path's count with what Chromium shows.
SUMMARY_TEMPLATE_WORDS = 45
OR_DIVIDER = "or"  # before a "None of these" box (templates/macros/forms.html)
OPTIONAL_MARK = "(optional)"  # after a text question's label (templates/macros/forms.html)
READING_TIME_MARK = "{{reading_time}}"
PLAIN_READING_TIME_MARK = Renderer.plain(READING_TIME_MARK)  # the plain text loses Markdown marks such as _


READ_MORE = "Read more"
# The same interface words in each content language, as the templates show them (the Spanish ones are the msgstrs
# of translations/es; tests/test_spanish_reading.py holds the two in step), and each language's word limit on a
# typical path: Spanish says the same in about a fifth more words.
INTERFACE = {
    "en": {"research": RESEARCH_SUMMARY, "also": ALSO_HEADING, "or": OR_DIVIDER, "optional": OPTIONAL_MARK,
           "read_more": READ_MORE, "summary_words": SUMMARY_TEMPLATE_WORDS, "figure_caption": FIGURE_CAPTION,
           "minutes": "{n} minutes", "minutes_range": "{low} to {high} minutes", "few_minutes": "a few minutes"},
    "es": {"research": "Lo que dice la investigación", "also": "También en esta página", "or": "o",
           "optional": "(opcional)", "read_more": "Leer más", "summary_words": 42,
           "figure_caption": "de cada 100 personas como las del estudio",
           "minutes": "{n} minutos", "minutes_range": "de {low} a {high} minutos", "few_minutes": "unos minutos"},
}
PATH_WORD_LIMITS = {"en": PATH_WORD_LIMIT, "es": 1800}


def word_limit(journey):
    """The most words a typical path may show in the journey's language."""
    return PATH_WORD_LIMITS[getattr(journey, "language", "en")]


def _ui(journey, key):
    return INTERFACE[getattr(journey, "language", "en")][key]


@dataclass(frozen=True)
class Layout:
    shown: tuple  # (block, fits the answers) shown in full, in this order
    also: tuple  # (block, fits the answers) listed under "Also on this page" as closed disclosures
    lead: object = None  # a block that fits the answers but not the budget: its first paragraph, then "Read more"


def words(text):
    return len(str(text or "").split())


def layout(step, answers):
    """The blocks that fit the answers, in full until the next one would pass the word budget; only when none
    fits, the ones for everyone instead. Something that fits the answers is always above Continue: when the first
    block that fits is too long for the budget, its first paragraph is shown with "Read more" (the lead). Everything
    else goes under "Also on this page" (the ones that fit the answers first and marked), one tap away."""
    fitting = [b for b in step.blocks if b.first_when and conditions_hold(b.first_when, answers)]
    general = [b for b in step.blocks if not b.first_when]
    shown, budget, lead = [], SHOWN_WORDS - words(step.intro_text), None
    # Blocks written for these answers, as many as fit; when none is, only the first block for everyone (the rest
    # wait under "Also on this page", so a page read by everyone stays short).
    for block in fitting or general[:1]:
        cost = block_cost(block)
        if cost > budget:
            if fitting and not shown:
                lead = block if block.lead_html else None
                shown = [] if lead else [block]  # one paragraph only: shown whole, it is all there is
            break
        shown.append(block)
        budget -= cost
    # Blocks compared by id: comparing the dataclasses would compare all their HTML.
    fits, above = {b.id for b in fitting}, {b.id for b in shown} | ({lead.id} if lead else set())
    also = [b for b in step.blocks if b.id not in above]
    also.sort(key=lambda b: b.id not in fits)  # the ones that fit the answers first; stable otherwise
    return Layout(
        shown=tuple((b, b.id in fits) for b in shown),
        also=tuple((b, b.id in fits) for b in also),
        lead=lead,
    )


def block_cost(block):
    """How much of the budget above Continue a block shown in full takes: its words, its heading and research
    line, and a picture's height."""
    return (BLOCK_OVERHEAD_WORDS + words(block.body_text) + (DIAGRAM_WORDS if block.diagram else 0)
            + (FIGURE_WORDS if shows_figure(block) else 0))


def shows_figure(block):
    """True when a block's icon arrays are on the page, not inside its closed "What the research says"."""
    return block.figure is not None and not block.figure.in_research


def figure_words(journey, figure):
    """The words of a row of icon arrays: their labels and numbers, the caption in the page's language, the caveat."""
    labels = " ".join(f"{label or ''} {shaded}" for shaded, label in figure.arrays)
    return words(labels) + words(_ui(journey, "figure_caption")) + words(figure.caveat)


def step_words(journey, step, answers):
    """Words a step shows with research and "Also on this page" closed (navigation and buttons aside)."""
    # A step asking one choice question shows that question as its heading, not its title (Step.heading).
    count = (0 if step.heading_in_legend else words(step.title)) + words(step.intro_text)
    count += figure_words(journey, step.figure) if step.figure else 0
    for question in step.questions:
        count += words(question.label) + words(question.hint) + sum(words(o.label) for o in question.options)
        count += words(_ui(journey, "optional")) if question.type == "text" and question.optional else 0
        count += words(_ui(journey, "or")) if question.exclusive else 0
    shown = layout(step, answers)
    for block, _fits in shown.shown:
        count += words(block.heading) + words(block.body_text)
        count += words(block.diagram.labels) + words(block.diagram.caption) if block.diagram else 0
        count += figure_words(journey, block.figure) if shows_figure(block) else 0
        count += words(_ui(journey, "research")) if block.research_text else 0
    if shown.lead:
        count += words(shown.lead.heading) + words(shown.lead.lead_text) + words(_ui(journey, "read_more"))
    if shown.also:
        count += words(_ui(journey, "also")) + sum(words(block.heading) for block, _fits in shown.also)
    if step.kind == "summary":
        count += _summary_words(journey, answers)
    return count


def _summary_words(journey, answers):
    # The page's own headings and its request section are in the template; each tier of warning signs is headed by
    # its stop page's title. Not counted: the recap (class "recap"), the person's own answers and the warning signs
    # they went through on the safety screens, listed again to check and to print, not new reading.
    count = _ui(journey, "summary_words")
    if journey.warning_signs:
        count += sum(words(journey.steps[tier.stop_step].title) for tier in journey.warning_signs.tiers)
    count += sum(words(text) for text in journey.doctor_questions(answers))
    return count + _decision_words(journey, answers)


def _decision_words(journey, answers):
    """The summary's "What matters to you" lines and its next step after a "no" (templates/journey/_decision.html).
    The values themselves are the person's own answers, listed again: not counted, like the recap."""
    decision = journey.decision
    if decision is None:
        return 0
    count = 0
    chosen = decision.values_chosen(journey, answers)
    if chosen:
        count += words(decision.values_heading) + sum(words(decision.lines_text.get(value, ""))
                                                      for value in answers[decision.values_question])
    if decision.unsure(answers):
        count += words(decision.unsure_heading) + words(decision.unsure_text)
    return count


def path_words(journey, answers, memo=None):
    """Words shown along the whole route these answers take, summary included.

    A paragraph of a step's own text shown word for word on an earlier step of the route (the "If you are not sure"
    and 988 lines on each safety screen) counts once, like the summary's recap: seen again, not read again."""
    route = journey.expected_route(answers)
    return sum(_remembered_step_words(journey, journey.steps[s], answers, memo) for s in route) - repeated_words(
        journey.steps[s].intro_text for s in route)


def _remembered_step_words(journey, step, answers, memo):
    """step_words, kept in `memo` (a dict, or None to keep nothing) across the paths of one count: a step other
    than the summary shows what it does for the answers to the questions its blocks' `first_when` name alone.
    The start-up time counts thousands of paths through the same few pages."""
    if memo is None or step.kind == "summary":
        return step_words(journey, step, answers)
    asked = memo.get(step.id)
    if asked is None:
        asked = memo[step.id] = tuple(sorted({q for block in step.blocks for q in block.first_when}))
    given = tuple(tuple(a) if isinstance(a, list) else a for a in (answers.get(q) for q in asked))
    key = (step.id, given)
    if key not in memo:
        memo[key] = step_words(journey, step, answers)
    return memo[key]


def repeated_words(intros):
    """Words of the paragraphs in `intros` (each a step's plain text, in route order) shown on an earlier step."""
    seen, repeated = set(), 0
    for intro in intros:
        for paragraph in paragraphs(intro):
            if paragraph in seen:
                repeated += words(paragraph)
            seen.add(paragraph)
    return repeated


def paragraphs(text):
    """A text's paragraphs, white space made single (a browser's `textContent` of each, once normalised)."""
    return [" ".join(p.split()) for p in str(text or "").split("\n\n") if p.strip()]


def complete_answers(journey, boxes="typical"):
    """Answer sets that reach the summary, trying every single-choice answer. Each box question is tried with
    nothing ticked (or its "None of these" box) and with: its first box (boxes="typical": the commonest answers
    are listed first), or every box (boxes="all": the longest pages a path can show). Stop pages end a walk."""
    found = []

    def choices(question):
        values = [o.value for o in question.options]
        if question.type == "text":
            return [""]  # typed text is the person's own: it adds no words of the guide's
        if question.type == "single":
            return values + ([""] if question.optional else [])
        nothing = [question.exclusive] if question.exclusive else []
        ticked = [v for v in values if v != question.exclusive]
        return [nothing, {"typical": ticked[:1], "all": ticked}[boxes]]

    def walk(step_id, answers):
        if step_id is None or step_id == REQUEST_TARGET:
            return
        step = journey.steps[step_id]
        if step.kind == "summary":
            found.append(answers)
        elif step.kind == "info":
            walk(journey.next_step(step, answers), answers)
        elif step.kind == "question":
            for combo in combos(step):
                given = {**answers, **{q.id: value for q, value in zip(step.questions, combo, strict=True)}}
                walk(journey.next_step(step, given), given)

    def combos(step):
        """Every combination of answers (a few hundred walks at most); but a step of optional questions only (the
        SURE questions) is tried with the same choice for all at once: all yes, all no, all skipped."""
        lists = [choices(q) for q in step.questions]
        if len(lists) > 1 and all(q.optional for q in step.questions):
            longest = max(len(c) for c in lists)
            return [tuple(c[min(i, len(c) - 1)] for c in lists) for i in range(longest)]
        return itertools.product(*lists)

    walk(journey.first_step, {})
    return found


def longest_paths(journey, question_id=PATHS_PER_ANSWER_OF):
    """{answer: typical answers whose path reads longest} for each answer to one single-choice question."""
    longest, memo = {}, {}  # answer -> (words, answers)
    for answers in complete_answers(journey, "typical"):
        value, count = answers.get(question_id), path_words(journey, answers, memo)
        if value not in longest or count > longest[value][0]:
            longest[value] = (count, answers)
    return {value: answers for value, (_count, answers) in longest.items()}


def reading_minutes(journey):
    """(fewest, most) minutes to read a typical path to the summary at 200 words a minute."""
    memo = {}
    counts = [path_words(journey, answers, memo) for answers in complete_answers(journey)]
    if not counts:
        return None
    return max(1, math.floor(min(counts) / WORDS_PER_MINUTE)), math.ceil(max(counts) / WORDS_PER_MINUTE)


def reading_time_text(minutes, language="en"):
    words = INTERFACE[language]
    if not minutes:
        return words["few_minutes"]
    low, high = minutes
    return words["minutes"].format(n=low) if low == high else words["minutes_range"].format(low=low, high=high)


def fill_reading_time(journey):
    """Put the computed reading time where a step's text says {{reading_time}}, so no one writes it by hand. The
    words filled in count too: when they move a path past a whole minute, the time is computed again."""
    users = [s for s in journey.steps.values() if READING_TIME_MARK in s.intro_html]
    if not users:
        return journey
    minutes = reading_minutes(journey)
    for _ in range(3):
        text = reading_time_text(minutes, journey.language)
        for step in users:
            journey.steps[step.id] = replace(
                step,
                intro_html=type(step.intro_html)(step.intro_html.replace(READING_TIME_MARK, text)),
                intro_text=step.intro_text.replace(PLAIN_READING_TIME_MARK, text),
            )
        filled = reading_minutes(journey)
        if filled == minutes:
            break
        minutes = filled
    journey.reading_minutes = minutes
    return journey
