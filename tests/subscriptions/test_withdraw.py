"""'Renoncer au contrat ici' (L221-18 to L221-28, D221-5): services and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from mynetspace.core.errors import DomainError
from subscriptions import deadlines, services
from subscriptions.models import Refund, Subscription, WithdrawalDeclaration
from subscriptions.money import format_eur

from .exit_helpers import email_is_intact, email_text, emails
from .factories import CustomerFactory, activated

pytestmark = pytest.mark.django_db


def three_days_ago():
    return timezone.now() - timedelta(days=3)


def expected_refund(subscription) -> int:
    payment = subscription.payments.get()
    days = (
        deadlines.local_date(payment.period_end) - deadlines.local_date(payment.period_start)
    ).days
    elapsed = (timezone.localdate() - deadlines.local_date(payment.period_start)).days
    return payment.amount_cents - payment.amount_cents * elapsed // days


def test_withdrawal_with_express_start_refunds_all_but_the_days_supplied():
    subscription = activated(express_start=True, paid_at=three_days_ago())

    declaration = services.withdrawal_declare(
        subscription=subscription, acting_user=subscription.customer
    )

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.WITHDRAWN
    assert subscription.ended_at is not None
    assert declaration.channel == WithdrawalDeclaration.Channel.ONLINE
    assert declaration.computation["days_supplied"] == 3
    assert declaration.refund_cents == expected_refund(subscription) < 990
    refund = declaration.refund
    assert refund.reason == Refund.Reason.WITHDRAWAL
    assert refund.status == Refund.Status.APPROVED
    assert refund.amount_cents == declaration.refund_cents
    assert refund.due_by == declaration.declared_at + timedelta(days=14)


def test_withdrawal_without_express_start_refunds_everything():
    subscription = activated(express_start=False, paid_at=three_days_ago())

    declaration = services.withdrawal_declare(
        subscription=subscription, acting_user=subscription.customer
    )

    assert declaration.refund_cents == declaration.paid_cents == 990
    assert declaration.computation["rule"] == "full_refund_no_express_start"


def test_the_acknowledgement_holds_the_declaration_its_date_and_time():
    subscription = activated(express_start=False)
    declaration = services.withdrawal_declare(
        subscription=subscription, acting_user=subscription.customer
    )

    [email] = emails("withdrawal_ack")
    text = " ".join(email_text(email).split())
    declared = timezone.localtime(declaration.declared_at)
    assert email.to == [subscription.customer.email]
    assert email_is_intact(email)
    assert " ".join(declaration.content.split()) in text
    assert "Je vous notifie par la présente ma rétractation" in text
    assert declared.strftime("%H:%M:%S") in text
    assert f"le {declared.day} " in text
    assert "montant remboursé : 9,90" in text


def test_after_the_deadline_withdrawal_is_refused():
    subscription = activated(paid_at=timezone.now() - timedelta(days=20))
    with pytest.raises(DomainError) as error:
        services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)
    assert error.value.code == "withdrawal_period_over"
    assert not WithdrawalDeclaration.objects.exists()


def test_a_changed_amount_is_shown_again_before_anything_happens():
    subscription = activated(express_start=True, paid_at=three_days_ago())
    with pytest.raises(DomainError) as error:
        services.withdrawal_declare(
            subscription=subscription,
            acting_user=subscription.customer,
            expected_refund_cents=1,
        )
    assert error.value.code == "amount_changed"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_a_contract_is_withdrawn_only_once_and_only_by_its_customer():
    subscription = activated()
    with pytest.raises(DomainError) as error:
        services.withdrawal_declare(subscription=subscription, acting_user=CustomerFactory())
    assert error.value.code == "not_owner"

    services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)
    with pytest.raises(DomainError):
        services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)
    assert WithdrawalDeclaration.objects.count() == 1


def test_withdrawing_a_scheduled_cancellation_is_possible():
    subscription = activated()
    services.subscription_cancel(
        subscription=subscription,
        channel="logged_in",
        full_name="C",
        email=subscription.customer.email,
        contract_reference=subscription.reference,
    )
    subscription.refresh_from_db()

    services.withdrawal_declare(subscription=subscription, acting_user=subscription.customer)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.WITHDRAWN


def test_staff_record_a_withdrawal_received_by_post_with_the_same_effect(django_user_model):
    staff = django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )
    subscription = activated(express_start=False, paid_at=timezone.now() - timedelta(days=10))
    sent = timezone.now() - timedelta(days=3)
    received = timezone.now() - timedelta(days=1)

    declaration = services.withdrawal_record_by_staff(
        subscription=subscription,
        acting_user=staff,
        channel="post",
        declared_at=sent,
        received_at=received,
        content="Je me rétracte. Camille Martin, contrat " + subscription.reference,
    )

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.WITHDRAWN
    assert declaration.recorded_by == staff
    assert declaration.refund.due_by == received + timedelta(days=14)
    event = Event.objects.get(action="withdrawal.declared")
    assert event.actor_type == "staff" and event.actor_id == staff.pk
    assert event.on_behalf_of_id == subscription.customer_id
    assert "courrier" in email_text(emails("withdrawal_ack")[0])


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"channel": "online"}, "invalid_channel"),
        ({"content": "  "}, "content_required"),
        ({"declared_at_days": -1}, "date_in_future"),
        ({"received_at_days": 5}, "received_before_sent"),
        ({"declared_at_days": 30, "received_at_days": 0}, "declared_before_contract"),
        ({"paid_days": 20}, "withdrawal_period_over"),
    ],
)
def test_staff_recording_checks_its_input(django_user_model, overrides, code):
    staff = django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )
    paid_days = overrides.pop("paid_days", 2)
    subscription = activated(paid_at=timezone.now() - timedelta(days=paid_days))
    now = timezone.now()
    values = {
        "subscription": subscription,
        "acting_user": staff,
        "channel": "email",
        "declared_at": now - timedelta(days=overrides.pop("declared_at_days", 1)),
        "received_at": now - timedelta(days=overrides.pop("received_at_days", 0)),
        "content": "Je me rétracte.",
    }
    values.update(overrides)
    with pytest.raises(DomainError) as error:
        services.withdrawal_record_by_staff(**values)
    assert error.value.code == code
    assert not WithdrawalDeclaration.objects.exists()


def test_customers_cannot_record_for_staff():
    subscription = activated()
    with pytest.raises(DomainError) as error:
        services.withdrawal_record_by_staff(
            subscription=subscription,
            acting_user=subscription.customer,
            channel="email",
            declared_at=timezone.now(),
            received_at=timezone.now(),
            content="x",
        )
    assert error.value.code == "staff_only"


# --- Pages -----------------------------------------------------------------------------


def _client(customer) -> Client:
    client = Client()
    client.force_login(customer)
    return client


def test_the_page_shows_the_deadline_and_the_amount_before_confirming():
    subscription = activated(express_start=True, paid_at=three_days_ago())
    page = _client(subscription.customer).get("/retractation/").content.decode()

    assert "<h1>Renoncer au contrat ici</h1>" in page
    assert format_eur(expected_refund(subscription)) in page
    assert "3 jour(s) sur les" in page
    assert "Confirmer la rétractation" in page
    last_day = deadlines.withdrawal_last_day(deadlines.local_date(subscription.concluded_at))
    assert f"{last_day.day} " in page and str(last_day.year) in page
    assert not WithdrawalDeclaration.objects.exists()


def test_confirming_withdraws_and_shows_the_acknowledgement():
    subscription = activated(express_start=False)
    client = _client(subscription.customer)

    response = client.post("/retractation/", {"expected_refund_cents": "990"}, follow=True)

    declaration = WithdrawalDeclaration.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "withdrawal_declaration", args=[declaration.pk]
    )
    assert "Votre rétractation est enregistrée" in response.content.decode()


def test_after_the_deadline_the_page_says_so_and_points_to_cancellation():
    subscription = activated(paid_at=timezone.now() - timedelta(days=20))
    page = _client(subscription.customer).get("/retractation/").content.decode()

    assert "Le délai de rétractation a pris fin le" in page
    assert 'href="/resilier/"' in page
    assert "Confirmer la rétractation" not in page


def test_logged_out_visitors_get_the_explanation_the_login_link_and_the_form():
    page = Client().get("/retractation/").content.decode()

    assert "<h1>Renoncer au contrat ici</h1>" in page
    assert "/accounts/login/?next=/retractation/" in page
    assert "formulaire de rétractation" in page


@pytest.mark.parametrize(
    "posted", [{}, {"expected_refund_cents": "-3"}, {"expected_refund_cents": "x"}]
)
def test_bad_confirmations_change_nothing(posted):
    subscription = activated()
    response = _client(subscription.customer).post("/retractation/", posted, follow=True)
    assert response.status_code == 200
    assert not WithdrawalDeclaration.objects.exists()


def test_the_dashboard_shows_the_withdrawal_function_during_the_period_only():
    within = activated(paid_at=three_days_ago())
    after = activated(paid_at=timezone.now() - timedelta(days=20))

    assert "Renoncer au contrat ici" in _client(within.customer).get("/espace/").content.decode()
    assert "Renoncer au contrat ici" not in _client(after.customer).get("/espace/").content.decode()
