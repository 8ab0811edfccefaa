"""Compare our Stripe subscriptions with Stripe's records (``manage.py billing_reconcile``).

Webhooks can be lost (an endpoint down for longer than Stripe retries, an event
type not enabled) and provider calls can fail after our commit (a cancellation
that never reached Stripe). Once a day (``schedule.py``) and on demand, this walks
the Stripe subscriptions that are open, or closed recently, and reports every
difference. With ``fix=True`` it repairs what is safe, through the same services
as the webhooks, so each repair is an audited state change:

========================  =========================================  ======================
difference                meaning                                    repaired
========================  =========================================  ======================
``missing_payment``       Stripe holds a paid invoice we never       yes: recorded (activate
                          recorded                                   or renew, invoice issued)
``ended_at_provider``     open here, canceled at Stripe              yes: the provider's end
                                                                     is applied
``still_charging``        ended or withdrawn here, still live at     yes: canceled at Stripe
                          Stripe (it would charge again)             (never charges more)
``cancel_not_at_provider`` cancellation scheduled here, Stripe still  yes: Stripe told to stop
                          renewing                                   at the period end
``cancel_only_at_provider`` active here, Stripe set to stop          no: reported (who asked?)
``payment_not_at_provider`` a payment we recorded is not a paid      no: reported
                          invoice at Stripe
``amount_differs``        a payment's amount is not the plan's       no: reported
``events_failed``         stored events whose processing failed      no: reported
``events_parked``         events waiting more than an hour for an    replayed when the
                          earlier one                                subscription is active
========================  =========================================  ======================

Nothing that moves money towards us, or takes a decision that belongs to the
customer or to staff, is ever repaired automatically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mynetspace.core.errors import DomainError

from .models import Payment, ProviderEvent, Subscription
from .providers import get_provider
from .providers import stripe as stripe_provider

logger = logging.getLogger(__name__)

#: Subscriptions closed within this many days are still compared (late charges).
RECENT_DAYS = 40
PARKED_AFTER = timedelta(hours=1)


@dataclass
class Difference:
    kind: str
    reference: str
    detail: str
    fixed: bool = False


@dataclass
class Report:
    checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, subscription, detail: str, fixed: bool = False) -> None:
        reference = subscription.reference if subscription is not None else "-"
        self.differences.append(Difference(kind, reference, detail, fixed))

    @property
    def unresolved(self) -> list[Difference]:
        return [d for d in self.differences if not d.fixed]


def _candidates(now, days: int):
    return (
        Subscription.objects.filter(provider=stripe_provider.NAME)
        .exclude(provider_subscription_id="")
        .filter(
            Q(status__in=Subscription.OPEN_STATUSES) | Q(ended_at__gte=now - timedelta(days=days))
        )
        .select_related("plan")
        .order_by("pk")
    )


def _pending_checkouts(now):
    return Subscription.objects.filter(
        provider=stripe_provider.NAME,
        status=Subscription.Status.PENDING_PAYMENT,
        provider_subscription_id="",
        created_at__gte=now - timedelta(days=2),
    ).exclude(provider_checkout_id="")


def billing_reconcile(*, fix: bool = True, days: int = RECENT_DAYS, now=None) -> Report:
    """Compare, report, and (``fix``) repair what is safe; see the module docstring."""
    now = now or timezone.now()
    provider = get_provider(stripe_provider.NAME)
    report = Report()
    for subscription in _pending_checkouts(now):
        report.checked += 1
        try:
            _reconcile_checkout(provider, subscription, report, fix=fix)
        except DomainError as exc:
            report.errors.append(f"{subscription.reference}: {exc.code}")
    for subscription in _candidates(now, days):
        report.checked += 1
        try:
            _reconcile_one(provider, subscription, report, fix=fix)
        except DomainError as exc:
            report.errors.append(f"{subscription.reference}: {exc.code}")
    _events(report, now=now, fix=fix)
    for difference in report.unresolved:
        logger.warning("billing_reconcile: %s %s (%s)", difference.kind, difference.reference,
                       difference.detail)  # fmt: skip
    return report


def _record_invoice(subscription, invoice: dict, *, fix: bool, report: Report) -> None:
    detail = (
        f"invoice {invoice['id']} ({invoice.get('billing_reason')}, "
        f"{invoice.get('amount_paid')} cents)"
    )
    fixed = False
    if fix:
        try:
            with transaction.atomic():
                locked = stripe_provider._lock(subscription)
                outcome = stripe_provider._apply_paid_invoice(
                    locked, invoice, created=timezone.now(), meta=None
                )
            fixed = outcome.status == ProviderEvent.Status.PROCESSED
            if outcome.detail.startswith(stripe_provider.ACTIVATED):
                stripe_provider.parked_events_replay(subscription_id=subscription.pk)
            if not fixed:
                detail += f": {outcome.detail}"
        except DomainError as exc:
            detail += f": not recorded ({exc.code}), staff must decide (refund?)"
    report.add("missing_payment", subscription, detail, fixed)


def _reconcile_checkout(provider, subscription, report: Report, *, fix: bool) -> None:
    session = provider.remote_checkout(subscription.provider_checkout_id)
    invoice_id = stripe_provider._id(session.get("invoice"))
    paid = session.get("payment_status") == "paid" and invoice_id
    if paid and not stripe_provider._recorded(invoice_id):
        invoice = provider.remote_invoice(invoice_id)
        _record_invoice(subscription, invoice, fix=fix, report=report)


def _reconcile_one(provider, subscription, report: Report, *, fix: bool) -> None:
    from . import services

    remote = provider.remote_subscription(subscription.provider_subscription_id)
    paid = provider.remote_paid_invoices(subscription.provider_subscription_id)
    paid.sort(key=lambda i: ((i.get("status_transitions") or {}).get("paid_at") or 0, i["id"]))
    # Payments first: the state of a subscription depends on what was paid.
    for invoice in paid:
        if not stripe_provider._recorded(invoice["id"]):
            _record_invoice(subscription, invoice, fix=fix, report=report)
    subscription.refresh_from_db()
    remote_paid_ids = {invoice["id"] for invoice in paid}
    for payment in Payment.objects.filter(subscription=subscription, provider="stripe"):
        if payment.provider_payment_id not in remote_paid_ids:
            report.add("payment_not_at_provider", subscription, payment.provider_payment_id)
        if payment.amount_cents != subscription.plan.price_ttc_cents:
            report.add(
                "amount_differs",
                subscription,
                f"{payment.provider_payment_id}: {payment.amount_cents} paid, "
                f"plan {subscription.plan.price_ttc_cents}",
            )
    state = stripe_provider.RemoteState.of(remote)
    remote_live = remote.get("status") not in ("canceled", "incomplete_expired")
    if subscription.is_open and subscription.status != Subscription.Status.PENDING_PAYMENT:
        if state.ended:
            fixed = False
            if fix:
                services.subscription_provider_state_apply(
                    subscription=subscription,
                    cancel_at=subscription.cancel_at,
                    ended_at=state.ended_at or timezone.now(),
                    provider_event_id="reconcile",
                )
                fixed = True
            report.add("ended_at_provider", subscription, f"Stripe: {remote.get('status')}", fixed)
        elif subscription.status == Subscription.Status.CANCEL_SCHEDULED and not (
            state.cancel_at_period_end or state.cancel_at
        ):
            if fix:
                provider.cancel_at_period_end(subscription)
            report.add("cancel_not_at_provider", subscription, "Stripe still renews", fix)
        elif subscription.status == Subscription.Status.ACTIVE and (
            state.cancel_at_period_end or state.cancel_at
        ):
            report.add("cancel_only_at_provider", subscription, "Stripe set to stop")
    elif not subscription.is_open and remote_live:
        if fix:
            provider.cancel_now(subscription)
        report.add(
            "still_charging", subscription, f"{subscription.status} here, live at Stripe", fix
        )


def _events(report: Report, *, now, fix: bool) -> None:
    from . import services

    failed = ProviderEvent.objects.filter(
        provider=stripe_provider.NAME, status=ProviderEvent.Status.FAILED
    )
    for event in failed.select_related("subscription")[:200]:
        report.add(
            "events_failed", event.subscription, f"{event.event_id} {event.type}: "
            f"{event.processing_result[:120]}",
        )  # fmt: skip
    parked = ProviderEvent.objects.filter(
        provider=stripe_provider.NAME,
        status=ProviderEvent.Status.RECEIVED,
        received_at__lt=now - PARKED_AFTER,
    ).select_related("subscription")
    replayed = set()
    for event in parked[:200]:
        if fix and event.subscription_id is None:
            # Stored, then the process stopped before handling it.
            services.provider_event_process(event=event)
        elif fix and event.subscription_id not in replayed:
            replayed.add(event.subscription_id)
            stripe_provider.parked_events_replay(subscription_id=event.subscription_id)
        event.refresh_from_db()
        report.add(
            "events_parked", event.subscription, f"{event.event_id} {event.type}",
            fixed=event.status != ProviderEvent.Status.RECEIVED,
        )  # fmt: skip
