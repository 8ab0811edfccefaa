"""/coffre/journal/: the vault's operations in plain sentences, staff accesses first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.services import record
from tests.fixtures.staff import staff_force_login
from tests.vault.access_helpers import activated_customer, support_agent
from tests.vault.factories import document_store
from vault import grants, sharing
from vault.models import StaffGrantTeam

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_trail_lists_vault_operations_and_staff_accesses(client):
    owner = activated_customer()
    document = document_store(owner=owner, title="Passeport")
    _, token = sharing.share_create(document=document, acting_user=owner, code="un-code-sûr")
    client.get(reverse("share_public", args=[token]), HTTP_USER_AGENT=UA)
    client.post(reverse("share_public", args=[token]), {"code": "faux"}, HTTP_USER_AGENT=UA)
    agent = support_agent(first_name="Paul", last_name="Durand")
    grant = grants.grant_create(
        owner=owner,
        documents=[document],
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(days=1),
        team=StaffGrantTeam.SUPPORT,
    )
    staff_force_login(client, agent)
    client.get(reverse("vault:staff_document", args=[grant.pk, document.uuid]))
    record(action="auth.login", subject=owner, actor=owner, data={"method": "password"})

    client.force_login(owner)
    page = client.get(reverse("vault:trail")).content.decode()
    staff_section, operations = page.split('id="operations"', 1)
    assert "Paul D., de notre équipe, a consulté « Passeport »" in staff_section
    assert "Vous avez créé un lien de partage pour « Passeport »" in operations
    assert "Quelqu&#x27;un a ouvert votre lien de partage de « Passeport »" in operations
    assert "Chrome sur Windows" in operations
    assert "Un code d&#x27;accès erroné a été saisi" in operations
    assert "Vous avez autorisé L&#x27;équipe support à consulter 1 document(s)" in operations
    assert "Connexion" not in operations  # only the vault's operations


def test_trail_without_staff_access_says_so_and_shows_only_mine(client):
    owner = activated_customer()
    other = activated_customer()
    theirs = document_store(owner=other, title="Relevé d'un autre")
    sharing.share_create(document=theirs, acting_user=other)
    client.force_login(owner)
    page = client.get(reverse("vault:trail")).content.decode()
    assert "a consulté aucun de vos documents." in page
    assert "Relevé d" not in page


def test_trail_is_also_the_vault_filter_of_the_journal(client):
    owner = activated_customer()
    document = document_store(owner=owner, title="Quittance")
    sharing.share_create(document=document, acting_user=owner)
    client.force_login(owner)
    page = client.get(reverse("journal") + "?type=vault").content.decode()
    assert "Vous avez créé un lien de partage pour « Quittance »" in page


def test_trail_requires_login(client):
    response = client.get(reverse("vault:trail"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
