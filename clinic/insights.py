"""The journey report's counters: per ISO week, how many journeys reached each step and moved on, and a few totals.

Private by construction. A counter row is a week, a name (a step, an event, or one question and one of its
answers) and a count: no journey id, no address, no combination of answers, no time finer than the ISO week.
So that a reload or a changed answer never counts twice, a journey's own row remembers which milestones it
has already counted (`journeys.counted`), and that memory is deleted with the journey.
"""
import csv
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from clinic.db import transaction

SMALL = 5  # counts from 1 to SMALL - 1 are shown as "fewer than 5", everywhere (is_small; the Flask layer words it)
KEEP_WEEKS = 104  # two years, then housekeeping removes them
PERIODS = (4, 12, 52)  # weeks the report offers
DEFAULT_PERIOD = 12  # when none of PERIODS is asked for

# Events counted per week, by name: these names are stored and are the report's message ids; blueprints/insights.py
# words them. Stop pages are counted as "stop:<step id>", one name per warning-sign page (stop_step reads it).
EVENTS = ("started", "summary", "request_sent", "restarted", "link_made", "link_used")
STOP_PREFIX = "stop:"


def stop_step(name):
    """The stop page's step id an event name counts ("stop:urgent" -> "urgent"), or None for other events."""
    return name[len(STOP_PREFIX):] if name.startswith(STOP_PREFIX) else None


# --- weeks -------------------------------------------------------------------------------------------------
def week_of(seconds):
    """ISO week of a Unix time in UTC, as "2026-W48"."""
    year, week, _ = datetime.fromtimestamp(int(seconds), UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_back(now, count):
    """The `count` ISO weeks ending with now's week, oldest first."""
    today = datetime.fromtimestamp(int(now), UTC)
    monday = today - timedelta(days=today.weekday())
    return [week_of((monday - timedelta(weeks=back)).timestamp()) for back in range(count - 1, -1, -1)]


def week_start(week):
    """Monday of an ISO week, for labels ("Nov 23")."""
    return datetime.strptime(week + "-1", "%G-W%V-%u").replace(tzinfo=UTC)


# --- what a journey's progress counts ----------------------------------------------------------------------
@dataclass(frozen=True)
class Milestone:
    kind: str  # "reached" | "moved_on" | "event" | "answer"
    name: str  # a step id, an event name or a question id
    value: str = ""  # the answer, for kind "answer"

    @property
    def once_key(self):
        """What the journey remembers: an answer counts once per question, whatever it is changed to later."""
        return f"{self.kind}:{self.name}"


def milestones(journey, answers, seen):
    """What a journey with these answers has reached so far: every step on its path, and what it moved on from.

    Derived from the path the content's own routing gives, so it holds for any content and any order of
    answering (a changed answer that opens a new branch counts the new steps once).
    """
    path = journey.path(answers, seen)
    found = [Milestone("event", "started")]
    for index, step_id in enumerate(path):
        found.append(Milestone("reached", step_id))
        if index < len(path) - 1 or journey.is_complete(journey.steps[step_id], answers, seen):
            found.append(Milestone("moved_on", step_id))
    last = journey.steps[path[-1]]
    if last.kind == "summary":
        found.append(Milestone("event", "summary"))
    elif last.kind == "stop":
        found.append(Milestone("event", STOP_PREFIX + last.id))
    for question_id in journey.report_questions:
        value = answers.get(question_id)
        if isinstance(value, str):
            found.append(Milestone("answer", question_id, value))
    return found


def event(name):
    return Milestone("event", name)


def record(conn, found, counted, now):
    """Add one to each counter in `found` that `counted` (a journey's set, updated in place) has not seen.

    `counted=None` counts every milestone (events with no journey behind them, such as a request).
    Call it inside the transaction that writes the journey or the request, so both commit together.
    """
    week = week_of(now)
    for milestone in found:
        if counted is not None:
            if milestone.once_key in counted:
                continue
            counted.add(milestone.once_key)
        if milestone.kind in ("reached", "moved_on"):
            conn.execute(text(
                f"INSERT INTO insight_steps (week, step, {milestone.kind}) VALUES (:week, :step, 1) "  # noqa: S608  # nosec B608 - kind is one of two column names
                f"ON CONFLICT (week, step) DO UPDATE SET {milestone.kind} = insight_steps.{milestone.kind} + 1"),
                {"week": week, "step": milestone.name},
            )
        elif milestone.kind == "event":
            conn.execute(text(
                "INSERT INTO insight_events (week, event, count) VALUES (:week, :event, 1) "
                "ON CONFLICT (week, event) DO UPDATE SET count = insight_events.count + 1"),
                {"week": week, "event": milestone.name},
            )
        elif milestone.kind == "answer":
            conn.execute(text(
                "INSERT INTO insight_answers (week, question, answer, count) VALUES (:week, :question, :answer, 1) "
                "ON CONFLICT (week, question, answer) DO UPDATE SET count = insight_answers.count + 1"),
                {"week": week, "question": milestone.name, "answer": milestone.value},
            )
        else:
            raise ValueError(f"unknown milestone kind {milestone.kind!r}")


def purge_old(conn, now, keep_weeks=KEEP_WEEKS):
    """Delete counters older than `keep_weeks` (housekeeping). Returns the number of rows removed."""
    oldest = weeks_back(now, keep_weeks)[0]
    removed = 0
    for table in ("insight_steps", "insight_events", "insight_answers"):
        removed += conn.execute(text(f"DELETE FROM {table} WHERE week < :oldest"),  # noqa: S608  # nosec B608 - fixed names
                                {"oldest": oldest}).rowcount
    return removed


# --- the report ----------------------------------------------------------------------------------------------
def is_small(count):
    """True for a count staff may not see as it is: 1 to SMALL - 1 (0 stays 0: nobody is in it)."""
    return 0 < count < SMALL


def funnel_order(journey):
    """Steps in the order a person meets them: depth first from the first step, following rules in order."""
    order = []

    def visit(step_id):
        if step_id not in journey.steps or step_id in order:
            return
        order.append(step_id)
        for rule in journey.steps[step_id].rules:
            visit(rule.goto)

    visit(journey.first_step)
    return order


@dataclass(frozen=True)
class FunnelRow:
    step_id: str
    title: str
    kind: str
    reached: int
    moved_on: int

    @property
    def stopped(self):
        return max(self.reached - self.moved_on, 0)


@dataclass(frozen=True)
class Report:
    weeks: list  # the period's ISO weeks, oldest first
    funnel: list  # FunnelRow per step, in journey order
    weekly: list  # (week, {event: count}) oldest first
    events: list  # event names in the order shown
    answers: list  # (question label, [(answer label, count)]) over the period

    @property
    def first_week(self):
        return self.weeks[0]

    @property
    def last_week(self):
        return self.weeks[-1]

    def total(self, event_name):
        return sum(counts.get(event_name, 0) for _, counts in self.weekly)


def period_weeks(asked):
    """How many weeks the report covers when `asked` (None, or any number a URL can carry) is asked for."""
    return asked if asked in PERIODS else DEFAULT_PERIOD


def build_report(conn, journey, now, weeks=DEFAULT_PERIOD):
    period = weeks_back(now, weeks)
    first, last = period[0], period[-1]
    step_rows = {
        row["step"]: (row["reached"], row["moved_on"])
        for row in conn.execute(text(
            "SELECT step, SUM(reached) AS reached, SUM(moved_on) AS moved_on FROM insight_steps "
            "WHERE week BETWEEN :first AND :last GROUP BY step"), {"first": first, "last": last}).mappings()
    }
    funnel = []
    for step_id in funnel_order(journey):
        step = journey.steps[step_id]
        reached, moved_on = step_rows.get(step_id, (0, 0))
        funnel.append(FunnelRow(step_id, step.title, step.kind, reached, moved_on if step.kind != "stop" else 0))

    per_week = {week: {} for week in period}
    for row in conn.execute(text("SELECT week, event, count FROM insight_events WHERE week BETWEEN :first AND :last"),
                            {"first": first, "last": last}).mappings():
        per_week[row["week"]][row["event"]] = row["count"]
    stop_events = [STOP_PREFIX + step_id for step_id in funnel_order(journey) if journey.steps[step_id].kind == "stop"]
    events = list(EVENTS) + stop_events

    answers = []
    for question_id in journey.report_questions:
        question = journey.question(question_id)
        counts = {
            row["answer"]: row["count"]
            for row in conn.execute(text(
                "SELECT answer, SUM(count) AS count FROM insight_answers WHERE question = :question"
                " AND week BETWEEN :first AND :last GROUP BY answer"),
                {"question": question_id, "first": first, "last": last}).mappings()
        }
        answers.append((question.summary_label or question.label,
                        [(option.label, counts.get(option.value, 0)) for option in question.options]))
    return Report(period, funnel, [(week, per_week[week]) for week in period], events, answers)


def report_csv(report, *, event_label, shown):
    """The report as CSV text. `event_label(name)` words an event and `shown(count)` a count (small counts
    never as they are): both come from the Flask layer. `section` and `name` are ids, for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "week_or_period", "name", "detail", "count"])
    period = f"{report.first_week} to {report.last_week}"
    for row in report.funnel:
        writer.writerow(["step reached", period, row.step_id, row.title, shown(row.reached)])
        if row.kind != "stop":
            writer.writerow(["step moved on from", period, row.step_id, row.title, shown(row.moved_on)])
    for week, counts in report.weekly:
        for name in report.events:
            writer.writerow(["weekly total", week, name, event_label(name), shown(counts.get(name, 0))])
    for question_label, counts in report.answers:
        for answer_label, count in counts:
            writer.writerow(["answers", period, question_label, answer_label, shown(count)])
    return out.getvalue()


# --- drawing (geometry only; the SVG markup is in templates/staff/_insights.html) -------------------------------
@dataclass(frozen=True)
class Bar:
    label: str
    value: int  # the count; `small` says it must be shown as "fewer than 5"
    x: float
    y: float
    width: float
    height: float
    small: bool


def funnel_bars(report, width=300, row_height=28, label_width=0):
    """Horizontal bars, one per step, scaled to the largest count. A small count is drawn as the
    width of SMALL and hatched, so the picture never shows more than the table says."""
    top = max([row.reached for row in report.funnel] + [SMALL])
    bars = []
    for index, row in enumerate(report.funnel):
        drawn = SMALL if is_small(row.reached) else row.reached
        bars.append(Bar(row.title, row.reached, label_width, index * row_height,
                        round((width - label_width) * drawn / top, 1), row_height - 8, is_small(row.reached)))
    return bars


def weekly_bars(report, event_name="started", width=300, height=120):
    """Vertical bars, one per week, of one weekly total."""
    values = [counts.get(event_name, 0) for _, counts in report.weekly]
    top = max(values + [SMALL])
    step = width / max(len(values), 1)
    bars = []
    for index, ((week, _), value) in enumerate(zip(report.weekly, values, strict=True)):
        drawn = SMALL if is_small(value) else value
        bar_height = round(height * drawn / top, 1)
        bars.append(Bar(week, value, round(index * step + step * 0.15, 1), round(height - bar_height, 1),
                        round(step * 0.7, 1), bar_height, is_small(value)))
    return bars


# --- demonstration figures ------------------------------------------------------------------------------------
def fill_demo(conn, journey, weeks, clock, rng):
    """Walk made-up journeys through the real content for `weeks` weeks (for screenshots): returns how many.

    Each journey answers at random, mostly "none of these" to multiple-choice screens (most people have no
    warning sign), and may leave at any step; about a third of those who reach the summary send a request.
    """
    now = (clock or time.time)()
    made = 0
    with transaction(conn):
        for back, week in enumerate(reversed(weeks_back(now, weeks))):
            when = week_start(week).timestamp() + 3 * 86400 if back else now
            for _ in range(rng.randint(25, 70)):
                made += 1
                answers, seen, counted = {}, set(), set()
                for _ in range(len(journey.steps) + 1):  # every step at most once
                    path = journey.path(answers, seen)
                    record(conn, milestones(journey, answers, seen), counted, when)
                    step = journey.steps[path[-1]]
                    if step.kind in ("stop", "summary") or rng.random() < 0.07:
                        break
                    if step.kind == "info":
                        seen.add(step.id)
                    wants_stop = rng.random() < 0.06  # most people have no warning sign
                    for _ in range(30):
                        given = {q.id: _random_answer(q, rng) for q in step.questions}
                        leads_to = journey.steps.get(journey.next_step(step, {**answers, **given}))
                        if (leads_to is not None and leads_to.kind == "stop") == wants_stop:
                            break
                    answers.update(given)
                if journey.steps[path[-1]].kind == "summary" and rng.random() < 0.35:
                    record(conn, [event("request_sent")], None, when)
                for name, chance in (("restarted", 0.05), ("link_made", 0.1), ("link_used", 0.05)):
                    if rng.random() < chance:
                        record(conn, [event(name)], None, when)
    return made


def _random_answer(question, rng):
    values = [option.value for option in question.options]
    if not values:
        return ""  # a typed answer (type `text`): left empty
    return [rng.choice(values)] if question.type == "multiple" else rng.choice(values)
