"""The Nu HTML Checker (vnu.jar from npm), run once over many pages: the JVM starts once."""
import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def html_problems(pages, folder):
    """The Nu HTML Checker's errors in `pages` ({name: html}), one "name.html:LINE: message" each.

    The pages are written to `folder` and checked in one run (the JVM starts once). Without java: a failure
    in CI, where .ci/run installs it, and a skip elsewhere.
    """
    java = shutil.which("java")
    if not java:
        if os.environ.get("CI") == "true":
            pytest.fail("java is needed for the HTML checker; .ci/run installs it")
        pytest.skip("java not installed")
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
