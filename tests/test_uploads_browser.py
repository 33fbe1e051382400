"""Attaching reports in real Chromium at 390x844, JavaScript on and off (issue 23 B): a renamed program and an 11 MB
file are refused with a message and nothing typed lost; a PDF and a JPEG go with one submit; staff download them as
attachments; erasing the request deletes them from disk."""
import os
import re

import pytest

from tests.conftest import LiveServer, assert_no_axe_violations, content_dir
from tests.helpers import sign_in
from tests.support.staff import FAST_ARGON2, create_staff
from tests.support.uploads import EXECUTABLE, PDF, jpeg_with_location

pytestmark = pytest.mark.browser


@pytest.fixture
def server(make_app):
    app = make_app(CONTENT_DIR=str(content_dir()), REQUEST_MIN_SECONDS=0, REQUEST_RATE_LIMIT="1000 per minute",
                   STAFF_ARGON2=FAST_ARGON2, UPLOADS=True)
    create_staff(app)
    with LiveServer(app) as live:
        yield live


def fill_in(page):
    page.fill("#name", "Rosa Example")
    page.fill("#email", "rosa@example.com")
    page.check("#contact_by-0")
    page.fill("#description", "My leg pain came back after the fusion.")
    page.check("#consent")


def assert_kept(page):
    assert page.input_value("#name") == "Rosa Example" and page.input_value("#email") == "rosa@example.com"
    assert page.input_value("#description") == "My leg pain came back after the fusion."
    assert page.is_checked("#contact_by-0") and page.is_checked("#consent")


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_reports_are_checked_sent_with_one_submit_downloaded_by_staff_and_erased(server, phone, js, tmp_path):
    page = phone(js=js, bypass_csp=js).new_page()
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/request") else None)
    page.goto(server.url + "/request")
    fill_in(page)
    page.set_input_files("#reports", [{"name": "report.pdf", "mimeType": "application/pdf", "buffer": EXECUTABLE}])
    page.click("button[type=submit]")
    page.wait_for_selector(".error-summary")
    assert "File 1 is not a PDF, JPEG or PNG" in page.locator("#reports-error").inner_text()
    assert_kept(page)
    if js:
        assert_no_axe_violations(page)

    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)
    page.set_input_files("#reports", [{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": big}])
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelector('#reports-error') && "
                           "document.querySelector('#reports-error').textContent.includes('larger than 10 MB')")
    assert_kept(page)

    page.set_input_files("#reports", [
        {"name": "mri.pdf", "mimeType": "application/pdf", "buffer": PDF},
        {"name": "note.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_location()}])
    posts.clear()
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/request/sent$"))
    assert len(posts) == 1 and "multipart/form-data" in posts[0].headers["content-type"]  # one submit, the files in it
    reference = page.locator(".reference").inner_text()
    folder = server.app.config["UPLOADS_DIR"]
    assert len(os.listdir(folder)) == 2

    staff = phone(js=js, bypass_csp=js, accept_downloads=True).new_page()
    sign_in(staff, server)
    staff.wait_for_url(re.compile(r"/staff$"))
    staff.goto(f"{server.url}/staff/requests/{reference}")
    if js:
        assert_no_axe_violations(staff)
    for position, ending, content in ((1, "pdf", PDF), (2, "jpg", None)):
        with staff.expect_download() as download:
            staff.get_by_role("link", name=re.compile(f"Download file {position}")).click()
        assert download.value.suggested_filename == f"{reference}-file-{position}.{ending}"
        saved = download.value.path()
        with open(saved, "rb") as handle:
            data = handle.read()
        if content is not None:
            assert data == content
        else:
            assert data.startswith(b"\xff\xd8\xff") and b"Exif" not in data

    staff.goto(f"{server.url}/staff/requests/{reference}/erase")
    staff.get_by_role("button", name=re.compile("Yes, erase request")).click()
    staff.wait_for_url(re.compile(r"/staff(\?.*)?$"))
    assert os.listdir(folder) == []
