"""python -m clinic.journey [content-dir]: check the content and the words each path shows (`make check-content`)."""
import sys

from clinic.journey import reading
from clinic.journey.errors import ContentError
from clinic.journey.loader import load_journey
from clinic.journey.model import all_paths
from clinic.journey.translation import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES
from clinic.triage import load_triage

content_dir = sys.argv[1] if len(sys.argv) > 1 else "content"
loaded = load_journey(content_dir)
print(f"{len(loaded.steps)} steps, {len(loaded.references)} references, {len(all_paths(loaded))} paths: OK")
concepts = load_triage(content_dir).concepts  # the staff flag: every pattern compiled, every example found
print(f"{len(concepts)} flag concepts, {sum(len(c.all_patterns) for c in concepts)} patterns, "
      f"{sum(len(c.all_examples) for c in concepts)} examples: OK")
review = loaded.review_status()
if review == "reviewed":
    print(f"content version {loaded.version}: reviewed on {loaded.reviewed.isoformat()} by {loaded.reviewed_by}")
else:
    since = f" (the last sign-off, {loaded.reviewed.isoformat()}, approved {loaded.reviewed_version})" if loaded.reviewed else ""
    print(f"content version {loaded.version}: not yet reviewed{since}. Make the review pack "
          "(README, 'Content and clinical review') and, once it is signed, set reviewed_version to this version.")


def report_paths(journey, label=""):
    """Print the words of the longest typical path per surgery answer; True when one passes the language's limit."""
    limit, too_long = reading.word_limit(journey), False
    for answer, answers in reading.longest_paths(journey).items():
        total = reading.path_words(journey, answers)
        too_long |= total > limit
        steps = ", ".join(f"{s} {reading.step_words(journey, journey.steps[s], answers)}"
                          for s in journey.expected_route(answers))
        print(f"{label}{reading.PATHS_PER_ANSWER_OF} = {answer}: {total} words (limit {limit}): {steps}")
    return too_long


too_long = report_paths(loaded)
if too_long:
    sys.exit(f"a path shows more than {reading.PATH_WORD_LIMIT} words: cut text on its longest steps")

# The translations (content/<lang>/): each file present is checked against the English; while files are still
# missing the language is not served (README "The Spanish content").
for language in LANGUAGES:
    if language == DEFAULT_LANGUAGE:
        continue
    try:
        translated = load_journey(content_dir, language=language)
    except ContentError as exc:  # the site would start without this language: say why, and fail
        sys.exit(f"{LANGUAGE_NAMES[language]} ({language}/) is refused, so the site would serve English only: {exc}")
    name = LANGUAGE_NAMES[language]
    if translated.missing:
        print(f"{name} ({language}/): the files present match the English; {len(translated.missing)} still missing, so "
              f"the site does not offer {name}: {', '.join(translated.missing)}")
    else:
        print(f"{name} ({language}/): complete, every file matches the English")
    status = translated.review_status()
    print(f"{name} content version {translated.version}: "
          + (f"reviewed on {translated.reviewed.isoformat()} (translator: {translated.translator})"
             if status == "reviewed" else "not yet reviewed"))
    if report_paths(translated, f"{language}: ") and not translated.missing:
        sys.exit(f"a {name} path shows more than {reading.word_limit(translated)} words: cut text on its longest steps")
    if translated.reading_minutes:
        print(f"{language}: the start page says {reading.reading_time_text(translated.reading_minutes, language)}")
