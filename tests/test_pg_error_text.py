"""PostgreSQL errors carry no row data: libpq's full message for a CHECK, NOT NULL or UNIQUE violation has a
`DETAIL: Failing row contains (...)` / `Key (...)=(...)` line with what a patient wrote, and a 500 logs the error.
The seam (clinic/db.py) keeps only the primary message; the constraint's name stays readable for callers.
Real PostgreSQL: the session's throwaway cluster (tests/support/postgres.py)."""
import logging
import traceback

import pytest
from sqlalchemy import text

from clinic import db as clinic_db
from clinic.db import connect

PRIVATE = "my private pain story"
SUBMISSION = "submission-of-pat-7731"  # the UNIQUE key libpq would quote (constants: a traceback shows source lines)
INSERT = ("INSERT INTO requests (reference, submission_id, created_at, name, email, phone, contact_by, description) "
          "VALUES (:reference, :submission_id, 1, :name, :email, :phone, :contact_by, :description)")


def insert(url, contact_by="email", submission_id="sub-1", reference="FBS-0001"):
    conn = connect(url)
    try:
        conn.execute(text(INSERT), {"reference": reference, "submission_id": submission_id, "name": "Pat Example",
                                    "email": "pat@example.org", "phone": "555-0100", "contact_by": contact_by,
                                    "description": PRIVATE})
    finally:
        conn.close()


def everything_said(error, caplog):
    """str, repr, the whole chained traceback and what logging.exception records for `error`."""
    with caplog.at_level(logging.ERROR, logger="clinic.test"):
        try:
            raise error
        except Exception:
            logging.getLogger("clinic.test").exception("request failed")
    logged = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    chained = "".join(traceback.format_exception(error))
    original = error.orig
    return "\n".join([str(error), repr(error), str(original), repr(original), chained, logged])


def test_check_violation_text_has_no_row_data(migrated_pg, caplog):
    with pytest.raises(clinic_db.IntegrityError) as raised:
        insert(migrated_pg, contact_by="fax")
    said = everything_said(raised.value, caplog)
    assert "requests_contact_by_check" in said  # the error still says what broke
    assert PRIVATE not in said
    assert "pat@example.org" not in said
    assert "Failing row" not in said
    assert clinic_db.constraint_name(raised.value) == "requests_contact_by_check"


def test_unique_violation_text_has_no_key_value_and_is_still_recognised(migrated_pg, caplog):
    insert(migrated_pg, submission_id=SUBMISSION)
    with pytest.raises(clinic_db.IntegrityError) as raised:
        insert(migrated_pg, submission_id=SUBMISSION, reference="FBS-0002")
    said = everything_said(raised.value, caplog)
    assert "requests_submission_id_key" in said
    assert SUBMISSION not in said
    assert "Key (" not in said
    assert clinic_db.unique_violation(raised.value, "requests.submission_id")
