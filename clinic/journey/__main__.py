"""python -m clinic.journey [content-dir]: check the content and the words each path shows (`make check-content`)."""
import sys

from clinic.journey import reading
from clinic.journey.loader import load_journey
from clinic.journey.model import all_paths
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
too_long = False
for answer, answers in reading.longest_paths(loaded).items():
    total = reading.path_words(loaded, answers)
    too_long |= total > reading.PATH_WORD_LIMIT
    steps = ", ".join(f"{s} {reading.step_words(loaded, loaded.steps[s], answers)}" for s in loaded.expected_route(answers))
    print(f"{reading.PATHS_PER_ANSWER_OF} = {answer}: {total} words (limit {reading.PATH_WORD_LIMIT}): {steps}")
if too_long:
    sys.exit(f"a path shows more than {reading.PATH_WORD_LIMIT} words: cut text on its longest steps")
