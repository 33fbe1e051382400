"""The audit trail of staff actions: append-only rows of who, what, which reference and when (no health detail)."""
from sqlalchemy import text

ACTIONS = ("viewed", "status_changed", "note_added", "exported", "erased", "purged", "signed_in", "signed_out",
           # the second factor (issue 22 A): detail says which factor or how many codes are left, never a code
           "enrolled", "recovery_code_used", "recovery_codes_renewed", "passkey_added", "passkey_removed",
           "factors_reset", "other_sessions_ended")
COMMAND_LINE = "command line"
RETENTION = "automatic retention"


def record(conn, actor, action, now, reference=None, detail=None):
    """Append one row. `actor` is a StaffMember, None for the command line, or a label such as RETENTION.

    `detail` is a short machine phrase ("new -> contacted", "3 requests"), never anything a patient wrote.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(
        text("INSERT INTO audit_log (at, staff_id, staff_email, action, reference, detail)"
             " VALUES (:at, :staff_id, :staff_email, :action, :reference, :detail)"),
        {"at": int(now), "staff_id": getattr(actor, "id", None), "staff_email": label(actor), "action": action,
         "reference": reference, "detail": detail},
    )


def recent(conn, limit=200, before_id=None):
    """Newest first; `before_id` pages back through older rows."""
    if before_id is not None:
        return conn.execute(text("SELECT * FROM audit_log WHERE id < :before_id ORDER BY id DESC LIMIT :limit"),
                            {"before_id": before_id, "limit": limit}).mappings().all()
    return conn.execute(text("SELECT * FROM audit_log ORDER BY id DESC LIMIT :limit"), {"limit": limit}).mappings().all()


def label(actor):
    if actor is None:
        return COMMAND_LINE
    return actor if isinstance(actor, str) else actor.email
