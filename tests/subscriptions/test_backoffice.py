"""The back office acts only through services, and each action is evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from subscriptions import services
from subscriptions.models import Refund, SatisfactionClaim, Subscription, WithdrawalDeclaration
from tests.fixtures.staff import staff_force_login

from .factories import activated

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(django_user_model):
    user = django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def agent_client(agent):
    client = Client()
    staff_force_login(client, agent)
    return client


def test_staff_record_a_withdrawal_received_by_email(agent, agent_client):
    subscription = activated(express_start=False, paid_at=timezone.now() - timedelta(days=5))
    url = reverse("admin:subscriptions_subscription_withdrawal", args=[subscription.pk])
    sent = timezone.localtime(timezone.now() - timedelta(days=1))

    assert agent_client.get(url).status_code == 200
    response = agent_client.post(
        url,
        {
            "channel": "email",
            "declared_at": sent.strftime("%Y-%m-%dT%H:%M"),
            "received_at": sent.strftime("%Y-%m-%dT%H:%M"),
            "content": "Bonjour, je renonce à mon abonnement. Camille Martin",
        },
    )

    declaration = WithdrawalDeclaration.objects.get()
    assert response.status_code == 302
    assert declaration.recorded_by == agent
    assert declaration.channel == "email"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.WITHDRAWN
    event = Event.objects.get(action="withdrawal.declared")
    assert (event.actor_type, event.actor_id) == ("staff", agent.pk)


def test_a_refused_staff_recording_shows_the_reason_and_changes_nothing(agent_client):
    subscription = activated(paid_at=timezone.now() - timedelta(days=30))
    url = reverse("admin:subscriptions_subscription_withdrawal", args=[subscription.pk])
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")

    response = agent_client.post(
        url, {"channel": "post", "declared_at": now, "received_at": now, "content": "Je renonce."}
    )

    assert response.status_code == 200
    assert "quatorze jours est écoulé" in response.content.decode()
    assert not WithdrawalDeclaration.objects.exists()


def test_staff_decide_a_claim_with_a_reason(agent, agent_client):
    subscription = activated()
    claim = services.satisfaction_claim_submit(customer=subscription.customer, reason="Déçu.")
    url = reverse("admin:subscriptions_satisfactionclaim_decide", args=[claim.pk])

    missing = agent_client.post(url, {"decision": "accept", "reason": ""})
    assert missing.status_code == 200
    claim.refresh_from_db()
    assert claim.status == SatisfactionClaim.Status.REQUESTED

    agent_client.post(url, {"decision": "accept", "reason": "Conditions remplies."})

    claim.refresh_from_db()
    assert claim.status == SatisfactionClaim.Status.ACCEPTED
    assert claim.decided_by == agent
    assert Refund.objects.get(satisfaction_claim=claim).amount_cents == 990


def test_staff_cancel_on_the_customers_behalf_with_a_reason(agent_client):
    subscription = activated()
    changelist = reverse("admin:subscriptions_subscription_changelist")
    data = {"action": "cancel_at_period_end", "_selected_action": [subscription.pk]}

    form_page = agent_client.post(changelist, data)
    assert form_page.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE

    agent_client.post(changelist, {**data, "apply": "1", "reason": "Appel du client le 3 mars."})

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    event = Event.objects.get(action="subscription.cancelled_by_staff")
    assert event.data["reason"] == "Appel du client le 3 mars."


def test_staff_retry_a_failed_refund(agent_client):
    subscription = activated()
    refund = services.withdrawal_declare(
        subscription=subscription, acting_user=subscription.customer
    ).refund
    services.refund_mark_failed(refund=refund, reason="card_closed")

    agent_client.post(
        reverse("admin:subscriptions_refund_changelist"),
        {"action": "retry", "_selected_action": [refund.pk]},
    )

    refund.refresh_from_db()
    assert refund.status in (Refund.Status.APPROVED, Refund.Status.SENT, Refund.Status.SUCCEEDED)
    assert Event.objects.filter(action="refund.approved", target_id=str(refund.pk)).count() == 2


def test_withdrawals_awaiting_refund_are_listed_oldest_first(agent_client):
    older, newer, done = activated(), activated(), activated()
    for subscription in (older, newer, done):
        services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)
    done_refund = Refund.objects.get(subscription=done)
    services.refund_mark_succeeded(refund=done_refund, provider_refund_id="re_x")

    response = agent_client.get(
        reverse("admin:subscriptions_withdrawaldeclaration_changelist") + "?remboursement=attente"
    )

    listed = [row.subscription for row in response.context["cl"].result_list]
    assert listed == [older, newer]
    assert "(L221-24)" in response.content.decode()


def test_staff_without_the_permission_cannot_act(django_user_model):
    outsider = django_user_model.objects.create_user(
        email="stagiaire@example.test", password="x", is_staff=True
    )
    client = Client()
    staff_force_login(client, outsider)
    subscription = activated()
    url = reverse("admin:subscriptions_subscription_withdrawal", args=[subscription.pk])

    assert client.get(url).status_code == 403
    assert not WithdrawalDeclaration.objects.exists()


def test_customers_never_reach_the_back_office():
    subscription = activated()
    client = Client()
    client.force_login(subscription.customer)
    url = reverse("admin:subscriptions_subscription_withdrawal", args=[subscription.pk])

    response = client.get(url)

    assert response.status_code in (302, 403)
    assert not WithdrawalDeclaration.objects.exists()
