"""Stripe test scenarios: a subscription ordered with the Stripe provider, paid at the
local fake of Stripe, and the events Stripe would send along its life."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from audit.models import Event
from subscriptions import services
from subscriptions.models import Invoice, Payment, Plan, ProviderEvent, Subscription
from subscriptions.plans import plans_ensure
from tests.fakes.stripe_server import FakeStripe, fake_stripe_settings

from .factories import EXPRESS_WORDING, CustomerFactory

DAY = 86400


@pytest.fixture
def fake_stripe(settings):
    """The local fake of Stripe's API, with the provider's settings pointing at it."""
    fake = FakeStripe()
    fake.start()
    fake_stripe_settings(settings, fake)
    yield fake
    fake.stop()


def stripe_order(*, customer=None, plan_code: str = "mensuel", express_start=True):
    """A Stripe subscription waiting for payment, with its Checkout Session opened."""
    plans_ensure(Plan)  # transactional tests flush the seeded plans
    subscription = services.subscription_order(
        customer=customer or CustomerFactory(),
        plan=Plan.objects.get(code=plan_code),
        express_start=express_start,
        express_start_wording=EXPRESS_WORDING if express_start else "",
        express_start_version="express-start-v1" if express_start else "",
        provider="stripe",
    )
    services.subscription_checkout_start(
        subscription=subscription, success_url="/abonnement/", cancel_url="/abonnement/"
    )
    subscription.refresh_from_db()
    return subscription


@dataclass
class Lifecycle:
    subscription: Subscription
    remote_id: str
    events: list[dict]


def six_event_lifecycle(fake: FakeStripe, subscription: Subscription, *, t0: int) -> Lifecycle:
    """Paid, end date chosen beyond the first period, renewed, end taken back, ended.

    1. checkout.session.completed   (day 0)
    2. invoice.paid, first invoice  (day 0)
    3. customer.subscription.updated, cancel_at = day 45 (day 10)
    4. invoice.paid, renewal        (day 30)
    5. customer.subscription.updated, cancel_at removed (day 35)
    6. customer.subscription.deleted (day 63, after the second paid period)
    """
    paid = fake.checkout_pay(subscription.provider_checkout_id, paid_at=t0)
    remote_id = paid["subscription"]["id"]
    events = [
        fake.event("checkout.session.completed", paid["session"], created=t0 + 1),
        fake.event("invoice.paid", paid["invoice"], created=t0 + 2),
    ]
    scheduled = fake.subscription_set(remote_id, cancel_at=t0 + 45 * DAY, canceled_at=t0 + 10 * DAY)
    events.append(fake.event("customer.subscription.updated", scheduled, created=t0 + 10 * DAY))
    renewal = fake.invoice_pay(remote_id, paid_at=t0 + 30 * DAY)
    events.append(fake.event("invoice.paid", renewal, created=t0 + 30 * DAY + 1))
    resumed = fake.subscription_set(remote_id, cancel_at=None, canceled_at=None)
    events.append(fake.event("customer.subscription.updated", resumed, created=t0 + 35 * DAY))
    ended = fake.subscription_end(remote_id, at=t0 + 63 * DAY)
    events.append(fake.event("customer.subscription.deleted", ended, created=t0 + 63 * DAY))
    return Lifecycle(subscription, remote_id, events)


def first_payment(fake: FakeStripe, subscription: Subscription, *, t0: int) -> Lifecycle:
    """The customer pays at ``t0``: checkout.session.completed and invoice.paid."""
    paid = fake.checkout_pay(subscription.provider_checkout_id, paid_at=t0)
    events = [
        fake.event("checkout.session.completed", paid["session"], created=t0 + 1),
        fake.event("invoice.paid", paid["invoice"], created=t0 + 2),
    ]
    return Lifecycle(subscription, paid["subscription"]["id"], events)


def past_time(days: int) -> int:
    return int(time.time()) - days * DAY


def business_state(subscription: Subscription) -> dict:
    """Everything about a subscription that a customer, an accountant or a judge
    would read: its state and dates, its payments and its invoices."""
    s = Subscription.objects.get(pk=subscription.pk)
    return {
        "status": s.status,
        "cancel_at": s.cancel_at,
        "ended_at": s.ended_at,
        "concluded_at": s.concluded_at,
        "withdrawal_deadline": s.withdrawal_deadline,
        "service_starts_at": s.service_starts_at,
        "period": (s.current_period_start, s.current_period_end),
        "provider_ids": (s.provider_customer_id, s.provider_subscription_id),
        "payments": sorted(
            Payment.objects.filter(subscription=s).values_list(
                "provider_payment_id",
                "kind",
                "status",
                "amount_cents",
                "period_start",
                "period_end",
                "paid_at",
            )
        ),
        "invoices": sorted(
            Invoice.objects.filter(subscription=s).values_list(
                "payment__provider_payment_id", "total_ttc_cents"
            )
        ),
    }


def actions(subscription: Subscription, *names: str) -> list[str]:
    return list(
        Event.objects.filter(
            chain_key=f"user:{subscription.customer_id}", action__in=names
        ).values_list("action", flat=True)
    )


def stored_events() -> int:
    return ProviderEvent.objects.filter(provider="stripe").count()
