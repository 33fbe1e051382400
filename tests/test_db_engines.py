"""clinic/db.py engine(): one engine (and pool) per database in a process, found again by what the caller passes
without parsing the URL each request; dispose() and a relative path's working directory are still followed."""
from sqlalchemy import text

from clinic import db


def test_one_engine_per_database_whatever_form_names_it(tmp_path):
    path = tmp_path / "clinic.sqlite3"
    url = f"sqlite:///{path}"
    first = db.engine(url)
    assert db.engine(url) is first and db.engine(str(path)) is first and db.engine(path) is first
    conn = db.connect(url)
    try:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        conn.close()
    db.dispose(url)


def test_after_dispose_the_next_connect_makes_a_new_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    first = db.engine(url)
    db.dispose(url)
    second = db.engine(url)
    assert second is not first and db.engine(url) is second
    db.dispose()
    assert db.engine(url) is not second
    db.dispose(url)


def test_a_relative_path_names_the_file_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    in_a = db.engine("clinic.sqlite3")
    monkeypatch.chdir(tmp_path / "b")
    in_b = db.engine("clinic.sqlite3")
    assert in_a is not in_b
    assert in_b.url.database == str(tmp_path / "b" / "clinic.sqlite3")
    db.dispose(tmp_path / "a" / "clinic.sqlite3")
    db.dispose(tmp_path / "b" / "clinic.sqlite3")
