"""python -m clinic.journey [content-dir]: check the content (`make check-content`)."""
import sys

from clinic.journey.loader import load_journey
from clinic.journey.model import all_paths

loaded = load_journey(sys.argv[1] if len(sys.argv) > 1 else "content")
print(f"{len(loaded.steps)} steps, {len(loaded.references)} references, {len(all_paths(loaded))} paths: OK")
