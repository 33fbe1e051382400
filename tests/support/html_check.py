"""The Nu HTML Checker (vnu.jar from npm), run once over many pages: the JVM starts once."""
import json
import shutil
import subprocess

from tests.conftest import ROOT
from tests.support.tools import require_tool

VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def html_problems(pages, folder):
    """The Nu HTML Checker's errors in `pages` ({name: html}), one "name.html:LINE: message" each.

    The pages are written to `folder` and checked in one run (the JVM starts once). Without java: a failure
    in CI, where .ci/run installs it, and a skip elsewhere.
    """
    java = shutil.which("java")
    if not java:
        require_tool("java is needed for the HTML checker (apt-get install default-jre-headless; .ci/run installs it)")
    files = []
    for name, html in pages.items():
        path = folder / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", *files],
        capture_output=True, text=True, timeout=120,
    )
    messages = json.loads(result.stderr or '{"messages": []}')["messages"]
    return [f"{m['url'].rsplit('/', 1)[-1]}:{m.get('lastLine')}: {m['message']}" for m in messages]
