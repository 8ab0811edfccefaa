"""Entitlements: the one answer to "what may this customer use now?"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from subscriptions import selectors, services
from subscriptions.models import Subscription

from .factories import CustomerFactory, PlanFactory, activated, ordered

pytestmark = pytest.mark.django_db


def test_nobody_and_strangers_have_nothing():
    for user in (None, AnonymousUser(), CustomerFactory()):
        rights = selectors.entitlements_for(user)
        assert (rights.active, rights.reason, rights.vault_quota_bytes) == (False, "none", 0)


def test_an_unpaid_order_gives_nothing_yet():
    subscription = ordered()
    rights = selectors.entitlements_for(subscription.customer)
    assert (rights.active, rights.reason, rights.requests_per_month) == (
        False,
        "pending_payment",
        0,
    )


def test_an_active_subscription_gives_the_plan_features(django_assert_num_queries):
    plan = PlanFactory(requests_per_month=7, vault_quota_bytes=123456789)
    subscription = activated(plan=plan, express_start=True)
    customer = subscription.customer

    with django_assert_num_queries(1):
        rights = selectors.entitlements_for(customer)

    assert rights.active is True
    assert rights.reason == "active"
    assert rights.plan == plan
    assert (rights.requests_per_month, rights.vault_quota_bytes) == (7, 123456789)
    assert rights.ends_at == subscription.current_period_end


def test_without_express_start_the_service_waits_for_the_end_of_the_withdrawal_period():
    """GIVEN a paid order without express start (L221-25) WHEN entitlements are read
    during the 14 days THEN nothing is available yet; once the period is over, the plan is."""
    subscription = activated(express_start=False)

    during = selectors.entitlements_for(subscription.customer)
    after = selectors.entitlements_for(
        subscription.customer, now=subscription.withdrawal_deadline + timedelta(seconds=1)
    )

    assert (during.active, during.reason) == (False, "not_started")
    assert during.starts_at == subscription.withdrawal_deadline
    assert (after.active, after.vault_quota_bytes) == (True, subscription.plan.vault_quota_bytes)


def test_a_scheduled_cancellation_keeps_access_until_its_date():
    subscription = activated()
    cancel_at = subscription.current_period_end
    Subscription.objects.filter(pk=subscription.pk).update(
        status=Subscription.Status.CANCEL_SCHEDULED, cancel_at=cancel_at
    )

    before = selectors.entitlements_for(subscription.customer, now=cancel_at - timedelta(hours=1))
    after = selectors.entitlements_for(subscription.customer, now=cancel_at)

    assert (before.active, before.reason, before.ends_at) == (True, "cancel_scheduled", cancel_at)
    assert after.active is False


def test_past_due_keeps_access_while_the_provider_retries():
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)

    rights = selectors.entitlements_for(subscription.customer)

    assert (rights.active, rights.past_due) == (True, True)


@pytest.mark.parametrize("status", ["ended", "withdrawn", "abandoned"])
def test_a_closed_subscription_gives_nothing(status):
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(status=status, ended_at=timezone.now())

    assert selectors.subscription_current_for(subscription.customer) is None
    assert selectors.entitlements_for(subscription.customer).active is False


def test_lists_belong_to_their_customer_only():
    mine, theirs = activated(), activated()
    services.subscription_renew(
        subscription=mine,
        provider_payment_id="renew",
        amount_cents=990,
        paid_at=mine.current_period_end,
    )

    assert [s.pk for s in selectors.subscription_list_for(mine.customer)] == [mine.pk]
    numbers = [i.number for i in selectors.invoice_list_for(mine.customer)]
    assert len(numbers) == 2
    assert theirs.invoices.get().number not in numbers
