"""Reading a test app's SQLite file directly, as staff tools never do: what a request really stored."""
import sqlite3


def stored(app, sql, *args):
    """Rows of `sql` on `app`'s database, each as a dict."""
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, args)]
    finally:
        conn.close()
