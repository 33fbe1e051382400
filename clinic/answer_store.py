"""Answers of journeys in progress, stored server-side under a random id: answers never travel in a cookie.

(The journey itself, its steps and routing, is clinic/journey/.)
"""
import json
import secrets
import time

from sqlalchemy import text

from clinic import insights
from clinic.db import advisory_lock, row_lock, transaction

JOURNEY_ID_BYTES = 32  # 256 bits


class AnswerStore:
    def __init__(self, conn, clock=time.time):
        self.conn = conn
        self.clock = clock

    def create(self, seen=(), ceiling=None, per_seconds=3600):
        """A new journey (with the info steps read before its first answer); its id, or None when `ceiling`
        journeys were already made in the last `per_seconds` (counted and made in one write transaction)."""
        journey_id = secrets.token_urlsafe(JOURNEY_ID_BYTES)
        now = int(self.clock())
        with transaction(self.conn):
            if ceiling is not None:
                # PostgreSQL: two workers counting at once would both see room; the lock makes them take turns.
                advisory_lock(self.conn, "journeys.hourly_ceiling")
                made = self.conn.execute(text("SELECT COUNT(*) FROM journeys WHERE created_at > :since"),
                                         {"since": now - per_seconds}).scalar_one()
                if made >= ceiling:
                    return None
            self.conn.execute(
                text("INSERT INTO journeys (id, answers, seen, created_at, updated_at)"
                     " VALUES (:id, '{}', :seen, :now, :now)"),
                {"id": journey_id, "seen": json.dumps(sorted(seen)), "now": now},
            )
        return journey_id

    def load(self, journey_id, keep_days):
        """(answers, seen) for a live journey, or None if unknown or expired."""
        if not isinstance(journey_id, str) or not journey_id:
            return None
        row = self.conn.execute(
            text("SELECT answers, seen, updated_at FROM journeys WHERE id = :id"), {"id": journey_id}
        ).mappings().first()
        if row is None or row["updated_at"] < self.clock() - keep_days * 86400:
            return None
        return json.loads(row["answers"]), set(json.loads(row["seen"]))

    def save_answers(self, journey_id, new_answers, progress=None):
        """Store answers; `progress(answers, seen)` names the report milestones they reach, counted in the same
        transaction (each once per journey: `counted` remembers which)."""
        with transaction(self.conn):
            answers, seen, counted = self._load_for_update(journey_id)
            answers.update(new_answers)
            self._count(progress, answers, seen, counted)
            self._write(journey_id, answers, seen, counted)

    def mark_seen(self, journey_id, step_id, progress=None):
        with transaction(self.conn):
            answers, seen, counted = self._load_for_update(journey_id)
            seen.add(step_id)
            self._count(progress, answers, seen, counted)
            self._write(journey_id, answers, seen, counted)

    def count_once(self, journey_id, found):
        """Count report milestones that are not answers (a continue-later link made) once for this journey."""
        with transaction(self.conn):
            answers, seen, counted = self._load_for_update(journey_id)
            self._count(lambda *_: found, answers, seen, counted)
            self._write(journey_id, answers, seen, counted)

    def move(self, journey_id, keep_days):
        """Give a live journey a new random id (a continue-later link was confirmed); the new id, or None when the
        journey is gone. One UPDATE: of two browsers confirming the same link at once, exactly one gets it.
        The journey report counts the link as used in the same transaction."""
        new_id = secrets.token_urlsafe(JOURNEY_ID_BYTES)
        now = int(self.clock())
        with transaction(self.conn):
            cursor = self.conn.execute(
                text("UPDATE journeys SET id = :new_id, updated_at = :now WHERE id = :id AND updated_at >= :since"),
                {"new_id": new_id, "now": now, "id": journey_id, "since": now - keep_days * 86400},
            )
            if cursor.rowcount != 1:
                return None
            insights.record(self.conn, [insights.event("link_used")], None, now)
        return new_id

    def delete(self, journey_id, counting=()):
        """Delete a journey; `counting` names report events (a "start again") counted in the same transaction."""
        with transaction(self.conn):
            if self.conn.execute(text("DELETE FROM journeys WHERE id = :id"), {"id": journey_id}).rowcount:
                insights.record(self.conn, [insights.event(name) for name in counting], None, self.clock())

    def purge_expired(self, keep_days):
        cursor = self.conn.execute(
            text("DELETE FROM journeys WHERE updated_at < :before"), {"before": int(self.clock() - keep_days * 86400)}
        )
        return cursor.rowcount

    def _load_for_update(self, journey_id):
        # PostgreSQL: the row is locked until the transaction ends, so two answers posted at once (two tabs, a
        # double tap) are merged one after the other instead of the second overwriting the first.
        locked = "SELECT answers, seen, counted FROM journeys WHERE id = :id" + row_lock(self.conn)  # noqa: S608  # nosec B608 - fixed text
        row = self.conn.execute(text(locked),
                                {"id": journey_id}).mappings().first()
        if row is None:
            raise KeyError("journey not found")
        return json.loads(row["answers"]), set(json.loads(row["seen"])), set(json.loads(row["counted"]))

    def _count(self, progress, answers, seen, counted):
        if progress is not None:
            insights.record(self.conn, progress(answers, seen), counted, self.clock())

    def _write(self, journey_id, answers, seen, counted):
        self.conn.execute(
            text("UPDATE journeys SET answers = :answers, seen = :seen, counted = :counted, updated_at = :now"
                 " WHERE id = :id"),
            {"answers": json.dumps(answers, sort_keys=True), "seen": json.dumps(sorted(seen)),
             "counted": json.dumps(sorted(counted)), "now": int(self.clock()), "id": journey_id},
        )
