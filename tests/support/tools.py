"""A tool or server a test needs: in CI (CI=true) its absence fails the test, never skips it (the brief);
on a developer's machine the test skips, saying what to install."""
import os

import pytest


def require_tool(reason):
    """Call where the tool was not found: fails in CI, skips elsewhere, with `reason` either way."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run every test)", pytrace=False)
    pytest.skip(reason)
