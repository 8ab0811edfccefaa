"""Activation of the vault: the vault information accepted (and re-accepted), consents."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Consent
from tests.vault.pipeline_helpers import publish_vault_information, vault_customer

pytestmark = pytest.mark.django_db


def test_every_vault_page_sends_a_new_customer_to_activation(client):
    vault_customer(client, activated=False)

    for name in ("vault:documents", "vault:upload", "vault:trash", "vault:settings"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("vault:activate") + "?next=%2Fcoffre%2F")


def test_activation_shows_the_text_and_records_the_version_hash(client):
    user = vault_customer(client, activated=False)

    page = client.get(reverse("vault:activate"))
    assert page.status_code == 200
    assert "Vos documents sont chiffrés." in page.content.decode()
    version = page.context["version"]

    response = client.post(
        reverse("vault:activate"),
        {"accept": "on", "version": version.version, "next": reverse("vault:trash")},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("vault:trash")
    consent = Consent.objects.get(user=user, purpose=Consent.Purpose.VAULT_INFORMATION)
    assert consent.granted and consent.version == version.version
    assert consent.sha256 == version.sha256
    assert "j'active mon coffre" in consent.wording
    assert not Consent.objects.filter(user=user, purpose=Consent.Purpose.CLASSIFICATION).exists()
    assert client.get(reverse("vault:documents")).status_code == 200


def test_activation_without_the_box_is_a_clear_error(client):
    vault_customer(client, activated=False)
    version = client.get(reverse("vault:activate")).context["version"]

    response = client.post(reverse("vault:activate"), {"version": version.version})

    assert response.status_code == 400
    assert "Cochez la case" in response.content.decode()


def test_classification_consent_is_separate_and_can_be_withdrawn(client):
    user = vault_customer(client, activated=False)
    version = client.get(reverse("vault:activate")).context["version"]

    client.post(
        reverse("vault:activate"),
        {"accept": "on", "classification": "on", "version": version.version},
    )
    consent = Consent.objects.get(user=user, purpose=Consent.Purpose.CLASSIFICATION)
    assert consent.granted

    client.post(reverse("vault:settings"), {})

    latest = Consent.objects.filter(user=user, purpose=Consent.Purpose.CLASSIFICATION).latest(
        "created_at", "pk"
    )
    assert latest.granted is False
    assert "désactivé" in client.get(reverse("vault:settings")).content.decode()


def test_a_new_version_of_the_information_is_asked_again_inside_the_vault_only(client):
    vault_customer(client)
    assert client.get(reverse("vault:documents")).status_code == 200

    publish_vault_information(body_fr="# Le coffre\n\nNouvelle garantie.")

    response = client.get(reverse("vault:documents"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("vault:activate"))
    page = client.get(reverse("vault:activate")).content.decode()
    assert "a été mise à jour" in page and "Nouvelle garantie." in page
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_version_published_while_reading_is_shown_before_accepting(client):
    user = vault_customer(client, activated=False)
    shown = client.get(reverse("vault:activate")).context["version"]
    publish_vault_information(body_fr="# Le coffre\n\nVersion 2.")

    response = client.post(reverse("vault:activate"), {"accept": "on", "version": shown.version})

    assert response.status_code == 302
    assert not Consent.objects.filter(user=user, purpose=Consent.Purpose.VAULT_INFORMATION).exists()


def test_without_a_published_text_the_vault_says_it_is_unavailable(client):
    from tests.accounts.factories import UserFactory, accept_current_texts, publish_required_texts
    from tests.vault.pipeline_helpers import login_fresh

    publish_required_texts()
    user = UserFactory(verified_email=True)
    accept_current_texts(user)
    login_fresh(client, user)

    response = client.get(reverse("vault:activate"))

    assert response.status_code == 503
    assert "pas encore publiée" in response.content.decode()


def test_an_open_redirect_through_next_is_ignored(client):
    vault_customer(client, activated=False)
    version = client.get(reverse("vault:activate")).context["version"]

    response = client.post(
        reverse("vault:activate"),
        {"accept": "on", "version": version.version, "next": "https://evil.example/coffre/"},
    )

    assert response["Location"] == reverse("vault:documents")
