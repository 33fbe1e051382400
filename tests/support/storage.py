"""Reading a test app's database directly, as staff tools never do: what a request really stored.

`stored`, `value` and `execute` open a connection of their own through the seam (clinic/db.py), so they read the SQLite
file or the PostgreSQL database the app uses; `rows` and `scalar` run SQL on a connection a test already holds.
Parameters are `:named`, as everywhere (sqlalchemy.text()).
"""
from sqlalchemy import text

from clinic.db import connect


def _target(app):
    """An app's database (its DATABASE_URL), or a SQLite path or URL as it is."""
    config = getattr(app, "config", None)
    if config is None:
        return str(app)
    return config.get("DATABASE_URL") or config["DATABASE"]


def stored(app, sql, **params):
    """Rows of `sql` on `app`'s database (or a path's or URL's), each as a dict."""
    return _on_own_connection(app, rows, sql, params)


def value(app, sql, **params):
    """The one value `sql` reads from `app`'s database."""
    return _on_own_connection(app, scalar, sql, params)


def execute(app, sql, **params):
    """Run one statement on `app`'s database (or a path's or URL's), committed at once; its row count."""
    return _on_own_connection(app, run, sql, params)


def _on_own_connection(app, how, sql, params):
    """`how` (rows, scalar or run) on a connection of its own to `app`'s database, closed afterwards."""
    conn = connect(_target(app))
    try:
        return how(conn, sql, **params)
    finally:
        conn.close()


def rows(conn, sql, **params):
    return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def scalar(conn, sql, **params):
    return conn.execute(text(sql), params).scalar()


def run(conn, sql, **params):
    """A statement that returns no rows (UPDATE, INSERT, DELETE); its row count."""
    return conn.execute(text(sql), params).rowcount
