"""Access matrix over the URLs of sharing, staff grants and the staff reading view.

For each URL that takes an object id: the owner reaches it; another customer, a
support agent without a grant, a compliance officer and an anonymous visitor never
get data: 404 (anonymous: the login page), and a POST changes nothing. Everyone but
the anonymous visitor has an activated vault of their own, so that the answer comes
from the object check and not from the activation gate.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from tests.fixtures.staff import staff_force_login
from tests.vault.access_helpers import (
    activate_vault,
    activated_customer,
    compliance_officer,
    support_agent,
)
from tests.vault.factories import document_store
from vault import grants, sharing
from vault.models import ShareLink, StaffGrantRevocation, StaffGrantTeam

pytestmark = pytest.mark.django_db

SECRET = b"%PDF-1.4 contenu confidentiel 7f3a"


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world():
    owner = activated_customer()
    document = document_store(owner=owner, content=SECRET, title="Titre confidentiel")
    link, _token = sharing.share_create(document=document, acting_user=owner)
    agent_with_grant = support_agent()
    grant = grants.grant_create(
        owner=owner,
        documents=[document],
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(days=2),
        grantee=agent_with_grant,
    )
    return {"owner": owner, "document": document, "link": link, "grant": grant}


def urls(world):
    d, link, grant = world["document"], world["link"], world["grant"]
    return [
        ("get", reverse("vault:share", args=[d.uuid])),
        ("post", reverse("vault:share", args=[d.uuid])),
        ("get", reverse("vault:share_detail", args=[link.pk])),
        ("post", reverse("vault:share_revoke", args=[link.pk])),
        ("get", reverse("vault:grant", args=[grant.pk])),
        ("post", reverse("vault:grant_revoke", args=[grant.pk])),
        ("get", reverse("vault:staff_grant", args=[grant.pk])),
        ("get", reverse("vault:staff_document", args=[grant.pk, d.uuid])),
    ]


def login_as(client, role):
    client.logout()
    if role == "anonymous":
        return None
    if role == "other_customer":
        person = activated_customer()
        client.force_login(person)
        return person
    person = support_agent() if role == "unassigned_agent" else compliance_officer()
    activate_vault(person)
    staff_force_login(client, person)
    return person


@pytest.mark.parametrize(
    "role", ["other_customer", "unassigned_agent", "compliance_officer", "anonymous"]
)
def test_a_foreign_object_is_never_data(client, world, role):
    login_as(client, role)
    for method, url in urls(world):
        response = getattr(client, method)(url, {"days": "7"} if method == "post" else None)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert SECRET not in body, url
        assert b"Titre confidentiel" not in body, url
        if role == "anonymous" and "/equipe/" not in url:
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url
        else:
            assert response.status_code == 404, (url, response.status_code)
    # Nothing changed: no new link, nothing revoked, no staff access recorded.
    assert ShareLink.objects.count() == 1
    assert ShareLink.objects.get().revoked_at is None
    assert not StaffGrantRevocation.objects.exists()
    assert not Event.objects.filter(action="vault.staff_access").exists()


def test_the_owner_reaches_every_customer_page(client, world):
    client.force_login(world["owner"])
    d, link, grant = world["document"], world["link"], world["grant"]
    for url in (
        reverse("vault:share", args=[d.uuid]),
        reverse("vault:share_detail", args=[link.pk]),
        reverse("vault:share_list"),
        reverse("vault:grant", args=[grant.pk]),
        reverse("vault:grants"),
        reverse("vault:trail"),
        reverse("vault:export"),
    ):
        assert client.get(url).status_code == 200, url
    # The staff pages are not the customer's, even for their own grant.
    assert client.get(reverse("vault:staff_grant", args=[grant.pk])).status_code == 404


def test_team_grant_is_not_a_pass_for_other_staff_roles(client, world):
    grant = grants.grant_create(
        owner=world["owner"],
        documents=[world["document"]],
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(days=1),
        team=StaffGrantTeam.SUPPORT,
    )
    login_as(client, "compliance_officer")
    url = reverse("vault:staff_document", args=[grant.pk, world["document"].uuid])
    assert client.get(url).status_code == 404
