"""The journey: steps loaded from content/, checked at start-up, and the routing rules between them.

model.py   the steps, questions and rules, and the routing over a person's answers
schema.py  the declared shape of each content file (unknown keys refused)
loader.py  reading content/ into a Journey, checking each file and field
checks.py  checks across the whole journey (ids, answers named in rules, loops, unreachable steps)
reading.py what a step shows (relevance first) and how long a path takes to read
render.py  Markdown and [ref:N] citations to HTML
diagrams.py  the schematic pictures in content/diagrams/, each checked
warning_signs.py  the warning signs, their tiers and stop pages, and the routing to them (content/warning_signs.yaml)
translation.py  a language's text (content/<lang>/) laid over the English structure, checked field by field
errors.py  ContentError, naming the file and the field
review_pack.py  what the clinic's medical reviewer signs off, gathered from the loaded journey
"""
# What other packages import from here; inside clinic/journey, modules import from the module that defines a name.
from clinic.journey.errors import ContentError
from clinic.journey.loader import load_journey, load_journeys
from clinic.journey.model import REQUEST_TARGET, RESERVED_STEP_IDS, Block, Step, all_paths, conditions_hold

__all__ = ["REQUEST_TARGET", "RESERVED_STEP_IDS", "Block", "ContentError", "Step", "all_paths", "conditions_hold", "load_journey",
           "load_journeys"]
