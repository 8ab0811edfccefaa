"""The back office shows every subscriptions table, read-only."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from subscriptions import services

from .factories import activated, succeeded_refund

pytestmark = pytest.mark.django_db


def _request(user, path="/admin/"):
    request = RequestFactory().get(path)
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_every_model_is_registered_and_read_only(django_user_model):
    staff = django_user_model.objects.create_superuser(email="chef@example.test", password="x")
    request = _request(staff)
    for model in apps.get_app_config("subscriptions").get_models():
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, model
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model


def test_lists_and_detail_pages_render(django_user_model):
    """GIVEN a paid subscription with an invoice, a credit note and a provider event
    WHEN staff open each list and each detail page THEN every page renders."""
    staff = django_user_model.objects.create_superuser(email="chef@example.test", password="x")
    subscription = activated()
    refund = succeeded_refund(payment=subscription.payments.get())
    services.credit_note_issue(refund=refund)
    from subscriptions.providers import simulated

    parsed = simulated.event_build(type="other", data={})
    services.provider_event_store(
        provider="simulated", event_id=parsed.event_id, type="other", raw_body=parsed.raw_body
    )

    for model in apps.get_app_config("subscriptions").get_models():
        model_admin = admin.site._registry[model]
        response = model_admin.changelist_view(_request(staff))
        assert response.status_code == 200, model
        response.render()
        row = model.objects.first()
        if row is not None:
            detail = model_admin.change_view(_request(staff), str(row.pk))
            assert detail.status_code == 200, model
            detail.render()
