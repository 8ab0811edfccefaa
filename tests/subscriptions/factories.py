"""Factories and helpers for the subscriptions tests."""

from __future__ import annotations

from datetime import datetime

import factory
from django.utils import timezone

from accounts.models import User
from subscriptions import services
from subscriptions.models import Payment, Plan, Refund, Subscription

EXPRESS_WORDING = (
    "Je demande que le service commence avant la fin du délai de rétractation et je "
    "reconnais que je perdrai mon droit de rétractation une fois le service pleinement exécuté."
)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"abonne{n}@example.test")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    code = factory.Sequence(lambda n: f"formule-{n}")
    name_fr = factory.Sequence(lambda n: f"Formule {n}")
    name_en = factory.Sequence(lambda n: f"Plan {n}")
    price_ttc_cents = 990
    vat_rate_bp = 2000
    interval = Plan.Interval.MONTH
    requests_per_month = 3
    vault_quota_bytes = 5 * 1024**3


def ordered(*, customer=None, plan=None, express_start: bool = True) -> Subscription:
    """A subscription waiting for its first payment."""
    return services.subscription_order(
        customer=customer or CustomerFactory(),
        plan=plan or PlanFactory(),
        express_start=express_start,
        express_start_wording=EXPRESS_WORDING if express_start else "",
        express_start_version="express-start-v1" if express_start else "",
    )


def activated(
    *, customer=None, plan=None, express_start: bool = True, paid_at: datetime | None = None
) -> Subscription:
    """A paid subscription (first payment received at ``paid_at``, default now)."""
    subscription = ordered(customer=customer, plan=plan, express_start=express_start)
    services.subscription_activate(
        subscription=subscription,
        provider_payment_id=f"pay_{subscription.pk}",
        amount_cents=subscription.plan.price_ttc_cents,
        paid_at=paid_at or timezone.now(),
    )
    subscription.refresh_from_db()
    return subscription


def succeeded_refund(*, payment: Payment, amount_cents: int | None = None) -> Refund:
    """A goodwill refund already carried out (the refund flow itself comes later)."""
    now = timezone.now()
    return Refund.objects.create(
        customer=payment.customer,
        subscription=payment.subscription,
        payment=payment,
        reason=Refund.Reason.GOODWILL,
        status=Refund.Status.SUCCEEDED,
        amount_cents=amount_cents or payment.amount_cents,
        provider=payment.provider,
        succeeded_at=now,
    )
