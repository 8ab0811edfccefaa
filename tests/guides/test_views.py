"""Public legal pages: current version, history, older versions, diff."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import services as audit_services
from guides import services
from guides.models import LegalDocument

pytestmark = pytest.mark.django_db

PATHS = {
    "cgv": "/cgv/",
    "confidentialite": "/confidentialite/",
    "charte": "/charte/",
    "mentions-legales": "/mentions-legales/",
    "information-coffre": "/information-coffre/",
    "formulaire-retractation": "/formulaire-retractation/",
}


def _french_date(moment) -> str:
    with timezone.override("Europe/Paris"):
        return date_format(timezone.localtime(moment), "DATE_FORMAT")


@pytest.fixture
def three_versions(document, publish):
    publish(document, summary="Première publication.")
    publish(
        document,
        body_fr=document.body_fr.replace("10 euros", "12 euros"),
        summary="Nouveau prix.",
    )
    return publish(
        document,
        body_fr=document.body_fr + "\n\n# 3. Médiation\n\nVous pouvez saisir le médiateur.",
        body_en=document.body_en + "\n\n# 3. Mediation\n\nYou may contact the mediator.",
        summary="Ajout de la médiation.",
    )


@pytest.mark.parametrize("kind", LegalDocument.Kind.values)
def test_every_legal_path_is_stable(client, kind, staff):
    document = LegalDocument.objects.create(
        kind=kind,
        title_fr=f"Titre {kind}",
        body_fr="Texte.",
        title_en=f"Title {kind}",
        body_en="Text.",
        change_summary="Première publication.",
    )
    services.legal_document_publish(document=document, acting_user=staff)

    response = client.get(PATHS[kind])

    assert response.status_code == 200
    assert f"Titre {kind}" in response.content.decode()


def test_current_page_shows_version_number_and_date(client, three_versions):
    response = client.get("/cgv/")

    content = response.content.decode()
    assert response.status_code == 200
    published = three_versions.french.published_at
    assert f"Version 3, mise à jour le {_french_date(published)}" in " ".join(content.split())
    assert 'href="/cgv/versions/"' in content
    assert "Vous pouvez saisir le médiateur." in content
    assert "n'est plus en vigueur" not in content


def test_current_page_renders_markdown(client, three_versions):
    content = client.get("/cgv/").content.decode()

    assert '<h2 id="1-objet">1. Objet</h2>' in content
    assert "<p>Le prix est de 12 euros TTC.</p>" in content


def test_history_lists_every_version_with_links(client, three_versions):
    response = client.get("/cgv/versions/")

    content = response.content.decode()
    assert response.status_code == 200
    for number, summary in [
        (1, "Première publication."),
        (2, "Nouveau prix."),
        (3, "Ajout de la médiation."),
    ]:
        assert f'href="/cgv/versions/{number}/"' in content
        assert summary in content
    assert 'href="/cgv/diff/?de=2&amp;a=3"' in content
    assert 'href="/cgv/diff/?de=1&amp;a=2"' in content


def test_older_version_is_readable_and_says_it_is_not_in_force(client, three_versions):
    response = client.get("/cgv/versions/1/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Le prix est de 10 euros TTC." in content
    assert "Médiation" not in content
    assert "Vous lisez la version 1, qui n'est plus en vigueur." in " ".join(content.split())
    assert 'href="/cgv/diff/?de=1&amp;a=3"' in content


def test_current_version_by_number_has_no_outdated_notice(client, three_versions):
    content = client.get("/cgv/versions/3/").content.decode()
    assert "n'est plus en vigueur" not in content


@pytest.mark.parametrize(
    "path",
    [
        "/cgv/versions/4/",
        "/cgv/versions/0/",
        "/cgv/versions/99999999999999999999999/",
        "/cgv/versions/abc/",
        "/cgv/versions/-1/",
    ],
)
def test_unknown_versions_are_a_clear_404(client, three_versions, path):
    response = client.get(path)
    assert response.status_code == 404


def test_unknown_version_page_explains(client, three_versions):
    content = client.get("/cgv/versions/4/").content.decode()
    assert "La version 4 de ce texte n'existe pas." in " ".join(content.split())
    assert 'href="/cgv/versions/"' in content


def test_unpublished_text_is_a_clear_404(client, db):
    response = client.get("/charte/")

    assert response.status_code == 404
    assert "Ce texte n'a pas encore été publié." in response.content.decode()
    assert client.get("/charte/versions/").status_code == 404
    assert client.get("/charte/diff/").status_code == 404


def test_legal_pages_refuse_writes(client, three_versions):
    assert client.post("/cgv/").status_code == 405


def test_diff_shows_insertions_and_deletions(client, three_versions):
    response = client.get("/cgv/diff/", {"de": "1", "a": "3"})

    content = response.content.decode()
    assert response.status_code == 200
    assert '</span>10<span class="visually-hidden"> [fin de la suppression]</span></del>' in content
    assert '</span>12<span class="visually-hidden"> [fin de l&#x27;ajout]</span></ins>' in content
    assert "[début de la suppression]" in content
    assert "[début de l&#x27;ajout]" in content
    assert "Vous pouvez saisir le médiateur." in content
    assert "Changements de la version 1 à la version 3" in " ".join(content.split())


def test_diff_without_parameters_shows_the_latest_change(client, three_versions):
    content = client.get("/cgv/diff/").content.decode()
    assert "Changements de la version 2 à la version 3" in " ".join(content.split())


def test_diff_with_a_single_version_says_there_is_nothing_to_compare(client, document, publish):
    publish(document)

    response = client.get("/cgv/diff/", {"de": "1", "a": "2"})

    assert response.status_code == 200
    assert "Une seule version de ce texte a été publiée" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"de": "abc", "a": "3"}, "La version « abc » n&#x27;existe pas."),
        ({"de": "1", "a": "9"}, "La version « 9 » n&#x27;existe pas."),
        ({"de": "3", "a": "1"}, "La version d&#x27;arrivée doit être plus récente"),
        ({"de": "2", "a": "2"}, "Choisissez deux versions différentes."),
        ({"de": "1"}, "Choisissez la version d&#x27;arrivée."),
        ({"de": "1", "a": "99999999999999999999999"}, "n&#x27;existe pas"),
        ({"de": "", "a": ""}, "Choisissez la version de départ."),
    ],
)
def test_diff_bad_parameters_give_a_form_error(client, three_versions, query, message):
    response = client.get("/cgv/diff/", query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(de=st.text(max_size=30), a=st.text(max_size=30))
def test_diff_never_fails_on_any_input(client, three_versions, de, a):
    response = client.get("/cgv/diff/", {"de": de, "a": a})
    assert response.status_code in {200, 400}


def test_english_page_shows_the_english_version(client, three_versions):
    response = client.get("/cgv/", HTTP_ACCEPT_LANGUAGE="en")

    content = response.content.decode()
    assert "Terms and conditions of sale" in content
    assert "You may contact the mediator." in content
    assert "Vous pouvez saisir le médiateur." not in content
    assert 'role="note"' not in content  # no "shown in French" note


def test_english_page_falls_back_to_french_with_a_note(client, db):
    """GIVEN a text published in French only WHEN read in English
    THEN the French text is shown, marked lang="fr", with a note."""
    audit_services.content_version_publish(
        key="legal:mentions-legales",
        language="fr",
        title="Mentions légales",
        body="Éditeur : MyNetSpace SAS.",
        summary="Première publication.",
    )

    response = client.get("/mentions-legales/", HTTP_ACCEPT_LANGUAGE="en")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Éditeur : MyNetSpace SAS." in content
    assert '<h1 lang="fr">Mentions légales</h1>' in content
    assert "the French version is authoritative" in content
    history = client.get("/mentions-legales/versions/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Première publication." in history.content.decode()


def test_page_sanitises_hostile_markdown(client, document, publish):
    publish(
        document,
        body_fr=(
            "Bonjour <script>alert('x')</script>\n\n"
            '<img src="x" onerror="alert(1)">\n\n'
            "[piège](javascript:alert(1)) et [ok](https://www.service-public.fr/)\n\n"
            '<a href="/cgv/" onclick="alert(1)">lien</a>'
        ),
    )

    content = client.get("/cgv/").content.decode()
    prose = content[content.index('class="prose"') :]
    assert "<script>alert" not in prose
    assert "alert('x')" not in prose
    assert "onerror" not in prose
    assert "onclick" not in prose
    assert "javascript:" not in prose
    assert "<img" not in prose
    assert 'href="https://www.service-public.fr/"' in prose


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        ("/cgv/", 1),
        ("/cgv/versions/", 1),
        ("/cgv/versions/1/", 2),
        ("/cgv/diff/?de=1&a=2", 2),
    ],
)
def test_query_count_does_not_grow_with_versions(
    client, document, publish, django_assert_num_queries, path, queries
):
    publish(document)
    publish(document, body_fr="Deuxième.")
    with django_assert_num_queries(queries):
        assert client.get(path).status_code == 200

    for number in range(3, 41):
        publish(document, body_fr=f"Version {number}.")
    with django_assert_num_queries(queries):
        assert client.get(path).status_code == 200


def test_english_pages_cost_the_same_queries(client, three_versions):
    with CaptureQueriesContext(connection) as french:
        client.get("/cgv/versions/")
    with CaptureQueriesContext(connection) as english:
        client.get("/cgv/versions/", HTTP_ACCEPT_LANGUAGE="en")
    assert len(french) == len(english) == 1
