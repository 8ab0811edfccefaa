"""The layout every page shares: language, skip link, header, footer, messages."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from tests.core.html import read

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db]

LEGAL_PATHS = ["/cgv/", "/confidentialite/", "/charte/", "/mentions-legales/"]
OFFICIAL_URLS = ["https://www.service-public.fr/", "https://connexion.mon.service-public.fr/"]

# name -> (path, expected status); "csrf" is a form posted without its token.
PAGES = {
    "home": ("/", 200),
    "cancel": ("/resilier/", 200),
    "not_found": ("/cette-page-n-existe-pas/", 404),
    "forbidden": ("/test/403/", 403),
    "server_error": ("/test/500/", 500),
    "csrf": ("/i18n/setlang/", 403),
}

# What a visitor reads in each language: the footer statement and the page title.
STATEMENT = {
    "fr": "MyNetSpace est un service privé et payant",
    "en": "MyNetSpace is a paid private service",
}
INDEPENDENCE = {
    "fr": "indépendants de l'administration",
    "en": "independent of the public administration",
}
H1 = {
    ("home", "fr"): "Vos démarches administratives, avec quelqu'un à vos côtés",
    ("home", "en"): "Your administrative procedures, with someone by your side",
    ("cancel", "fr"): "Résilier votre contrat",
    ("cancel", "en"): "Cancel your contract",
    ("not_found", "fr"): "Page introuvable",
    ("not_found", "en"): "Page not found",
    ("forbidden", "fr"): "Accès refusé",
    ("forbidden", "en"): "Access denied",
    ("server_error", "fr"): "Un problème est survenu de notre côté",
    ("server_error", "en"): "Something went wrong on our side",
    ("csrf", "fr"): "Le formulaire n'a pas pu être envoyé",
    ("csrf", "en"): "The form could not be sent",
}


def fetch(name: str, language: str):
    path, _status = PAGES[name]
    headers = {"Accept-Language": language}
    if name == "csrf":
        client = Client(enforce_csrf_checks=True, headers=headers)
        return client.post(path, {"language": "en", "next": "/"})
    return Client(raise_request_exception=False, headers=headers).get(path)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_status_language_and_title(name, language):
    response = fetch(name, language)
    page = read(response)

    assert response.status_code == PAGES[name][1]
    assert page.lang == language
    assert page.h1_texts == [H1[name, language]]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_footer_statement_and_links_on_every_page(name, language):
    page = read(fetch(name, language))
    footer_links = page.hrefs(footer_only=True)

    assert STATEMENT[language] in page.footer_text
    assert INDEPENDENCE[language] in page.footer_text
    assert settings.COMPANY_NAME in page.footer_text
    for url in OFFICIAL_URLS:
        assert url in footer_links
    assert "/resilier/" in footer_links
    for path in LEGAL_PATHS:
        assert path in footer_links
    assert settings.MEDIATOR_URL in footer_links
    assert settings.MEDIATOR_NAME in page.footer_text


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_starts_with_a_skip_link_to_the_main_content(name):
    page = read(fetch(name, "fr"))

    assert page.links[0].href == "#contenu"
    assert page.links[0].text == "Aller au contenu principal"
    assert "contenu" in page.ids


@pytest.mark.parametrize("name", list(PAGES))
def test_pages_need_no_inline_style_or_script_that_the_csp_would_block(name):
    page = read(fetch(name, "fr"))

    assert page.inline_styles == 0
    assert page.scripts_without_nonce == 0


def test_cancel_link_in_footer_is_labelled_as_the_law_requires():
    page = read(fetch("home", "fr"))

    cancel = [link for link in page.links if link.in_footer and link.href == "/resilier/"]
    assert [link.text for link in cancel] == ["Résilier votre contrat"]


def test_french_is_the_default_language():
    response = Client().get("/")

    assert read(response).lang == "fr"
    assert response.headers["Content-Language"] == "fr"


def test_language_switcher_is_a_labelled_form_posting_to_set_language(client):
    page = read(client.get("/resilier/"))

    switchers = [form for form in page.forms if form.get("action") == reverse("set_language")]
    assert len(switchers) == 1
    form = switchers[0]
    assert form["method"] == "post"
    fields = {field.get("name"): field for field in form["inputs"]}
    assert fields["next"]["value"] == "/resilier/"
    assert "csrfmiddlewaretoken" in fields
    assert fields["language"]["id"] in page.labels_for


def test_switching_language_changes_the_pages_and_can_be_undone(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/resilier/"})

    assert response.status_code == 302
    assert response["Location"] == "/resilier/"
    page = read(client.get("/resilier/"))
    assert page.lang == "en"
    assert "Cancel your contract" in page.main_text

    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    page = read(client.get("/"))
    assert page.lang == "fr"
    assert STATEMENT["fr"] in page.footer_text


def test_anonymous_visitor_gets_a_login_link_that_exists(client):
    page = read(client.get("/resilier/"))

    header_hrefs = [link.href for link in page.links if link.in_header]
    login = f"{settings.LOGIN_URL}?next=/resilier/"
    assert login in header_hrefs
    assert client.get(login).status_code == 200


def test_logged_in_user_sees_their_email_and_can_log_out(client, django_user_model):
    """Until customer accounts exist only staff can log in (through the admin login)."""
    user = django_user_model.objects.create_user(
        email="lea@example.org", password="x" * 12, is_staff=True
    )
    client.force_login(user)

    page = read(client.get("/"))
    assert "lea@example.org" in page.text
    logout = next(form for form in page.forms if "logout" in form.get("action", ""))
    assert logout["method"] == "post"

    response = client.post(logout["action"], {"next": "/"})
    assert response.status_code == 302
    assert "lea@example.org" not in read(client.get("/")).text


@pytest.mark.urls("tests.core.urls_account_pages")
def test_navigation_shows_only_pages_that_exist(client, django_user_model):
    """GIVEN some of the customer areas are not built yet
    WHEN a visitor, then a customer, opens a page
    THEN every navigation link resolves, the links to missing areas are left out, and
    the account areas are offered to customers only.
    """
    areas = ["/espace/", "/coffre/", "/demarches/", "/journal/"]

    def exists(path: str) -> bool:
        try:
            resolve(path)
        except Resolver404:
            return False
        return True

    anonymous = read(client.get("/")).hrefs()
    assert "/tarifs/" in anonymous
    assert not set(areas) & set(anonymous)

    user = django_user_model.objects.create_user(email="sam@example.org", password="x" * 12)
    client.force_login(user)
    customer = read(client.get("/")).hrefs()
    for area in areas:
        assert (area in customer) == exists(area), area


def test_current_page_is_marked_in_the_navigation(client):
    page = client.get("/").content.decode()

    assert 'href="/" aria-current="page"' in page


def test_flash_messages_are_shown_on_the_next_page(client):
    response = client.get("/test/message/", follow=True)

    content = response.content.decode()
    assert 'role="status"' in content
    assert "Votre demande a bien été enregistrée." in read(response).main_text
