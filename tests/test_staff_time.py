"""Staff see every time in the clinic's time zone (FLASK_CLINIC_TIMEZONE), and staff pages have their own header."""
import csv
import io
import re
from datetime import UTC, datetime

import pytest

from clinic import local_time
from clinic.production import ConfigError
from tests.conftest import content_dir
from tests.support.staff import FAST_ARGON2, Clock, add_request, create_staff, db, sign_in
from tests.support.storage import scalar

pytestmark = pytest.mark.both_databases

# Two moments, 18:00 UTC in mid-January and mid-July 2026: New York (the default: the clinic is in Fort Myers,
# Florida) is UTC-5 (EST) then UTC-4 (EDT); Chicago UTC-6 (CST) then UTC-5 (CDT); Sydney, whose summer is our
# winter, is UTC+11 (AEDT) then UTC+10 (AEST), already on the next day.
JANUARY = int(datetime(2026, 1, 15, 18, 0, tzinfo=UTC).timestamp())
JULY = int(datetime(2026, 7, 15, 18, 0, tzinfo=UTC).timestamp())
EXPECTED = {
    "America/New_York": {
        JANUARY: ("January 15, 2026, 1:00 PM EST", "2026-01-15 13:00 EST"),
        JULY: ("July 15, 2026, 2:00 PM EDT", "2026-07-15 14:00 EDT"),
    },
    "America/Chicago": {
        JANUARY: ("January 15, 2026, 12:00 PM CST", "2026-01-15 12:00 CST"),
        JULY: ("July 15, 2026, 1:00 PM CDT", "2026-07-15 13:00 CDT"),
    },
    "Australia/Sydney": {
        JANUARY: ("January 16, 2026, 5:00 AM AEDT", "2026-01-16 05:00 AEDT"),
        JULY: ("July 16, 2026, 4:00 AM AEST", "2026-07-16 04:00 AEST"),
    },
}


@pytest.mark.parametrize("zone_name", EXPECTED)
def test_staff_time_has_the_zones_offset_and_abbreviation_in_winter_and_summer(zone_name):
    zone = local_time.load_zone(zone_name)
    for seconds, (shown, in_csv) in EXPECTED[zone_name].items():
        assert local_time.staff_time(seconds, zone) == shown
        assert local_time.csv_time(seconds, zone) == in_csv
    offsets = {s: local_time.local(s, zone).utcoffset().total_seconds() / 3600 for s in (JANUARY, JULY)}
    assert offsets == {"America/New_York": {JANUARY: -5, JULY: -4}, "America/Chicago": {JANUARY: -6, JULY: -5},
                       "Australia/Sydney": {JANUARY: 11, JULY: 10}}[zone_name]


def test_the_default_zone_is_the_clinics_own_eastern_time():
    assert local_time.DEFAULT_ZONE == "America/New_York"


def test_staff_times_read_est_in_winter_and_edt_in_summer_by_default(make_app, monkeypatch):
    monkeypatch.delenv("FLASK_CLINIC_TIMEZONE", raising=False)
    app, client = staff_client(make_app, Clock())
    add_request(app, created_at=JANUARY, name="Winter Patient")
    add_request(app, created_at=JULY, name="Summer Patient")
    page = client.get("/staff").get_data(as_text=True)
    assert ">January 15, 2026, 1:00 PM EST</time>" in page and ">July 15, 2026, 2:00 PM EDT</time>" in page
    assert "Times are in the clinic's time zone (America/New_York)" in page


def test_midnight_and_noon_read_12_am_and_12_pm_and_a_zone_without_letters_reads_utc_plus():
    new_york = local_time.load_zone("America/New_York")
    midnight = int(datetime(2026, 3, 1, 5, 0, tzinfo=UTC).timestamp())
    assert local_time.staff_time(midnight, new_york) == "March 1, 2026, 12:00 AM EST"
    assert local_time.staff_time(midnight + 12 * 3600, new_york) == "March 1, 2026, 12:00 PM EST"
    # Istanbul's zone data has no letter abbreviation, only "+03".
    assert local_time.staff_time(JANUARY, local_time.load_zone("Europe/Istanbul")) == "January 15, 2026, 9:00 PM UTC+03"
    assert local_time.staff_time(JANUARY, local_time.load_zone("UTC")) == "January 15, 2026, 6:00 PM UTC"


@pytest.mark.parametrize("name", ["", "  ", "Mars/Olympus_Mons", "America/Chicag", "../../etc/passwd", "/etc/localtime", None])
def test_a_name_that_is_not_an_iana_zone_is_refused_with_what_to_set(name):
    with pytest.raises(ValueError, match="FLASK_CLINIC_TIMEZONE .*America/New_York"):
        local_time.load_zone(name)


def test_the_app_refuses_to_start_with_an_unknown_zone_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_CLINIC_TIMEZONE", "Central Time")
    with pytest.raises(ConfigError, match="FLASK_CLINIC_TIMEZONE is 'Central Time'"):
        make_app()
    monkeypatch.setenv("FLASK_CLINIC_TIMEZONE", "Europe/London")
    assert make_app().extensions["clinic_zone"].key == "Europe/London"
    monkeypatch.delenv("FLASK_CLINIC_TIMEZONE")
    assert make_app().extensions["clinic_zone"].key == "America/New_York"


def staff_client(make_app, clock, **config):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, STAFF_ARGON2=FAST_ARGON2,
                   STAFF_CLOCK=clock, **config)
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    return app, client


@pytest.mark.parametrize("zone_name", EXPECTED)
def test_list_request_notes_audit_and_csv_show_january_and_july_in_the_clinics_zone(make_app, zone_name):
    clock = Clock()
    config = {} if zone_name == local_time.DEFAULT_ZONE else {"CLINIC_TIMEZONE": zone_name}
    app, client = staff_client(make_app, clock, **config)
    expected = EXPECTED[zone_name]
    january = add_request(app, created_at=JANUARY, name="January Patient")
    july = add_request(app, created_at=JULY, name="July Patient")

    page = client.get("/staff").get_data(as_text=True)
    for seconds, (shown, _) in expected.items():
        iso = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f'<time datetime="{iso}">{shown}</time>' in page
    assert "UTC" not in page.replace("UTC+", "")
    assert f"Times are in the clinic's time zone ({zone_name})" in page

    for reference, seconds in ((january, JANUARY), (july, JULY)):
        clock.now = seconds + 3600  # a note and a view an hour after the request came in
        assert client.post(f"/staff/requests/{reference}/notes", data={"body": "Called back"}).status_code == 303
        page = client.get(f"/staff/requests/{reference}").get_data(as_text=True)
        assert f"Received <time datetime=\"{local_time.iso_utc(seconds)}\">{expected[seconds][0]}</time>" in page
        note_time = local_time.staff_time(seconds + 3600, local_time.load_zone(zone_name))
        assert f">{note_time}</time>" in page

    audit_page = client.get("/staff/audit").get_data(as_text=True)
    for seconds in (JANUARY, JULY):
        assert f">{local_time.staff_time(seconds + 3600, local_time.load_zone(zone_name))}</time>" in audit_page

    response = client.post("/staff/export.csv")
    rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))}
    assert rows[january]["received"] == expected[JANUARY][1] and rows[july]["received"] == expected[JULY][1]
    assert rows[january]["received_utc"] == "2026-01-15 18:00"  # the stored moment, unchanged
    stamp = re.search(r'filename="requests-(\d{8}-\d{4})\.csv"', response.headers["Content-Disposition"]).group(1)
    assert stamp == local_time.local(clock.now, local_time.load_zone(zone_name)).strftime("%Y%m%d-%H%M")


def test_stored_times_stay_utc_seconds(make_app):
    app, _ = staff_client(make_app, Clock(), CLINIC_TIMEZONE="Australia/Sydney")
    reference = add_request(app, created_at=JANUARY)
    conn = db(app)
    assert scalar(conn, "SELECT created_at FROM requests WHERE reference = :reference", reference=reference) == JANUARY
    conn.close()


# --- the staff area's own header and footer ---------------------------------------------------------------
def test_staff_pages_say_clinic_inbox_with_the_clinic_name_and_drop_the_patient_title_and_disclaimer(make_app):
    app, client = staff_client(make_app, Clock())
    site = app.extensions["journey"]
    reference = add_request(app)
    anonymous = app.test_client()
    pages = {"/staff/sign-in": anonymous, "/staff": client, f"/staff/requests/{reference}": client,
             "/staff/audit": client, "/staff/requests/FBS-NOPE": client, "/staff/insights": client}
    for path, who in pages.items():
        page = who.get(path).get_data(as_text=True)
        header = re.search(r'<header class="site-header[^"]*">(.*?)</header>', page, re.S).group(1)
        assert "Clinic inbox" in header and site.clinic_name in header and site.title not in header, path
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        assert title.endswith(f"– Clinic inbox – {site.clinic_name}") and site.title not in title, path
        assert site.disclaimer not in page and site.title not in page, path
    partial = client.get("/staff?status=closed", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f"<title>Requests: Closed – Clinic inbox – {site.clinic_name}</title>" in partial


def test_patient_pages_keep_the_patient_title_and_disclaimer(make_app):
    app, _ = staff_client(make_app, Clock())
    site = app.extensions["journey"]
    for path in ("/", f"/journey/{site.first_step}", "/request", "/privacy", "/no-such-page"):
        response = app.test_client().get(path, follow_redirects=True)
        page = response.get_data(as_text=True)
        assert site.disclaimer in page and f"– {site.title}</title>" in page, path
        assert "Clinic inbox" not in page, path
