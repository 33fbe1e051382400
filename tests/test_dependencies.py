"""Every dependency, transitive ones too, is pinned with hashes and installed with --require-hashes (issue 11 hardening).

requirements.in and requirements-dev.in name what we use; `make lock` compiles them into the .txt files. These checks
fail when a .txt file is edited by hand or a .in file is changed without `make lock` (README "Dependencies").
"""
import ast
import re
import sys
from importlib.metadata import packages_distributions

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def normalised(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(filename):
    """{name: (version, [hashes])} from a compiled requirements file (continuation lines joined)."""
    text = (ROOT / filename).read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        found = PIN.match(line)
        assert found, f"{filename}: not an exact pin: {line[:80]}"
        pins[normalised(found.group(1))] = (found.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return pins


def named(filename):
    """{name: version} of the direct dependencies in a .in file (its -r includes followed)."""
    wanted = {}
    for line in (ROOT / filename).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            wanted.update(named(line[3:].strip()))
        elif line:
            found = PIN.match(line)
            assert found, f"{filename}: name each package with its tested version (name==x.y): {line}"
            wanted[normalised(found.group(1))] = found.group(2)
    return wanted


def test_every_locked_package_is_pinned_exactly_with_hashes():
    for filename in ("requirements.txt", "requirements-dev.txt"):
        pins = locked(filename)
        assert len(pins) > 10, filename
        unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
        assert not unhashed, f"{filename}: no hash for {unhashed}"


def test_the_locks_match_the_in_files_so_make_lock_was_run():
    runtime, dev = locked("requirements.txt"), locked("requirements-dev.txt")
    for filename, lock in (("requirements.in", runtime), ("requirements-dev.in", dev)):
        for name, version in named(filename).items():
            assert name in lock, f"{name} is in {filename} but not locked: run `make lock`"
            assert lock[name][0] == version, f"{name}: {filename} says {version}, the lock {lock[name][0]}: run `make lock`"
    for name, (version, _) in runtime.items():  # tests run on exactly what production installs
        assert dev.get(name, (None,))[0] == version, f"{name}: requirements-dev.txt differs from requirements.txt"


def test_make_installs_only_hashed_packages():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "$(PIP) install" in line]
    assert installs and all("--require-hashes" in line for line in installs), installs


def imported_modules(paths):
    """The top-level names of the modules that these Python files import (relative imports left out)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_package_the_site_imports_is_named_in_requirements_in():
    """Not only pulled in by another package: a later release of that one could drop it, and the site would break."""
    code = [ROOT / "app.py", ROOT / "gunicorn.conf.py", *(ROOT / "blueprints").rglob("*.py"), *(ROOT / "clinic").rglob("*.py")]
    ours = {"app", "blueprints", "clinic"}
    third_party = imported_modules(code) - set(sys.stdlib_module_names) - ours
    distributions = packages_distributions()
    wanted = named("requirements.in")
    unnamed = sorted(module for module in third_party
                     if not any(normalised(dist) in wanted for dist in distributions.get(module, [module])))
    assert third_party and not unnamed, f"imported by the site but not named in requirements.in: {unnamed}"
