"""Exclusive access (CPCE L103): a document's URLs answer 404 to anyone but its owner.

The matrix walks every document URL of the documents pages (:data:`DOCUMENT_URLS`,
which the sharing and staff-access pages extend) with GET and POST, as another
customer, an unassigned staff member and an anonymous visitor.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import Event
from tests.vault import corpus
from tests.vault.factories import document_store as stored_document
from tests.vault.pipeline_helpers import login_fresh, vault_customer
from vault import services
from vault.models import Document

pytestmark = pytest.mark.django_db

#: (URL name, whether the document must be in the trash for the owner to reach it).
DOCUMENT_URLS = [
    ("vault:document", False),
    ("vault:document_edit", False),
    ("vault:download", False),
    ("vault:view", False),
    ("vault:document_trash", False),
    ("vault:document_restore", True),
    ("vault:document_destroy", True),
]


@pytest.fixture
def owner():
    return vault_customer()


@pytest.fixture
def document(owner):
    return stored_document(owner=owner, content=corpus.pdf_from_pypdf(), title="Mon passeport Xq")


def as_other_customer(client):
    login_fresh(client, vault_customer())


def as_unassigned_staff(client):
    from accounts.models import User

    staff = User.objects.create_user("equipe@example.test", None, is_staff=True)
    login_fresh(client, staff)


def as_anonymous(client):
    client.logout()


VISITORS = {
    "other-customer": as_other_customer,
    "staff": as_unassigned_staff,
    "anonymous": as_anonymous,
}


@pytest.mark.parametrize("visitor", VISITORS, ids=list(VISITORS))
@pytest.mark.parametrize("name,in_trash", DOCUMENT_URLS, ids=[n for n, _t in DOCUMENT_URLS])
@pytest.mark.parametrize("method", ["get", "post"])
def test_nobody_but_the_owner_reaches_a_document(
    client, owner, document, visitor, name, in_trash, method
):
    if in_trash:
        services.document_trash(document=document, actor=owner)
    VISITORS[visitor](client)
    before = Event.objects.count()

    response = getattr(client, method)(reverse(name, args=[document.uuid]))

    # 405 for a method the view never accepts is as opaque as 404.
    assert response.status_code in (404, 405) if method == "post" else response.status_code == 404
    if method == "get":
        assert response.status_code == 404
    assert Event.objects.count() == before
    document.refresh_from_db()
    assert not document.is_destroyed
    assert document.is_trashed is in_trash


@pytest.mark.parametrize("name,in_trash", DOCUMENT_URLS, ids=[n for n, _t in DOCUMENT_URLS])
def test_the_owner_reaches_every_document_url(client, owner, document, name, in_trash):
    if in_trash:
        services.document_trash(document=document, actor=owner)
    login_fresh(client, owner)

    response = client.get(reverse(name, args=[document.uuid]))

    assert response.status_code in (200, 405)


def test_a_malformed_or_unknown_uuid_is_404(client, owner):
    login_fresh(client, owner)

    assert client.get("/coffre/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/coffre/pas-un-uuid/").status_code == 404


def test_the_list_of_another_customer_shows_nothing_of_mine(client, document):
    as_other_customer(client)

    page = client.get(reverse("vault:documents")).content.decode()

    assert "Mon passeport Xq" not in page
    assert not Document.objects.exclude(owner=document.owner).exists()
