"""Reports attached to a request (issue 23 B, FLASK_UPLOADS=true): checked by content, images cleaned of metadata,
stored privately under random names, served only to staff as downloads (audited), erased with the request, kept in
backups; scanned by a real ClamAV daemon with a signature file made here."""
import hashlib
import io
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest
from PIL import Image

from clinic import backup, uploads
from tests.conftest import EVENT_TIMEOUT_SECONDS, content_dir
from tests.helpers import PATIENT, form_fields, sign_started
from tests.support.html_check import html_problems
from tests.support.staff import FAST_ARGON2, audit_rows, create_staff, sign_in
from tests.support.storage import execute, stored
from tests.support.tools import require_tool
from tests.support.uploads import EXECUTABLE, PDF, jpeg_with_location, post_request

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def app(make_app):
    return make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", STAFF_ARGON2=FAST_ARGON2,
                    WTF_CSRF_ENABLED=False, UPLOADS=True)


def staff_client(app):
    create_staff(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    return client


def uploads_dir(app):
    return app.config["UPLOADS_DIR"]


def files_on_disk(app):
    folder = uploads_dir(app)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_without_the_setting_the_form_takes_no_files(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False)
    client = app.test_client()
    assert 'type="file"' not in client.get("/request").get_data(as_text=True)
    assert post_request(client, [("report.pdf", PDF)]).status_code == 400
    assert stored(app, "SELECT id FROM requests") == []


def test_the_form_asks_for_reports_and_posts_multipart(client):
    html = client.get("/request").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file"' in html and "multiple" in html and "Up to 3 files, 10 MB each: PDF, JPEG or PNG" in html


@pytest.mark.both_databases
def test_a_pdf_and_a_jpeg_are_stored_privately_with_random_names_and_the_jpeg_loses_its_location(app, client):
    response = post_request(client, [("MRI report.pdf", PDF), ("op-note.jpg", jpeg_with_location())])
    assert response.status_code == 303, response.get_data(as_text=True)
    rows = stored(app, "SELECT position, stored_name, kind, size FROM request_files ORDER BY position")
    assert [(r["position"], r["kind"]) for r in rows] == [(1, "pdf"), (2, "jpeg")]
    folder = uploads_dir(app)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert not os.path.abspath(folder).startswith(os.path.abspath("static"))
    for row in rows:
        path = os.path.join(folder, row["stored_name"])
        assert len(row["stored_name"]) == 32 and "." not in row["stored_name"]  # random, nothing of the name sent
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert os.path.getsize(path) == row["size"]
    with open(os.path.join(folder, rows[0]["stored_name"]), "rb") as handle:
        assert handle.read() == PDF  # as sent
    with open(os.path.join(folder, rows[1]["stored_name"]), "rb") as handle:
        cleaned = handle.read()
    image = Image.open(io.BytesIO(cleaned))
    assert image.format == "JPEG" and image.size == (64, 48)
    assert not image.getexif() and b"Exif" not in cleaned and b"PhoneMaker" not in cleaned


@pytest.mark.parametrize("files, message", [
    ([("report.pdf", EXECUTABLE)], "File 1 is not a PDF, JPEG or PNG"),
    ([("ok.pdf", PDF), ("big.pdf", b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024))], "File 2 is larger than 10 MB"),
    ([("a.pdf", PDF)] * 4, "You can send up to 3 files"),
    ([("photo.png", b"\x89PNG\r\n\x1a\n" + b"broken")], "File 1 could not be read as a picture"),
], ids=["renamed-executable", "11-MB", "four-files", "broken-image"])
def test_a_file_the_site_does_not_take_is_refused_next_to_the_field_and_nothing_typed_is_lost(app, client, files, message):
    response = post_request(client, files, name="Rosa Example", description="My pain came back.")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count(message) == 2  # the error summary and beside the field
    assert 'href="#reports"' in html
    assert 'value="Rosa Example"' in html and "My pain came back." in html
    assert stored(app, "SELECT id FROM requests") == [] and files_on_disk(app) == []


def test_files_chosen_with_another_mistake_are_asked_for_again(app, client):
    html = post_request(client, [("report.pdf", PDF)], email="not-an-address").get_data(as_text=True)
    assert "Choose your files again" in html
    assert files_on_disk(app) == []


def test_a_body_over_the_upload_limit_gets_the_friendly_413_and_other_routes_keep_64_kb(app, client):
    big = b"%PDF-1.4\n" + b"0" * (9 * 1024 * 1024)
    assert post_request(client, [("a.pdf", big)] * 4).status_code == 413
    assert client.post("/staff/sign-in", data={"email": "x" * (70 * 1024)}).status_code == 413


@pytest.mark.both_databases
def test_staff_download_files_as_attachments_with_nosniff_and_a_sandbox_and_each_download_is_audited(app):
    assert post_request(app.test_client(), [("r.pdf", PDF), ("p.jpg", jpeg_with_location())]).status_code == 303
    [request] = stored(app, "SELECT reference FROM requests")
    reference = request["reference"]
    # Not signed in: no file
    anonymous = app.test_client().get(f"/staff/requests/{reference}/files/1")
    assert anonymous.status_code == 302 and "/staff/sign-in" in anonymous.headers["Location"]
    staff = staff_client(app)
    html = staff.get(f"/staff/requests/{reference}").get_data(as_text=True)
    assert "Download file 1 (PDF" in html and "Download file 2 (JPEG image" in html
    response = staff.get(f"/staff/requests/{reference}/files/1")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f"attachment; filename={reference}-file-1.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["Cache-Control"] == "no-store"
    image = staff.get(f"/staff/requests/{reference}/files/2")
    assert image.headers["Content-Type"] == "image/jpeg" and image.headers["Content-Disposition"].startswith("attachment")
    downloads = [row for row in audit_rows(app, "viewed") if (row["detail"] or "").endswith("downloaded")]
    assert [(row["reference"], row["detail"]) for row in downloads] == [
        (reference, "file 1 (pdf) downloaded"), (reference, "file 2 (jpeg) downloaded")]
    assert staff.get(f"/staff/requests/{reference}/files/3").status_code == 404


@pytest.mark.both_databases
def test_erasing_or_purging_a_request_deletes_its_files_from_disk(app):
    client = app.test_client()
    assert post_request(client, [("r.pdf", PDF)]).status_code == 303
    assert post_request(client, [("p.jpg", jpeg_with_location())]).status_code == 303
    first, second = [r["reference"] for r in stored(app, "SELECT reference FROM requests ORDER BY id")]
    assert len(files_on_disk(app)) == 2
    staff = staff_client(app)
    assert staff.post(f"/staff/requests/{first}/erase").status_code == 303
    assert len(files_on_disk(app)) == 1 and stored(app, "SELECT COUNT(*) AS n FROM request_files") == [{"n": 1}]
    execute(app, "UPDATE requests SET created_at = created_at - 2 * 86400")
    result = app.test_cli_runner().invoke(args=["requests", "purge", "--older-than", "1"])
    assert "Purged 1 request" in result.output, result.output
    assert files_on_disk(app) == []
    assert stored(app, "SELECT reference FROM requests WHERE reference = :reference", reference=second) == []


def test_backups_include_the_files_and_a_restore_puts_them_back(app, tmp_path):
    assert post_request(app.test_client(), [("r.pdf", PDF)]).status_code == 303
    [name] = files_on_disk(app)
    (tmp_path / "backups").mkdir()
    result = app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "backups")])
    assert "Backup written" in result.output, result.output
    [copy] = [p for p in (tmp_path / "backups").iterdir() if p.suffix == ".sqlite3"]
    kept = backup.files_folder(copy) / name
    assert kept.read_bytes() == PDF and stat.S_IMODE(kept.stat().st_mode) == 0o600
    shutil.rmtree(uploads_dir(app))
    result = app.test_cli_runner().invoke(args=["db", "restore", str(copy), "--yes"])
    assert "Restored" in result.output, result.output
    assert files_on_disk(app) == [name]


def test_the_magic_bytes_decide_not_the_name():
    assert uploads.sniff(PDF) == "pdf" and uploads.sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert uploads.sniff(b"\x89PNG\r\n\x1a\n") == "png" and uploads.sniff(EXECUTABLE) is None
    assert uploads.sniff(b"GIF89a") is None


# --- ClamAV --------------------------------------------------------------------------------------------------
CLAMD = shutil.which("clamd") or ("/usr/sbin/clamd" if os.path.exists("/usr/sbin/clamd") else None)


@pytest.fixture
def clamd(tmp_path):
    """A real clamd on a Unix socket, with a tiny signature database made here (the EICAR test string as a body
    signature and as a file hash): the real database cannot be fetched on this machine."""
    if CLAMD is None:
        require_tool("ClamAV is not installed (apt-get install clamav-daemon; .ci/run installs it)")
    folder = tmp_path / "clamd"
    (folder / "db").mkdir(parents=True)
    (folder / "db" / "made-up.ndb").write_text(f"Made-Up-EICAR-Test:0:*:{EICAR.hex()}\n")
    (folder / "db" / "made-up.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Made-Up-EICAR-File\n")  # noqa: S324  # nosec B324 - ClamAV's hash format
    sock = folder / "clamd.sock"
    config = folder / "clamd.conf"
    config.write_text(f"LocalSocket {sock}\nDatabaseDirectory {folder / 'db'}\nForeground yes\n"
                      f"LogFile {folder / 'clamd.log'}\nTemporaryDirectory {folder}\n")
    process = subprocess.Popen([CLAMD, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603  # nosec B603
    try:
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(sock))
                    probe.sendall(b"zPING\0")
                    if probe.recv(16).startswith(b"PONG"):
                        break
            except OSError:
                pass
            assert process.poll() is None, (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else ""
            assert time.monotonic() < deadline, "clamd did not start"
            time.sleep(0.2)
        yield str(sock)
    finally:
        process.terminate()
        process.wait(timeout=EVENT_TIMEOUT_SECONDS)


def test_a_file_with_the_eicar_signature_is_refused_and_a_clean_one_passes(make_app, clamd):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_RATE_LIMIT="1000 per minute", WTF_CSRF_ENABLED=False,
                   UPLOADS=True, CLAMD_SOCKET=clamd)
    client = app.test_client()
    infected = b"%PDF-1.4\n" + EICAR + b"\n%%EOF\n"
    html = post_request(client, [("report.pdf", infected)], name="Rosa Example").get_data(as_text=True)
    assert "File 1 did not pass our virus check" in html and 'value="Rosa Example"' in html
    assert stored(app, "SELECT id FROM requests") == [] and files_on_disk(app) == []
    assert post_request(client, [("report.pdf", PDF)]).status_code == 303
    assert len(files_on_disk(app)) == 1


def test_with_the_scanner_down_files_are_refused_never_stored_unscanned(make_app, tmp_path):
    app = make_app(CONTENT_DIR=str(content_dir()), WTF_CSRF_ENABLED=False, UPLOADS=True,
                   CLAMD_SOCKET=str(tmp_path / "no-clamd.sock"))
    client = app.test_client()
    html = post_request(client, [("report.pdf", PDF)]).get_data(as_text=True)
    assert "We could not check your files for viruses just now" in html
    assert files_on_disk(app) == []
    assert post_request(client, []).status_code == 303  # without files the request goes


def test_the_form_with_uploads_and_the_staff_pages_with_files_and_fhir_export_are_valid_html(app, client, tmp_path):

    form = client.get("/request").get_data(as_text=True)
    refused = post_request(client, [("report.pdf", EXECUTABLE)]).get_data(as_text=True)
    assert post_request(app.test_client(), [("r.pdf", PDF)]).status_code == 303
    [row] = stored(app, "SELECT reference FROM requests")
    staff = staff_client(app)
    pages = {"form": form, "refused": refused,
             "detail": staff.get(f"/staff/requests/{row['reference']}").get_data(as_text=True),
             "fhir": staff.get("/staff/export-fhir").get_data(as_text=True),
             "fhir-error": staff.post("/staff/export-fhir", data={"received_from": "x"}).get_data(as_text=True)}
    assert "Download file 1 (PDF" in pages["detail"] and "Enter the first day as a date" in pages["fhir-error"]
    assert html_problems(pages, tmp_path) == []


def test_a_refused_file_is_explained_in_the_language_of_the_page(app, client):
    page = client.get("/es/request").get_data(as_text=True)
    data = {**form_fields(page), **PATIENT, "started": sign_started(time.time() - 60, app.config["SECRET_KEY"])}
    data["reports"] = [(io.BytesIO(EXECUTABLE), "informe.pdf")]
    html = client.post("/es/request", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert html.count("El archivo 1 no es PDF, JPEG ni PNG") == 2 and "File 1" not in html
