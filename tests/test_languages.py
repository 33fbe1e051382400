"""English at /, Spanish at /es/ (issue 20 B, C routing): the language comes from the URL alone, pages say their
lang and their alternates, the header links to the same page in the other language, answers survive a switch."""
import re

import pytest

from tests.conftest import ROOT, route_to_summary

HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)  # the real content/, Spanish included


@pytest.fixture
def route(app):
    """[(step, form)] from the first step to the summary, in the real content."""
    return route_to_summary(app.extensions["journey"])


def post(client, prefix, step, form, **kwargs):
    return client.post(f"{prefix}/journey/{step.id}", data=form, **kwargs)


def html_lang(html):
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def alternates(html):
    return dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', html))


def language_link(html):
    found = re.search(r'<a class="language-link" id="language-link"[^>]*>[^<]*</a>', html)
    return found.group(0) if found else None


def test_english_stays_at_the_root_and_spanish_is_under_es(client):
    english, spanish = client.get("/"), client.get("/es/")
    assert english.status_code == spanish.status_code == 200
    assert html_lang(english.get_data(as_text=True)) == "en"
    assert html_lang(spanish.get_data(as_text=True)) == "es"
    assert client.get("/es").status_code == 200


def test_every_patient_page_lists_both_languages_and_x_default(client, route):
    post(client, "", *route[0])
    for path in (f"/journey/{route[1][0].id}", "/references", "/request"):
        for prefix in ("", "/es"):
            html = client.get(prefix + path).get_data(as_text=True)
            assert alternates(html) == {"en": f"http://clinic.test{path}", "es": f"http://clinic.test/es{path}",
                                        "x-default": f"http://clinic.test{path}"}, prefix + path


def test_the_header_links_to_the_same_page_in_the_other_language_with_a_full_page_load(client, route):
    post(client, "", *route[0])
    second = route[1][0].id
    link = language_link(client.get(f"/journey/{second}").get_data(as_text=True))
    assert f'href="/es/journey/{second}"' in link and 'lang="es"' in link and 'hreflang="es"' in link
    assert 'data-hx-boost="false"' in link and "data-hx-get" not in link and ">Español<" in link
    back = language_link(client.get(f"/es/journey/{second}").get_data(as_text=True))
    assert f'href="/journey/{second}"' in back and 'lang="en"' in back and ">English<" in back


def test_links_forms_and_htmx_partials_on_a_spanish_page_stay_spanish(client, route):
    (first, first_form), (second, second_form), (third, _) = route[:3]
    html = client.get("/es/").get_data(as_text=True)
    assert f'action="/es/journey/{first.id}"' in html
    response = post(client, "/es", first, first_form, headers=HTMX)
    assert response.headers["HX-Push-Url"] == f"/es/journey/{second.id}"
    partial = response.get_data(as_text=True)
    assert f'action="/es/journey/{second.id}"' in partial
    # htmx swaps only #content: the header's language link comes along out of band, for the page now shown
    assert f'data-hx-swap-oob="true" href="/journey/{second.id}"' in partial
    plain = post(client, "/es", second, second_form)
    assert plain.status_code == 303 and plain.headers["Location"] == f"/es/journey/{third.id}"


def test_answers_survive_switching_language_mid_journey(client, route):
    half = len(route) // 2
    for step, form in route[:half]:
        assert post(client, "", step, form).status_code == 303
    for step, form in route[half:-1]:  # the rest in Spanish, each page reachable only with the answers before it
        assert client.get(f"/es/journey/{step.id}").status_code == 200, step.id
        assert post(client, "/es", step, form).status_code == 303, step.id
    summary = f"/journey/{route[-1][0].id}"
    assert client.get(summary).status_code == client.get("/es" + summary).status_code == 200


def test_a_cookie_never_chooses_the_language(client):
    client.get("/es/")
    client.set_cookie("lang", "es")
    client.set_cookie("language", "es")
    assert html_lang(client.get("/").get_data(as_text=True)) == "en"


def test_accept_language_spanish_only_offers_the_spanish_page_on_the_start_page(client):
    spanish_reader = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}
    start = client.get("/", headers=spanish_reader)
    assert start.status_code == 200  # never a redirect
    html = start.get_data(as_text=True)
    assert html_lang(html) == "en"
    assert re.search(r'<p class="language-notice" lang="es"><a href="/es/" hreflang="es"[^>]*>Ver en español</a>', html)
    assert "Accept-Language" in start.headers["Vary"]
    assert "Ver en español" not in client.get("/", headers={"Accept-Language": "en-US,en;q=0.9,es;q=0.8"}).get_data(as_text=True)
    assert "Ver en español" not in client.get("/es/", headers=spanish_reader).get_data(as_text=True)
    assert "Ver en español" not in client.get("/references", headers=spanish_reader).get_data(as_text=True)


def test_staff_and_service_pages_have_one_english_address(client):
    for path in ("/es/staff", "/es/staff/sign-in", "/es/healthz", "/es/fhir/Questionnaire/fbss-journey"):
        assert client.get(path).status_code == 404, path
    staff = client.get("/staff/sign-in", follow_redirects=True).get_data(as_text=True)
    assert html_lang(staff) == "en" and "hreflang" not in staff and 'class="language-link"' not in staff


def test_a_spanish_page_has_spanish_interface_text_and_dates(client):
    english, spanish = client.get("/").get_data(as_text=True), client.get("/es/").get_data(as_text=True)
    assert "Skip to main content" in english and "Ir al contenido principal" in spanish
    assert "Skip to main content" not in spanish
    assert re.search(r"actualizado el <time[^>]*>\d{1,2} de [a-z]+ de \d{4}</time>", spanish)
    assert re.search(r"last updated <time[^>]*>[A-Z][a-z]+ \d{1,2}, \d{4}</time>", english)


def test_a_language_whose_content_is_not_complete_is_linked_from_nowhere(make_app):
    client = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content")).test_client()  # no content/es/
    english = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert language_link(english) is None and not alternates(english) and "Ver en español" not in english
    spanish = client.get("/es/").get_data(as_text=True)  # the address still works: Spanish interface text
    assert html_lang(spanish) == "es" and 'href="/"' in language_link(spanish)
