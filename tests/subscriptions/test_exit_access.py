"""No customer sees another's cancellation requests, withdrawals or claims."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from subscriptions import services
from subscriptions.models import CancellationRequest

from .factories import activated

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned_pages():
    """One customer's cancellation request, withdrawal and claim, by URL."""
    cancelled = activated()
    request = services.subscription_cancel(
        subscription=cancelled,
        channel=CancellationRequest.Channel.LOGGED_IN,
        full_name="Camille",
        email=cancelled.customer.email,
        contract_reference=cancelled.reference,
    )
    withdrawn = activated()
    declaration = services.withdrawal_declare(
        subscription=withdrawn, acting_user=withdrawn.customer
    )
    claimed = activated()
    claim = services.satisfaction_claim_submit(customer=claimed.customer, reason="Déçu.")
    return [
        (cancelled.customer, reverse("cancel_request", args=[request.pk])),
        (withdrawn.customer, reverse("withdrawal_declaration", args=[declaration.pk])),
        (claimed.customer, reverse("satisfaction_claim", args=[claim.pk])),
    ]


def test_owners_see_their_own_pages(owned_pages):
    for owner, url in owned_pages:
        client = Client()
        client.force_login(owner)
        assert client.get(url).status_code == 200, url


def test_another_customer_gets_a_404(owned_pages):
    stranger = activated().customer
    client = Client()
    client.force_login(stranger)
    for _owner, url in owned_pages:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Déçu." not in response.content.decode()


def test_anonymous_visitors_are_sent_to_login(owned_pages):
    for _owner, url in owned_pages:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login"))


def test_unknown_ids_are_404_too():
    client = Client()
    client.force_login(activated().customer)
    for name in ("cancel_request", "withdrawal_declaration", "satisfaction_claim"):
        assert client.get(reverse(name, args=[999999])).status_code == 404
