"""Reading a test app's database directly, as staff tools never do: what a request really stored.

`stored` and `value` open a connection of their own through the seam (clinic/db.py), so they read the SQLite
file or the PostgreSQL database the app uses; `rows` and `scalar` run SQL on a connection a test already holds.
Parameters are `:named`, as everywhere (sqlalchemy.text()).
"""
from sqlalchemy import text

from clinic.db import connect


def _target(app):
    return app.config.get("DATABASE_URL") or app.config["DATABASE"]


def stored(app, sql, **params):
    """Rows of `sql` on `app`'s database, each as a dict."""
    conn = connect(_target(app))
    try:
        return rows(conn, sql, **params)
    finally:
        conn.close()


def value(app, sql, **params):
    """The one value `sql` reads from `app`'s database."""
    conn = connect(_target(app))
    try:
        return scalar(conn, sql, **params)
    finally:
        conn.close()


def rows(conn, sql, **params):
    return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def scalar(conn, sql, **params):
    return conn.execute(text(sql), params).scalar()


def run(conn, sql, **params):
    """A statement that returns no rows (UPDATE, INSERT, DELETE); its row count."""
    return conn.execute(text(sql), params).rowcount
