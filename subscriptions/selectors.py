"""Reads of subscriptions that pages, other apps and exports share.

:func:`entitlements_for` is THE place that says what a customer may use now: the
vault reads its quota there, assistance its monthly request allowance. Nothing else
should look at subscription statuses to decide access.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from accounts.dashboard import shared_read
from accounts.sql import instance_from_row, model_columns

from .models import CreditNote, Invoice, Plan, Subscription


@dataclass(frozen=True)
class Entitlements:
    """What a customer may use at one instant.

    ``active``: the service is on (paid, started, not ended). ``reason`` says why
    not, for pages to explain: ``none`` (never subscribed or only ended ones),
    ``pending_payment``, ``not_started`` (paid, but no express start: the service
    starts when the withdrawal period is over, L221-25), ``active``,
    ``cancel_scheduled`` (active until ``ends_at``), ``past_due`` (a renewal
    failed; access continues while the provider retries, CGV article 6).

    When inactive, ``requests_per_month`` and ``vault_quota_bytes`` are 0: nothing
    new can be opened or uploaded. Reading and exporting the vault never depends on
    this (CPCE L103, CGV article 10).
    """

    active: bool
    reason: str
    plan: Plan | None = None
    subscription: Subscription | None = None
    requests_per_month: int = 0
    vault_quota_bytes: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    past_due: bool = False


_NO_ENTITLEMENTS = Entitlements(active=False, reason="none")
_SERVING = frozenset({"active", "cancel_scheduled", "past_due"})


def subscription_current_for(user) -> Subscription | None:
    """The customer's open subscription (at most one exists), with its plan; one query.

    Read once per dashboard page, whichever panels ask (accounts.dashboard.shared_read).
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return shared_read(("subscription_current_for", user.pk), lambda: _open_subscription(user.pk))


@functools.cache
def _open_subscription_sql() -> str:
    """Every column of the open subscription and of its plan, in model field order.

    Plain SQL, built once from the models: this runs on every dashboard page, and
    compiling the equivalent queryset (``open().filter(customer=...).select_related
    ("plan")``) cost more than running it. At most one row: a customer has at most one
    open subscription (``subscriptions_one_open_per_customer``).
    """
    quote = connection.ops.quote_name
    statuses = ", ".join(["%s"] * len(Subscription.OPEN_STATUSES))
    return (
        f"SELECT {model_columns(Subscription, 's')}, {model_columns(Plan, 'p')}"  # noqa: S608
        f" FROM {quote(Subscription._meta.db_table)} s"
        f" JOIN {quote(Plan._meta.db_table)} p ON p.id = s.plan_id"
        f" WHERE s.customer_id = %s AND s.status IN ({statuses})"
    )


def _open_subscription(customer_id: int) -> Subscription | None:
    with connection.cursor() as cursor:
        cursor.execute(_open_subscription_sql(), [customer_id, *Subscription.OPEN_STATUSES])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(Subscription._meta.concrete_fields)
    subscription = instance_from_row(Subscription, row[:split])
    plan = instance_from_row(Plan, row[split:])
    Subscription._meta.get_field("plan").set_cached_value(subscription, plan)
    return subscription


def entitlements_for(user, *, now: datetime | None = None) -> Entitlements:
    """What ``user`` may use at ``now`` (default: now). One query."""
    subscription = subscription_current_for(user)
    if subscription is None:
        return _NO_ENTITLEMENTS
    now = now or timezone.now()
    plan = subscription.plan
    ends_at = subscription.cancel_at or subscription.current_period_end
    if subscription.status not in _SERVING:
        return Entitlements(
            active=False, reason=subscription.status, plan=plan, subscription=subscription
        )
    starts_at = subscription.service_starts_at
    if starts_at is None or now < starts_at:
        return Entitlements(
            active=False,
            reason="not_started",
            plan=plan,
            subscription=subscription,
            starts_at=starts_at,
            ends_at=ends_at,
        )
    if subscription.cancel_at is not None and now >= subscription.cancel_at:
        # The end job has not run yet: the contract is over all the same.
        return Entitlements(active=False, reason="none", plan=plan, subscription=subscription)
    return Entitlements(
        active=True,
        reason=subscription.status,
        plan=plan,
        subscription=subscription,
        requests_per_month=plan.requests_per_month,
        vault_quota_bytes=plan.vault_quota_bytes,
        starts_at=starts_at,
        ends_at=ends_at,
        past_due=subscription.status == Subscription.Status.PAST_DUE,
    )


def plan_list_active() -> list[Plan]:
    """Plans on sale, in display order; one query."""
    return list(Plan.objects.filter(is_active=True).order_by("display_order", "id"))


def subscription_list_for(user) -> list[Subscription]:
    """Every subscription of the customer, newest first, with plans; one query."""
    return list(
        Subscription.objects.filter(customer=user).select_related("plan").order_by("-created_at")
    )


def invoice_list_for(user) -> list[Invoice]:
    """The customer's invoices, newest first; one query."""
    return list(
        Invoice.objects.filter(customer=user)
        .select_related("subscription")
        .defer("customer_snapshot", "company_snapshot", "lines")
        .order_by("-issued_at", "-id")
    )


def credit_note_list_for(user) -> list[CreditNote]:
    """The customer's credit notes, newest first; one query."""
    return list(
        CreditNote.objects.filter(customer=user)
        .select_related("invoice")
        .defer("customer_snapshot", "company_snapshot", "lines")
        .order_by("-issued_at", "-id")
    )
