"""``billing_reconcile``: differences between our records and Stripe's, and what it repairs.

Each case loses something on purpose (a webhook never delivered, a call to Stripe
that never happened) and checks that the reconciliation reports it and repairs it
when that is safe, once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from subscriptions import services
from subscriptions.models import ProviderEvent, Subscription
from subscriptions.reconcile import billing_reconcile

from .stripe_scenarios import first_payment, past_time, stripe_order

pytestmark = pytest.mark.django_db


def kinds(report, *, fixed=None) -> list[str]:
    return sorted(d.kind for d in report.differences if fixed is None or d.fixed == fixed)


def active(fake, *, days_ago=2):
    subscription = stripe_order()
    lifecycle = first_payment(fake, subscription, t0=past_time(days_ago))
    for event in lifecycle.events:
        fake.deliver(Client(), event)
    subscription.refresh_from_db()
    return subscription, lifecycle.remote_id


def test_a_paid_checkout_whose_webhooks_were_lost_is_recorded(fake_stripe):
    """GIVEN a customer who paid at Stripe, and no webhook ever reached us
    WHEN the reconciliation runs
    THEN the payment is recorded (subscription active, one invoice), and a second
    run finds nothing more."""
    subscription = stripe_order()
    first_payment(fake_stripe, subscription, t0=past_time(1))

    report = billing_reconcile()

    assert kinds(report, fixed=True) == ["missing_payment"]
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.invoices.count() == 1
    assert billing_reconcile().differences == []


def test_a_lost_renewal_is_recorded(fake_stripe):
    subscription, remote_id = active(fake_stripe, days_ago=31)
    fake_stripe.invoice_pay(remote_id, paid_at=past_time(1))

    report = billing_reconcile()

    assert kinds(report, fixed=True) == ["missing_payment"]
    assert subscription.payments.count() == 2
    assert billing_reconcile().differences == []


def test_local_active_but_ended_at_stripe_follows_stripe(fake_stripe):
    subscription, remote_id = active(fake_stripe, days_ago=40)
    fake_stripe.subscription_end(remote_id, at=past_time(1))

    report = billing_reconcile()

    assert kinds(report, fixed=True) == ["ended_at_provider"]
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert billing_reconcile().differences == []


def test_a_cancellation_that_never_reached_stripe_is_sent_again(fake_stripe):
    """GIVEN a customer cancellation whose call to Stripe was lost (the task never ran)
    THEN the reconciliation tells Stripe to stop renewing."""
    subscription, remote_id = active(fake_stripe)
    services.subscription_cancel(
        subscription=subscription,
        channel="logged_in",
        full_name="Camille Martin",
        email=subscription.customer.email,
        contract_reference=subscription.reference,
        acting_user=subscription.customer,
    )

    report = billing_reconcile()

    assert kinds(report, fixed=True) == ["cancel_not_at_provider"]
    assert fake_stripe.objects["subscription"][remote_id]["cancel_at_period_end"] is True
    assert billing_reconcile().differences == []


def test_an_ended_contract_still_live_at_stripe_is_stopped_there(fake_stripe):
    subscription, remote_id = active(fake_stripe)
    services.subscription_cancel(
        subscription=subscription,
        channel="logged_in",
        full_name="Camille Martin",
        email=subscription.customer.email,
        contract_reference=subscription.reference,
        acting_user=subscription.customer,
    )
    subscription.refresh_from_db()
    services.subscription_end_scheduled(
        subscription=subscription, now=subscription.cancel_at + timedelta(seconds=1)
    )

    report = billing_reconcile()

    assert kinds(report, fixed=True) == ["still_charging"]
    assert fake_stripe.objects["subscription"][remote_id]["status"] == "canceled"
    assert billing_reconcile().differences == []


def test_a_charge_after_the_end_is_reported_not_recorded(fake_stripe):
    """GIVEN a contract that ended here, and Stripe charging it anyway
    THEN the payment is reported for staff (a refund is their decision), and the
    subscription is stopped at Stripe so that it happens no more."""
    subscription, remote_id = active(fake_stripe, days_ago=40)
    services.subscription_cancel(
        subscription=subscription,
        channel="logged_in",
        full_name="Camille Martin",
        email=subscription.customer.email,
        contract_reference=subscription.reference,
        acting_user=subscription.customer,
    )
    subscription.refresh_from_db()
    services.subscription_end_scheduled(
        subscription=subscription, now=subscription.cancel_at + timedelta(seconds=1)
    )
    fake_stripe.invoice_pay(remote_id, paid_at=past_time(1))

    report = billing_reconcile()

    unresolved = [d for d in report.differences if not d.fixed]
    assert [d.kind for d in unresolved] == ["missing_payment"]
    assert "staff must decide" in unresolved[0].detail
    assert subscription.payments.count() == 1
    assert fake_stripe.objects["subscription"][remote_id]["status"] == "canceled"


def test_differences_that_need_a_person_are_only_reported(fake_stripe):
    subscription, remote_id = active(fake_stripe)
    fake_stripe.subscription_set(remote_id, cancel_at_period_end=True)

    report = billing_reconcile()

    assert kinds(report) == ["cancel_only_at_provider"]
    assert kinds(report, fixed=True) == []
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_a_dry_run_changes_nothing(fake_stripe):
    subscription = stripe_order()
    first_payment(fake_stripe, subscription, t0=past_time(1))

    report = billing_reconcile(fix=False)

    assert kinds(report, fixed=False) == ["missing_payment"]
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PENDING_PAYMENT


def test_failed_and_long_parked_events_are_reported(fake_stripe):
    subscription = stripe_order()
    services.subscription_abandon(subscription=subscription, reason="test")
    lifecycle = first_payment(fake_stripe, subscription, t0=past_time(1))
    fake_stripe.deliver(Client(), lifecycle.events[1])  # fails: the order was abandoned

    other = stripe_order()
    paid = first_payment(fake_stripe, other, t0=past_time(3))
    renewal = fake_stripe.invoice_pay(paid.remote_id, paid_at=past_time(1))
    fake_stripe.deliver(Client(), fake_stripe.event("invoice.paid", renewal))  # parked
    assert ProviderEvent.objects.filter(status="received").count() == 1

    report = billing_reconcile(fix=False, now=timezone.now() + timedelta(hours=2))

    assert "events_failed" in kinds(report)
    assert "events_parked" in kinds(report)


def test_the_command_prints_each_difference_and_fails_when_one_is_left(fake_stripe, capsys):
    subscription = stripe_order()
    first_payment(fake_stripe, subscription, t0=past_time(1))

    with pytest.raises(CommandError):
        call_command("billing_reconcile", "--dry-run")
    out = capsys.readouterr().out
    assert "TO CHECK  missing_payment" in out
    assert subscription.reference in out
    assert "(dry run)" in out

    call_command("billing_reconcile")
    assert "repaired  missing_payment" in capsys.readouterr().out
    call_command("billing_reconcile")
    assert "0 difference(s)" in capsys.readouterr().out


def test_the_daily_task_repairs_and_counts_what_is_left(fake_stripe):
    from mynetspace.schedule import BEAT_SCHEDULE
    from subscriptions import tasks

    subscription = stripe_order()
    first_payment(fake_stripe, subscription, t0=past_time(1))

    assert tasks.billing_reconcile() == 0
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    entry = BEAT_SCHEDULE["subscriptions-billing-reconcile"]
    assert entry["task"] == "subscriptions.tasks.billing_reconcile"
    assert entry["schedule"] == 24 * 3600
