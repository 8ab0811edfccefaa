"""Celery entry points of subscriptions: load by id, call one service, retry.

PDF rendering runs on the ``default`` queue (no route needed). Each task is idempotent: the service
locks the row and does nothing when the PDF is already there, so the sweeper (see
``apps.py``) may enqueue an id twice without harm.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    bind=True,
    name="subscriptions.tasks.invoice_pdf_render",
    max_retries=5,
    ignore_result=True,
)
def invoice_pdf_render(self, invoice_id: int) -> str:
    try:
        document = services.issued_document_render(kind="invoice", document_id=invoice_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    return document.pdf_sha256


@shared_task(
    bind=True,
    name="subscriptions.tasks.credit_note_pdf_render",
    max_retries=5,
    ignore_result=True,
)
def credit_note_pdf_render(self, credit_note_id: int) -> str:
    try:
        document = services.issued_document_render(kind="credit_note", document_id=credit_note_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    return document.pdf_sha256


@shared_task(
    bind=True,
    name="subscriptions.tasks.refund_send",
    max_retries=8,
    ignore_result=True,
)
def refund_send(self, refund_id: int) -> str:
    """Carry out one approved refund at the provider (idempotent: ``services.refund_send``)."""
    try:
        refund = services.refund_send(refund_id=refund_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    return refund.status if refund is not None else "missing"


@shared_task(
    bind=True,
    name="subscriptions.tasks.subscription_confirmation_send",
    max_retries=5,
    ignore_result=True,
)
def subscription_confirmation_send(self, subscription_id: int) -> str:
    """The contract confirmation (L221-13), then its documents in the vault; both once."""
    from .models import Subscription

    subscription = Subscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return "missing"
    try:
        email = services.subscription_confirmation_send(subscription=subscription)
        services.subscription_contract_documents_deposit(subscription=subscription)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    return "sent" if email is not None else "not concluded"


@shared_task(name="subscriptions.tasks.subscription_notices_send", ignore_result=True)
def subscription_notices_send() -> dict[str, int]:
    """Daily: renewal notices of yearly plans (L215-1) and payment reminders."""
    return {
        "renewal_notices": services.subscription_renewal_notices_send(),
        "payment_reminders": services.subscription_payment_reminders_send(),
    }


@shared_task(
    bind=True,
    name="subscriptions.tasks.subscription_provider_sync",
    max_retries=8,
    ignore_result=True,
)
def subscription_provider_sync(self, subscription_id: int) -> str:
    """Tell the provider to stop (or resume) renewing, from the subscription's state."""
    try:
        return services.subscription_provider_sync(subscription_id=subscription_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task(name="subscriptions.tasks.subscription_exits_due", ignore_result=True)
def subscription_exits_due() -> dict[str, int]:
    """Hourly: end cancellations that took effect; alert staff about late withdrawal refunds."""
    return {
        "ended": services.subscriptions_end_due(),
        "refund_alerts": services.refunds_overdue_alert(),
    }


@shared_task(name="subscriptions.tasks.billing_reconcile", ignore_result=True)
def billing_reconcile() -> int:
    """Daily: compare Stripe subscriptions with Stripe, repair what is safe
    (``subscriptions.reconcile``); returns how many differences are left for staff."""
    from django.conf import settings

    from .reconcile import billing_reconcile as reconcile

    if not settings.STRIPE_SECRET_KEY:  # Stripe was never set up here
        return 0
    return len(reconcile().unresolved)
