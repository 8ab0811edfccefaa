"""'Satisfait ou remboursé': our commercial promise (CGV article 9), claims and decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from mynetspace.core.errors import DomainError
from subscriptions import services
from subscriptions.models import Refund, SatisfactionClaim, Subscription

from .exit_helpers import email_text, emails
from .factories import activated

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )


def claim_for(subscription, reason="Le service ne correspond pas à mes besoins."):
    return services.satisfaction_claim_submit(customer=subscription.customer, reason=reason)


def test_a_claim_within_thirty_days_of_the_first_payment_is_recorded_and_both_sides_told(
    settings,
):
    subscription = activated(paid_at=timezone.now() - timedelta(days=20))

    claim = claim_for(subscription)

    assert claim.status == SatisfactionClaim.Status.REQUESTED
    assert claim.payment == subscription.payments.get()
    [received] = emails("satisfaction_received")
    [staff_mail] = emails("satisfaction_staff_new")
    assert received.to == [subscription.customer.email]
    assert staff_mail.to == [settings.SUPPORT_EMAIL]
    assert "Le service ne correspond pas" in email_text(staff_mail)
    event = Event.objects.get(action="satisfaction_claim.submitted")
    assert "besoins" not in str(event.data)  # the reason is kept in the claim, hashed here


@pytest.mark.parametrize(
    ("reason", "code"),
    [("", "reason_required"), ("   ", "reason_required"), ("x" * 2001, "reason_too_long")],
)
def test_a_reason_is_required_and_bounded(reason, code):
    subscription = activated()
    with pytest.raises(DomainError) as error:
        claim_for(subscription, reason=reason)
    assert error.value.code == code


def test_after_thirty_days_the_promise_no_longer_applies():
    subscription = activated(paid_at=timezone.now() - timedelta(days=30, minutes=1))
    with pytest.raises(DomainError) as error:
        claim_for(subscription)
    assert error.value.code == "claim_period_over"


def test_one_pending_claim_at_a_time():
    subscription = activated()
    claim_for(subscription)
    with pytest.raises(DomainError) as error:
        claim_for(subscription)
    assert error.value.code == "claim_pending"


def test_a_withdrawn_contract_cannot_also_be_claimed():
    subscription = activated()
    services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)
    with pytest.raises(DomainError) as error:
        claim_for(subscription)
    assert error.value.code == "contract_not_running"


def test_accepting_refunds_the_first_payment_ends_the_contract_and_tells_the_customer(staff):
    subscription = activated()
    claim = claim_for(subscription)

    services.satisfaction_claim_decide(
        claim=claim, acting_user=staff, accept=True, reason="Demande conforme aux conditions."
    )

    claim.refresh_from_db()
    subscription.refresh_from_db()
    assert claim.status == SatisfactionClaim.Status.ACCEPTED
    assert claim.decided_by == staff
    refund = Refund.objects.get(satisfaction_claim=claim)
    assert refund.reason == Refund.Reason.SATISFACTION
    assert refund.amount_cents == 990
    assert refund.status == Refund.Status.APPROVED
    assert subscription.status == Subscription.Status.ENDED
    text = email_text(emails("satisfaction_decision")[0])
    assert "Nous acceptons votre demande" in text
    assert "Demande conforme aux conditions." in text
    event = Event.objects.get(action="satisfaction_claim.accepted")
    assert event.actor_id == staff.pk and event.on_behalf_of_id == subscription.customer_id


def test_the_promise_applies_once_per_customer(staff):
    subscription = activated()
    claim = claim_for(subscription)
    services.satisfaction_claim_decide(claim=claim, acting_user=staff, accept=True, reason="OK")

    with pytest.raises(DomainError) as error:
        services.satisfaction_eligibility(customer=subscription.customer)
    assert error.value.code == "claim_already_accepted"


def test_refusing_needs_a_reason_which_the_customer_receives(staff):
    subscription = activated()
    claim = claim_for(subscription)
    with pytest.raises(DomainError) as error:
        services.satisfaction_claim_decide(claim=claim, acting_user=staff, accept=False, reason="")
    assert error.value.code == "decision_reason_required"

    services.satisfaction_claim_decide(
        claim=claim, acting_user=staff, accept=False, reason="Service utilisé intensivement."
    )

    claim.refresh_from_db()
    subscription.refresh_from_db()
    assert claim.status == SatisfactionClaim.Status.REFUSED
    assert subscription.status == Subscription.Status.ACTIVE
    assert not Refund.objects.exists()
    assert "Service utilisé intensivement." in email_text(emails("satisfaction_decision")[0])


def test_a_claim_is_decided_once_and_only_by_staff(staff):
    subscription = activated()
    claim = claim_for(subscription)
    with pytest.raises(DomainError) as error:
        services.satisfaction_claim_decide(
            claim=claim, acting_user=subscription.customer, accept=True, reason="moi"
        )
    assert error.value.code == "staff_only"
    services.satisfaction_claim_decide(claim=claim, acting_user=staff, accept=False, reason="Non")
    with pytest.raises(DomainError) as error:
        services.satisfaction_claim_decide(
            claim=claim, acting_user=staff, accept=True, reason="Oui"
        )
    assert error.value.code == "claim_decided"


# --- Page ------------------------------------------------------------------------------


def test_the_page_presents_a_commercial_promise_not_the_legal_right():
    body = Client().get("/satisfait-ou-rembourse/").content.decode()

    assert "<h1>Satisfait ou remboursé</h1>" in body
    assert "engagement commercial" in body
    assert "trente jours" in body and "une seule fois par client" in body
    # L121-4: the legal withdrawal right is never presented as part of the offer.
    assert "rétractation" not in body.split("<main")[1].split("</main>")[0].lower()


def test_a_customer_sends_a_claim_from_the_page():
    subscription = activated()
    client = Client()
    client.force_login(subscription.customer)

    response = client.post(
        "/satisfait-ou-rembourse/", {"reason": "Pas ce que j'attendais."}, follow=True
    )

    claim = SatisfactionClaim.objects.get()
    assert response.redirect_chain[-1][0] == reverse("satisfaction_claim", args=[claim.pk])
    assert "Pas ce que j&#x27;attendais." in response.content.decode()


def test_an_empty_reason_gets_a_field_error_on_the_page():
    subscription = activated()
    client = Client()
    client.force_login(subscription.customer)

    response = client.post("/satisfait-ou-rembourse/", {"reason": "   "})

    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert not SatisfactionClaim.objects.exists()
