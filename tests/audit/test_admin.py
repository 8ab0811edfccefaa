"""The back office shows evidence and can never add, change or delete it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit import services
from audit.models import Chain, Checkpoint, ContentVersion, Event, InboundEmail, OutboundEmail
from tests.fixtures.staff import staff_force_login

from .factories import UserFactory, small_log

pytestmark = pytest.mark.django_db

MODELS = [Event, Chain, Checkpoint, OutboundEmail, InboundEmail, ContentVersion]


@pytest.fixture
def admin_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    staff_force_login(client, admin)  # staff pages require a second factor
    small_log(customers=1, events_per_customer=2)
    services.checkpoint_create()
    return client


def _url(model, view, *args):
    return reverse(f"admin:audit_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS)
def test_lists_and_details_render_read_only(admin_client, model):
    obj = model.objects.order_by("pk").first()
    changelist = admin_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    detail = admin_client.get(_url(model, "change", obj.pk))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert admin_client.get(_url(model, "add")).status_code == 403
    assert admin_client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_email_list_shows_size_and_hash_not_the_message(admin_client):
    email = OutboundEmail.objects.get()
    page = admin_client.get(_url(OutboundEmail, "changelist")).content.decode()
    assert email.sha256[:12] in page
    assert str(len(email.raw)) in page
    assert "Corps." not in page
    detail = admin_client.get(_url(OutboundEmail, "change", email.pk)).content.decode()
    assert "Subject: Bonjour" in detail
    assert "Corps." in detail


def test_event_search_by_chain(admin_client):
    user = UserFactory()
    services.record(action="test.findme", subject=user)
    page = admin_client.get(_url(Event, "changelist"), {"q": f"user:{user.pk}"})
    assert "test.findme" in page.content.decode()
