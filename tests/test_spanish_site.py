"""The Spanish guide at /es/, server side (issue 20 C): every warning sign routed as in English, sign by sign (the
routing is the server's: posted forms, no browser), a Spanish self-harm phrasing flagged for staff, and a Spanish
request's mail: staff in English without health details, the patient's receipt in Spanish."""
import re
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import form_fields
from tests.support.spanish_site import screen_forms, serve_spanish_site


@pytest.fixture(scope="module")
def spanish_site(tmp_path_factory):
    yield from serve_spanish_site(tmp_path_factory)


def test_a_spanish_request_mails_staff_in_english_and_the_patient_in_spanish(spanish_site):
    """The staff email stays English and says nothing of health; the receipt (on here) is in Spanish."""
    app = spanish_site.app
    client = app.test_client()
    page = client.get("/es/request")
    fields = {**form_fields(page.get_data(as_text=True)), "name": "Ana Ejemplo", "email": "ana@example.org",
              "contact_by": "email", "description": "Tengo dolor de pecho desde ayer.", "consent": "y"}
    response = client.post("/es/request", data=fields)
    assert response.status_code == 303 and "/es/request/sent" in response.headers["Location"]
    reference = re.search(r"FBS-[2-9A-Z]{4}", client.get(response.headers["Location"]).get_data(as_text=True)).group(0)
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
    mails = [path.read_text(encoding="utf-8", errors="replace") for path in Path(app.config["MAIL_DIR"]).rglob("*.eml")]
    mails = [text for text in mails if reference in text]
    staff = [text for text in mails if "ana@example.org" not in text]
    receipt = [text for text in mails if "ana@example.org" in text]
    assert len(staff) == 1 and len(receipt) == 1, mails
    assert "New second-opinion request" in staff[0] and not re.search(r"pecho|dolor|Ana", staff[0])
    assert "Subject: Hemos recibido su solicitud" in receipt[0]


def test_every_warning_sign_in_spanish_lands_on_its_tier_s_spanish_stop_page(spanish_site):
    app = spanish_site.app
    english, spanish = app.extensions["journeys"]["en"], app.extensions["journeys"]["es"]
    assert [s.id for s in spanish.warning_signs.signs()] == [s.id for s in english.warning_signs.signs()]
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        for sign in spanish.warning_signs.signs():
            client = app.test_client()
            assert client.post("/es/journey/start").status_code == 303
            forms, landed = screen_forms(spanish, sign)
            assert landed == english.warning_signs.sign(sign.id).tier.stop_step == sign.tier.stop_step
            for screen, form in forms:
                response = client.post(f"/es/journey/{screen}", data=form)
                assert response.status_code == 303, (sign.id, screen)
            assert response.headers["Location"].endswith(f"/es/journey/{sign.tier.stop_step}"), sign.id
            html = client.get(f"/es/journey/{sign.tier.stop_step}").get_data(as_text=True)
            assert '<html lang="es"' in html and spanish.steps[sign.tier.stop_step].title in html, sign.id
            given = html.split('class="signs-given', 1)[1].split("</ul>", 1)[0]
            assert sign.label in given, sign.id
            assert 'href="tel:911"' in html and "988" in html
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


def test_a_spanish_self_harm_phrasing_in_a_request_from_es_is_flagged(spanish_site):
    app = spanish_site.app
    client = app.test_client()
    fields = {**form_fields(client.get("/es/request").get_data(as_text=True)), "name": "Luis Ejemplo",
              "email": "luis@example.org", "contact_by": "email", "consent": "y",
              "description": "Ya no aguanto este dolor y a veces quiero hacerme daño."}
    response = client.post("/es/request", data=fields)
    assert response.status_code == 303, response.status_code
    conn = sqlite3.connect(app.config["DATABASE"])
    try:
        flagged, language = conn.execute("SELECT flagged, answers_language FROM requests WHERE name = 'Luis Ejemplo'"
                                         ).fetchone()
    finally:
        conn.close()
    assert (flagged, language) == (1, "es")
