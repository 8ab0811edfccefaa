"""The pages of the core app: home, the cancellation page's presence, error pages."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from mynetspace.core import views
from tests.core.html import read

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db]

COMMITMENTS = {
    "fr": ["Satisfaction", "Transparence", "Confidentialité", "Qualité", "Sécurité", "Traçabilité"],
    "en": ["Satisfaction", "Transparency", "Privacy", "Quality", "Security", "Traceability"],
}


def test_home_presents_the_offer_as_a_paid_independent_service(client):
    page = read(client.get("/"))

    text = page.main_text
    for offer in ["Une équipe pour vos démarches", "Des guides pratiques", "coffre numérique"]:
        assert offer in text
    assert "abonnement payant" in text
    assert "Nous ne sommes pas l'administration" in text
    main_hrefs = [link.href for link in page.links if not link.in_footer and not link.in_header]
    assert "https://www.service-public.fr/" in main_hrefs
    assert "https://connexion.mon.service-public.fr/" in main_hrefs


@pytest.mark.parametrize("language", ["fr", "en"])
def test_home_summarises_the_six_commitments_and_links_to_the_charter(language):
    page = read(Client(headers={"Accept-Language": language}).get("/"))

    for commitment in COMMITMENTS[language]:
        assert commitment in page.main_text
    charter = [link for link in page.links if link.href == "/charte/" and not link.in_footer]
    assert charter, "the commitments section links to the full charter"


def test_home_never_calls_itself_official(client):
    """Nothing may suggest a State website (DESIGN §2, commercial practice)."""
    content = client.get("/").content.decode().lower()

    for word in ["gouv", "marianne", "république française", "site officiel"]:
        assert word not in content


@pytest.fixture
def published_legal_texts():
    """The legal texts as seed_demo publishes them from the repository sources."""
    from guides.legal_sources import load_source
    from guides.models import LegalDocument
    from guides.services import legal_document_sync_from_source

    for kind in LegalDocument.Kind.values:
        legal_document_sync_from_source(source=load_source(kind))


@pytest.mark.parametrize("logged_in", [False, True])
@pytest.mark.usefixtures("published_legal_texts")
def test_no_dead_internal_link_on_the_home_page(client, django_user_model, logged_in):
    """GIVEN the legal texts are published WHEN every internal link of the home page
    (header, navigation, body, footer) is followed THEN none is missing or broken."""
    client.raise_request_exception = False
    if logged_in:
        from tests.accounts.factories import accept_current_texts

        user = django_user_model.objects.create_user(email="ana@example.org", password="x" * 12)
        # Customers accept the terms in force at signup; otherwise every page asks them to.
        accept_current_texts(user)
        client.force_login(user)
    page = read(client.get("/"))

    internal = sorted(
        {
            link.href
            for link in page.links
            if link.href.startswith("/") and not link.href.startswith("//")
        }
    )
    assert "/resilier/" in internal
    broken = {}
    for href in internal:
        status = client.get(href).status_code
        if status in (404, 500):
            broken[href] = status
    assert broken == {}


def test_cancel_page_works_without_logging_in(client):
    """The online form itself is tested in tests/subscriptions/test_cancel.py."""
    response = client.get(reverse("cancel"))
    page = read(response)

    assert response.status_code == 200
    assert reverse("cancel") == "/resilier/"
    assert page.h1_texts == ["Résilier votre contrat"]
    for needed in ["Nom et prénom", "Adresse e-mail de votre compte", "Référence du contrat"]:
        assert needed in page.main_text


def test_cancel_page_in_english(client):
    page = read(Client(headers={"Accept-Language": "en"}).get("/resilier/"))

    assert page.h1_texts == ["Cancel your contract"]


@pytest.mark.parametrize(
    ("path", "status", "advice"),
    [
        ("/n-existe-pas/", 404, "Vérifiez l'adresse"),
        ("/test/403/", 403, "Connectez-vous"),
        ("/test/500/", 500, "Réessayez dans quelques minutes"),
    ],
)
def test_error_pages_say_what_happened_and_what_to_do(path, status, advice):
    response = Client(raise_request_exception=False).get(path)
    page = read(response)

    assert response.status_code == status
    assert advice in page.main_text
    main_hrefs = [link.href for link in page.links if not link.in_footer and not link.in_header]
    assert "/" in main_hrefs
    assert "a failure the visitor must never see" not in page.text


def test_csrf_failure_explains_and_stores_nothing():
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = read(response)

    assert response.status_code == 403
    assert "Rien n'a été enregistré." in page.main_text
    assert "django_language" not in response.cookies


def test_forbidden_page_for_a_logged_in_user_names_their_account(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_user(email="bo@example.org", password="x" * 12)
    )

    response = client.get("/test/403/")

    assert response.status_code == 403
    assert "bo@example.org" in read(response).main_text


def test_server_error_page_renders_when_the_request_context_is_broken(settings):
    """GIVEN a context processor that fails (as when the database is down)
    WHEN the 500 handler renders
    THEN the error page still shows, in the layout, with the footer, and no account area.
    """
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                "context_processors": [
                    *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                    "tests.core.test_pages.failing_context_processor",
                ]
            },
        }
    ]
    request = RequestFactory().get("/")

    response = views.server_error(request)
    page = read(response)

    assert response.status_code == 500
    assert page.h1_texts == ["Un problème est survenu de notre côté"]
    assert "/resilier/" in page.hrefs(footer_only=True)
    assert "Se connecter" not in page.text


def failing_context_processor(request):
    raise RuntimeError("database unavailable")


def test_favicon_requests_reach_our_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
