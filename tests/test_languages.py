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


def test_static_files_keep_one_address_in_both_languages(client):
    spanish = client.get("/es/").get_data(as_text=True)
    assert re.search(r'href="/static/site\.css\?v=\w+"', spanish) and 'src="/static/vendor/htmx' in spanish
    assert "/es/static/" not in spanish


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


def test_pages_in_turn_keep_their_own_languages_interface_text(client):
    """Templates keep each language's catalog (blueprints/i18n.py page_catalogs): English and Spanish pages and
    partials, one after another in the same process, each say theirs, and the views' own messages agree."""
    for _ in range(2):
        for prefix, ours, other in (("", "Skip to main content", "Ir al contenido principal"),
                                    ("/es", "Ir al contenido principal", "Skip to main content")):
            html = client.get(f"{prefix}/").get_data(as_text=True)
            assert ours in html and other not in html, prefix
            partial = client.get(f"{prefix}/journey/nope", headers=HTMX).get_data(as_text=True)
            assert ("Page not found" in partial) == (prefix == ""), partial
    assert "Skip to main content" in client.get("/compare").get_data(as_text=True)


def test_a_language_whose_content_is_not_complete_is_linked_from_nowhere(make_app):
    client = make_app(CONTENT_DIR=str(ROOT / "tests" / "fixtures" / "content")).test_client()  # no content/es/
    english = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert language_link(english) is None and not alternates(english) and "Ver en español" not in english
    spanish = client.get("/es/").get_data(as_text=True)  # the address still works: Spanish interface text
    assert html_lang(spanish) == "es" and 'href="/"' in language_link(spanish)


# --- No English interface text on a Spanish page (issue 20 "Done when": a test looks for untranslated messages) ---
def english_messages():
    """Every interface message of the .pot whose Spanish differs from its English, as the literal pieces a page
    would show: the text between placeholders and tags, each at least two words (or a whole one-word message)."""
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    pieces = {}
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue  # 'Error:', 'No', '%(when)s, %(hours)s': the same in both languages
            for piece in re.split(r"%\([a-z_]+\)[sd]|<[^>]+>", english):
                piece = piece.strip(" .,:;?!“”()")
                if len(piece.split()) >= 2 or (piece and piece == english.strip(" .:")):
                    pieces[piece] = english
    return pieces


def visible_text(html):
    """What a reader sees or hears: text nodes and the attributes read aloud, tags and scripts left out."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    html = re.sub(r'<a [^>]*\blang="en"[^>]*>[^<]*</a>', " ", html)  # the header's "English" link is meant to be
    read_out = r"aria-label|alt|title|placeholder|content|data-offline|data-server|data-copied|data-not-copied"
    spoken = " | ".join(re.findall(rf'(?:{read_out})="([^"]*)"', html))
    text = re.sub(r"<[^>]+>", " | ", html)
    return re.sub(r"\s+", " ", text + " | " + spoken).replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&")


def untranslated(html, pieces):
    text = visible_text(html)
    nodes = {node.strip(" .:") for node in text.split("|")}
    return sorted({english for piece, english in pieces.items()
                   # a short piece is looked for as a whole text node, so content words ("The article's list...")
                   # are not taken for the interface's "The article"
                   if (piece in nodes if len(piece.split()) < 4 else re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text))})


def spanish_pages(client, journey):
    """(url, html) of every kind of patient page in Spanish: each step of a path to the summary (and with an
    error), a stop page, the request form (empty and refused), references, comparison, about, privacy, save,
    restart, a 404."""
    from tests.conftest import route_to_stop

    pages = []

    def get(url, **kwargs):
        response = client.get(url, **kwargs)
        pages.append((url, response.get_data(as_text=True)))
        return response

    route = route_to_summary(journey)
    question = next(step for step, _ in route if step.kind == "question")
    for step, form in route[:-1]:
        get(f"/es/journey/{step.id}")
        get(f"/es/journey/{step.id}", headers=HTMX)  # the partial htmx swaps in
        if step is question:
            refused = client.post(f"/es/journey/{step.id}", data={})
            pages.append((f"POST /es/journey/{step.id}", refused.get_data(as_text=True)))
        assert client.post(f"/es/journey/{step.id}", data=form).status_code == 303
    get(f"/es/journey/{route[-1][0].id}")  # the summary
    for path in ("/es/request", "/es/references", "/es/compare", "/es/about", "/es/privacy", "/es/journey/save",
                 "/es/journey/restart", "/es/no-such-page"):
        get(path)
    refused = client.post("/es/request", data={"contact_by": "phone", "description": "x" * 2001})
    pages.append(("POST /es/request", refused.get_data(as_text=True)))
    client.post("/es/journey/restart", data={"confirm": "yes"})
    stop_route, _ = route_to_stop(journey)
    for step, form in stop_route[:-1]:
        client.post(f"/es/journey/{step.id}", data=form)
    get(f"/es/journey/{stop_route[-1][0].id}")
    return pages


def test_no_spanish_page_shows_an_english_interface_message(app, client):
    pieces = english_messages()
    assert len(pieces) > 100
    found = {url: untranslated(html, pieces) for url, html in spanish_pages(client, app.extensions["journeys"]["es"])}
    assert not {url: words for url, words in found.items() if words}, found


def test_the_untranslated_check_finds_english_messages_on_english_pages(app, client):
    pieces = english_messages()
    client.post(f"/journey/{app.extensions['journey'].first_step}")
    english = client.get("/request").get_data(as_text=True)
    found = untranslated(english, pieces)
    assert {"Send my request", "Ask for a second opinion", "Full name", "Back"} <= set(found), found


def test_numbers_in_messages_follow_the_language(client):
    english = client.post("/request", data={"description": "x" * 2001}).get_data(as_text=True)
    spanish = client.post("/es/request", data={"description": "x" * 2001}).get_data(as_text=True)
    assert "Your description must be 2,000 characters or fewer" in english
    assert "Su descripción debe tener 2.000 caracteres o menos" in spanish
