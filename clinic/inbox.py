"""The staff inbox over second-opinion requests: list, detail, status, notes, CSV export, erasure and retention.

Every function that acts on a request writes its audit row in the same transaction as the change.
"""
import csv
import io
import logging
from datetime import UTC, datetime

from sqlalchemy import text

from clinic import audit, callback, local_time, request_answers, triage
from clinic.db import DatabaseBusy, in_transaction, is_sqlite, row_lock, transaction

STATUSES = ("new", "contacted", "closed", "spam")
NOTE_MAX_LENGTH = 2000
# Spreadsheets treat a cell starting with one of these as a formula (tab and CR hide one behind whitespace).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# journey_answers and warning_signs are labels (rendered from the stored ids with the loaded content, or the text
# a request saved before ids stored); answer_ids, warning_sign_ids, content_version and language are what is stored.
CSV_COLUMNS = ("reference", "received", "received_utc", "status", "flagged", "warning_signs", "flag_words",
               "spam_reason", "name", "email", "phone", "contact_by", "call_times", "voicemail", "language",
               "interpreter", "preferred_language", "description", "journey_answers", "notes", "consent_version", "consent_utc",
               "answer_ids", "warning_sign_ids", "content_version", "answers_language")
DAY = 86400
log = logging.getLogger(__name__)


def list_requests(conn, status):
    """Requests with `status`, flagged ones first, then newest first (only what the list shows: no description
    or answers, and no reason for a flag)."""
    return conn.execute(text(
        "SELECT reference, created_at, status, spam_reason, name, contact_by, flagged, past_ceiling, language, "
        "language_other, interpreter, answers_language FROM requests "
        "WHERE status = :status ORDER BY flagged DESC, created_at DESC, id DESC"),
        {"status": status},
    ).mappings().all()


def counts(conn):
    """{status: number of requests} for every status, zeros included."""
    found = dict(conn.execute(text("SELECT status, COUNT(*) AS n FROM requests GROUP BY status")).all())
    return {status: found.get(status, 0) for status in STATUSES}


def flagged_counts(conn):
    """{status: number of flagged requests} for every status, zeros included."""
    found = dict(conn.execute(text("SELECT status, COUNT(*) AS n FROM requests WHERE flagged = 1 GROUP BY status")).all())
    return {status: found.get(status, 0) for status in STATUSES}


def failed_notifications(conn):
    """How many emails the outbox gave up on: staff must know a request may have gone unnoticed."""
    return conn.execute(text("SELECT COUNT(*) FROM outbox WHERE status = 'failed'")).scalar_one()


def get_request(conn, reference, journey=None):
    """Everything the patient sent and the staff notes; None if unknown. `guide` is the journey answers and
    warning signs labelled from `journey`, the loaded content (clinic/request_answers.RequestAnswers);
    `answers` and `warning_signs` are its rows and signs."""
    row = conn.execute(text("SELECT * FROM requests WHERE reference = :reference"),
                       {"reference": reference}).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["guide"] = request_answers.read(journey, row)
    found["answers"] = found["guide"].rows
    found["warning_signs"] = found["guide"].signs
    found["flag_words"] = triage.read_words(row["flag_words"])
    found["call_times"] = callback.read_call_times(row["call_times"])
    found["files"] = conn.execute(text("SELECT position, kind, size FROM request_files WHERE request_id = :id"
                                       " ORDER BY position"), {"id": row["id"]}).mappings().all()
    consent = conn.execute(text("SELECT text FROM consent_texts WHERE version = :version"),
                           {"version": row["consent_version"]}).mappings().first()
    found["consent_text"] = consent["text"] if consent else None
    found["flag_concepts"] = triage.read_concepts(row["flag_words"])  # a concept may have a banner of its own
    found["notes"] = conn.execute(text(
        "SELECT staff_email, body, created_at FROM request_notes WHERE request_id = :id ORDER BY created_at, id"),
        {"id": row["id"]},
    ).mappings().all()
    found["notifications"] = conn.execute(text(
        "SELECT kind, status, attempts, sent_at, last_error FROM outbox WHERE request_id = :id ORDER BY id"),
        {"id": row["id"]},
    ).mappings().all()
    return found


def request_file(conn, reference, position):
    """The stored name and kind of one attached file, or None."""
    return conn.execute(text(
        "SELECT f.stored_name, f.kind, f.size FROM request_files f JOIN requests r ON r.id = f.request_id"
        " WHERE r.reference = :reference AND f.position = :position"),
        {"reference": reference, "position": position}).mappings().first()


def record_view(conn, actor, reference, now):
    audit.record(conn, actor, "viewed", now, reference=reference)


def change_status(conn, actor, reference, status, now):
    """Set the status; False if the request does not exist. An unchanged status writes nothing."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    with transaction(conn):
        row = conn.execute(text("SELECT status FROM requests WHERE reference = :reference" + row_lock(conn)),  # noqa: S608  # nosec B608
                           {"reference": reference}).mappings().first()
        if row is None:
            return False
        if row["status"] != status:
            conn.execute(text("UPDATE requests SET status = :status WHERE reference = :reference"),
                         {"status": status, "reference": reference})
            audit.record(conn, actor, "status_changed", now, reference=reference, detail=f"{row['status']} -> {status}")
    return True


def add_note(conn, actor, reference, body, now):
    """Add an internal note; False if the request does not exist."""
    body = (body or "").strip()
    if not body or len(body) > NOTE_MAX_LENGTH:
        raise ValueError(f"a note needs 1 to {NOTE_MAX_LENGTH} characters")
    with transaction(conn):
        row = conn.execute(text("SELECT id FROM requests WHERE reference = :reference"),
                           {"reference": reference}).mappings().first()
        if row is None:
            return False
        conn.execute(text("INSERT INTO request_notes (request_id, staff_id, staff_email, body, created_at)"
                          " VALUES (:request_id, :staff_id, :staff_email, :body, :now)"),
                     {"request_id": row["id"], "staff_id": getattr(actor, "id", None), "staff_email": audit.label(actor),
                      "body": body, "now": int(now)})
        audit.record(conn, actor, "note_added", now, reference=reference)
    return True


def neutralise(value):
    """A CSV cell a spreadsheet will show as text, never run as a formula."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export_csv(reader, writer, actor, now, *, zone, journey=None, empty_answer=None, status=None, chunk_chars=64 * 1024):
    """Every request (or those with `status`), oldest first, formulas neutralised, as CSV text in chunks.

    Answers and signs are labelled from `journey` (the loaded content); `empty_answer` ({question type: words})
    stands for an answer with nothing in it (a skipped single choice, tick boxes left empty).

    Returns (count, chunks). `reader` is a connection of its own that this export takes over: the rows come
    from one read snapshot on it (WAL: no write lock, so patients' posts go on meanwhile), one at a time, and
    `chunks` closes it at the end. The "exported" audit row is committed on `writer` before any row is sent.
    `received` is in the clinic's time `zone` with its abbreviation; `received_utc` is the stored moment.
    """
    status = status if status in STATUSES else None
    try:
        # SQLite: deferred, the first read below fixes the snapshot. PostgreSQL: one snapshot for the whole export.
        reader.exec_driver_sql("BEGIN" if is_sqlite(reader) else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if not is_sqlite(reader):
            # The snapshot sits idle in its transaction between chunks for as long as the download (or a pipe to
            # `less`) takes: the site role's idle_in_transaction_session_timeout (deploy/postgresql-roles.sql) must
            # not cut it. It is read-only, so it holds no row locks for that timeout to free.
            reader.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
        count = reader.execute(text("SELECT COUNT(*) FROM requests WHERE CAST(:status AS TEXT) IS NULL"
                                    " OR status = :status"), {"status": status}).scalar_one()
        with transaction(writer):
            audit.record(writer, actor, "exported", now, detail=f"{count} requests" + (f" ({status})" if status else ""))
    except BaseException:
        reader.close()
        raise
    return count, _csv_chunks(reader, zone, status, chunk_chars, journey, empty_answer or {})


def _utc(seconds):
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M") if seconds is not None else ""


def _csv_chunks(reader, zone, status, chunk_chars, journey, empty_answer):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    try:
        # stream_results: a server-side cursor on PostgreSQL, so 30,000 rows never sit in memory at once
        rows = reader.execution_options(stream_results=True, yield_per=200).execute(text(
            "SELECT * FROM requests WHERE CAST(:status AS TEXT) IS NULL OR status = :status ORDER BY created_at, id"),
            {"status": status}).mappings()
        for row in rows:
            notes = reader.execute(text("SELECT staff_email, body FROM request_notes WHERE request_id = :id"
                                        " ORDER BY created_at, id"), {"id": row["id"]}).mappings().all()
            guide = request_answers.read(journey, row)
            writer.writerow([neutralise(cell) for cell in (
                row["reference"],
                local_time.csv_time(row["created_at"], zone),
                _utc(row["created_at"]),
                row["status"],
                "yes" if row["flagged"] else "no",
                "; ".join(sign.label for sign in guide.signs),
                ", ".join(triage.read_words(row["flag_words"])),
                row["spam_reason"],
                row["name"],
                row["email"],
                row["phone"],
                row["contact_by"],
                "; ".join(callback.call_times_for_staff(callback.read_call_times(row["call_times"]), zone.key)),
                row["voicemail"],
                callback.language_words(row["language"], row["language_other"]),
                "yes" if row["interpreter"] else "no",
                callback.preferred_language(row["language"], row["language_other"], row["interpreter"],
                                            row["answers_language"]),
                row["description"],
                "\n".join(f"{answer.question}: {answer.text or empty_answer.get(answer.kind, '')}" for answer in guide.rows),
                "\n".join(f"{n['staff_email']}: {n['body']}" for n in notes),
                row["consent_version"],
                _utc(row["consent_at"]),
                "\n".join(f"{question_id}: {', '.join(values)}" for question_id, values in guide.values.items()),
                ", ".join(sign.id for sign in guide.signs if sign.id),
                row["content_version"],
                row["answers_language"],
            )])
            if out.tell() >= chunk_chars:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()
    finally:
        reader.close()  # ends the read transaction too


def _delete_requests(conn, ids):
    """Delete the rows; returns the stored names of their files, for the caller to delete once this commits."""
    stored = []
    for request_id in ids:
        stored += conn.execute(text("SELECT stored_name FROM request_files WHERE request_id = :id"),
                               {"id": request_id}).scalars().all()
        for table, column in (("request_files", "request_id"), ("request_notes", "request_id"),
                              ("outbox", "request_id"), ("requests", "id")):
            conn.execute(text(f"DELETE FROM {table} WHERE {column} = :id"), {"id": request_id})  # noqa: S608  # nosec B608 - fixed names
    return stored


def _delete_files(files, names):
    # After the commit, so a rolled-back erase keeps its files; the rows went first, so nothing points at a
    # deleted file. A crash in between leaves files no row names, which no page can reach.
    if files is not None and names:
        files.delete(names)


# The tables an erasure or purge deletes rows from (_delete_requests): VACUUMed afterwards on PostgreSQL.
ERASED_TABLES = ("request_files", "request_notes", "outbox", "requests")


def _flush_wal(conn):
    # secure_delete (set in clinic/db.py) zeroes the rows in the database pages; the older copies of those
    # pages still sit in the -wal file until a checkpoint copies them back and TRUNCATE empties it.
    # PostgreSQL keeps dead row versions in the table and index pages until VACUUM (README, "Erasure on
    # PostgreSQL"), and its WAL until recycled.
    if not is_sqlite(conn):
        return _vacuum(conn)
    busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        # Another connection kept reading past the busy timeout; the next erase or purge empties it.
        log.warning("Erased rows are out of the database pages, but the -wal file could not be emptied yet")
    return not busy


_VACUUMABLE = ("SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relname = ANY(:tables) "
               "AND c.relnamespace = current_schema()::regnamespace AND (pg_has_role(current_user, c.relowner, 'USAGE') "
               "OR pg_has_role(current_user, (SELECT datdba FROM pg_catalog.pg_database "
               "WHERE datname = current_database()), 'USAGE')")
_VACUUMABLE_17 = _VACUUMABLE + " OR has_table_privilege(c.oid, 'MAINTAIN'))"  # MAINTAIN: PostgreSQL 17 on
_VACUUMABLE += ")"


def vacuumable(conn, tables=ERASED_TABLES):
    """Which of `tables` this connection's role may VACUUM: their owner (or a member of it), the database's
    owner, a superuser, or from PostgreSQL 17 on a role granted MAINTAIN (deploy/postgresql-roles.sql)."""
    maintain = conn.exec_driver_sql("SELECT current_setting('server_version_num')::int >= 170000").scalar()
    found = conn.execute(text(_VACUUMABLE_17 if maintain else _VACUUMABLE), {"tables": list(tables)}).scalars().all()
    return [table for table in tables if table in found]


def _vacuum(conn):
    """PostgreSQL, after an erasure commits: VACUUM the tables it deleted from, so the deleted row versions leave
    the table and index pages (their space marked free for new rows) instead of waiting for autovacuum.
    VACUUM cannot run inside a transaction: the pooled connection is in autocommit here. True when done."""
    if in_transaction(conn):
        raise RuntimeError("VACUUM runs after the erasure's transaction, never inside one")
    allowed = vacuumable(conn)
    try:
        if allowed:
            conn.exec_driver_sql("VACUUM " + ", ".join(allowed))
    except DatabaseBusy as error:
        log.warning("Erased rows are gone from every query, but VACUUM could not run yet (%s); autovacuum or the "
                    "next erase or purge removes their old versions", error)
        return False
    skipped = [table for table in ERASED_TABLES if table not in allowed]
    if skipped:
        log.warning("Erased rows are gone from every query, but this database role may not VACUUM %s: their old "
                    "versions stay in the table pages until autovacuum or the database server's nightly "
                    "fbss-db-vacuum.timer (README, \"Erasure on PostgreSQL\")", ", ".join(skipped))
        return False
    return True


def erase(conn, actor, reference, now, files=None):
    """Remove a request, its notes, outbox rows and attached files (`files`: a clinic.uploads.FileStore); False
    if unknown."""
    with transaction(conn):
        row = conn.execute(text("SELECT id FROM requests WHERE reference = :reference"),
                           {"reference": reference}).mappings().first()
        if row is None:
            return False
        names = _delete_requests(conn, [row["id"]])
        audit.record(conn, actor, "erased", now, reference=reference)
    _delete_files(files, names)
    _flush_wal(conn)
    return True


def purge(conn, actor, older_than_days, now, files=None):
    """Erase every request received more than `older_than_days` days ago, with their files; returns how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    cutoff = int(now) - int(older_than_days) * DAY
    with transaction(conn):
        ids = conn.execute(text("SELECT id FROM requests WHERE created_at < :cutoff"), {"cutoff": cutoff}).scalars().all()
        names = _delete_requests(conn, ids)
        if ids:
            audit.record(conn, actor, "purged", now, detail=f"{len(ids)} requests older than {int(older_than_days)} days")
    _delete_files(files, names)
    if ids:
        _flush_wal(conn)
    return len(ids)
