"""Back office: staff edit drafts and publish them through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import ContentVersion, Event
from guides.models import LegalDocument
from tests.fixtures.staff import staff_force_login

from .factories import StaffFactory

pytestmark = pytest.mark.django_db


def _form_data(document, **changes):
    data = {
        "title_fr": document.title_fr,
        "body_fr": document.body_fr,
        "title_en": document.title_en,
        "body_en": document.body_en,
        "change_summary": document.change_summary,
        "change_summary_en": document.change_summary_en,
    }
    data.update(changes)
    return data


@pytest.fixture
def admin_client(client, staff):
    staff_force_login(client, staff)  # staff pages require a second factor
    return client


def test_publish_button_saves_and_publishes(admin_client, document):
    url = reverse("admin:guides_legaldocument_change", args=[document.pk])

    response = admin_client.post(
        url, {**_form_data(document, body_fr="Texte\r\nrévisé."), "_publish": "1"}, follow=True
    )

    assert response.status_code == 200
    assert "version 1 publiée" in response.content.decode()
    version = ContentVersion.objects.get(key="legal:cgv", language="fr")
    assert version.body == "Texte\nrévisé."
    assert Event.objects.filter(action="legal.draft_updated").count() == 1
    assert Event.objects.filter(action="content.published").count() == 2


def test_publishing_an_unchanged_text_shows_the_error(admin_client, document):
    url = reverse("admin:guides_legaldocument_change", args=[document.pk])
    admin_client.post(url, {**_form_data(document), "_publish": "1"})

    response = admin_client.post(
        url, {**_form_data(document, change_summary="Encore."), "_publish": "1"}, follow=True
    )

    content = response.content.decode()
    assert "identique à la version 1" in content
    assert "n&#x27;est pas publié" in content
    assert ContentVersion.objects.count() == 2


def test_publish_action_on_the_list(admin_client, document):
    url = reverse("admin:guides_legaldocument_changelist")

    response = admin_client.post(
        url, {"action": "publish_selected", "_selected_action": [document.pk]}, follow=True
    )

    assert response.status_code == 200
    assert ContentVersion.objects.filter(key="legal:cgv").count() == 2


def test_staff_without_the_publish_permission_cannot_publish(client, document):
    editor = StaffFactory(is_superuser=False)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_legaldocument", "change_legaldocument"])
    )
    staff_force_login(client, editor)
    url = reverse("admin:guides_legaldocument_change", args=[document.pk])

    page = client.get(url).content.decode()
    response = client.post(
        url, {**_form_data(document, body_fr="Modifié."), "_publish": "1"}, follow=True
    )

    assert 'name="_publish"' not in page
    assert "pas le droit de publier" in response.content.decode()
    assert not ContentVersion.objects.exists()
    document.refresh_from_db()
    assert document.body_fr == "Modifié."  # the draft itself may be edited


def test_documents_cannot_be_added_or_deleted_in_the_admin(admin_client, document):
    assert admin_client.get(reverse("admin:guides_legaldocument_add")).status_code == 403
    delete_url = reverse("admin:guides_legaldocument_delete", args=[document.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert LegalDocument.objects.filter(pk=document.pk).exists()


def test_change_page_lists_published_versions(admin_client, document):
    url = reverse("admin:guides_legaldocument_change", args=[document.pk])
    admin_client.post(url, {**_form_data(document), "_publish": "1"})

    content = admin_client.get(url).content.decode()

    assert 'href="/cgv/versions/1/"' in content
    assert "Première publication." in content


def test_hostile_draft_input_is_a_form_error(admin_client, document):
    url = reverse("admin:guides_legaldocument_change", args=[document.pk])

    response = admin_client.post(url, {**_form_data(document, body_fr="a\x00b"), "_publish": "1"})

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not ContentVersion.objects.exists()
