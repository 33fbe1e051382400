"""Patient data on disk is private to the site's user whatever the umask (issue 11 L6).

Each test runs the site in its own Python process under `umask 022` (a normal login shell's), from a
tree of links to this checkout so that `instance/` is created fresh where the test can look at it.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, TEST_SECRET, content_dir

LINKED = ("app.py", "blueprints", "clinic", "templates", "static", "content", "tests")

# Runs inside the child: a patient's request, the outbox writing its mail file, a backup; then every mode.
SCRIPT = textwrap.dedent("""
    import json, os, stat, sys
    from pathlib import Path
    os.umask(0o022)
    sys.path.insert(0, os.getcwd())
    from app import create_app
    from clinic import backup, migrate
    from tests.helpers import submit_request

    migrate.upgrade(Path("instance") / "clinic.sqlite3")  # what `make run` does first: the app never makes tables
    app = create_app({"SECRET_KEY": sys.argv[1], "CONTENT_DIR": sys.argv[2], "WTF_CSRF_ENABLED": False,
                      "OUTBOX_AUTOSEND": False, "TESTING": True})
    assert submit_request(app.test_client()).status_code == 303
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["outbox", "send"])
    assert sent.exit_code == 0, sent.output

    partial_modes = []
    counts = backup.table_counts
    def spy(conn):  # runs while the copy is still the .partial file
        partial_modes.extend(oct(stat.S_IMODE(p.stat().st_mode)) for p in Path("backups").glob("*.partial"))
        return counts(conn)
    backup.table_counts = spy
    made = runner.invoke(args=["db", "backup", "backups/copy.sqlite3"])
    assert made.exit_code == 0, made.output

    instance = Path(app.instance_path)
    database = Path(app.config["DATABASE"])
    from clinic.db import connect
    open_connection = connect(database)  # the -wal and -shm files exist only while a connection is open
    open_connection.exec_driver_sql("SELECT COUNT(*) FROM requests").scalar()
    modes = {"instance": instance, "database": database, "wal": Path(f"{database}-wal"),
             "shm": Path(f"{database}-shm"), "mail dir": instance / "mail", "backup": Path("backups/copy.sqlite3")}
    modes.update({f"mail file {p.name}": p for p in (instance / "mail").iterdir()})
    print(json.dumps({**{name: oct(stat.S_IMODE(path.stat().st_mode)) for name, path in modes.items()},
                      "partial": partial_modes}))
""")


@pytest.fixture
def linked_tree(tmp_path):
    """A folder whose app.py, packages, templates and content are links to this checkout's."""
    tree = tmp_path / "site"
    tree.mkdir()
    for name in LINKED:
        (tree / name).symlink_to(ROOT / name)
    return tree


def run_site(tree, script):
    result = subprocess.run([sys.executable, "-c", script, TEST_SECRET, str(content_dir())], cwd=tree,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_instance_folder_database_wal_mail_and_backups_are_private_under_umask_022(linked_tree):
    modes = run_site(linked_tree, SCRIPT)
    assert any(name.startswith("mail file") for name in modes), modes
    assert modes.pop("partial") == ["0o600"]
    expected = {name: "0o700" if name in ("instance", "mail dir") else "0o600" for name in modes}
    assert modes == expected


def test_files_made_before_this_rule_are_tightened_at_start_up(linked_tree):
    instance = linked_tree / "instance"
    instance.mkdir(mode=0o755)
    database = instance / "clinic.sqlite3"
    for path in (database, instance / "clinic.sqlite3-wal", instance / "clinic.sqlite3-shm"):
        path.touch()
        path.chmod(0o644)
    run_site(linked_tree, textwrap.dedent("""
        import os, sys
        os.umask(0o022)
        sys.path.insert(0, os.getcwd())
        from app import create_app
        create_app({"SECRET_KEY": sys.argv[1], "CONTENT_DIR": sys.argv[2]})
        print("{}")
    """))
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for path in instance.iterdir():
        if path.name.startswith("clinic.sqlite3"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert os.access(database, os.R_OK)
