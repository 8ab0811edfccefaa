"""Every state change of subscriptions, payments, invoices and credit notes.

Each service runs in one transaction, locks the row it changes
(``select_for_update``), checks the current state, writes its audit event on the
customer's chain in the same transaction and schedules side effects (tasks) on
commit. Views, admin actions, tasks, webhooks and commands call these.

Audit events carry identifiers, amounts and dates, never names or postal
addresses: the evidence log is immutable, and personal data belongs in rows that
account closure can handle (invoices keep the customer identity because the law
asks us to keep invoices for ten years).

This module holds the foundation: ordering a subscription (pending payment),
the payment outcomes a provider reports, renewal, invoices, credit notes and the
provider events. Cancellation, withdrawal, satisfaction claims and refunds as
customer flows build on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import services as audit
from audit.context import RequestMeta
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed
from mynetspace.core.tasks import enqueue_on_commit

from . import deadlines
from .models import (
    CancellationRequest,
    CreditNote,
    Invoice,
    Payment,
    Plan,
    ProviderEvent,
    Refund,
    SatisfactionClaim,
    Subscription,
    WithdrawalDeclaration,
)
from .money import format_eur, vat_split
from .numbering import number_next

# --- Subscriptions -------------------------------------------------------------------


def _lock(subscription: Subscription) -> Subscription:
    # of=("self",): lock the subscription only, not the plan shared by every customer.
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(pk=subscription.pk)
    )


def _refuse_transition(subscription: Subscription, status: str) -> None:
    if not subscription.can_become(status):
        raise InvalidState(
            _("Cet abonnement est dans l'état « %(state)s » : cette opération n'est pas possible.")
            % {"state": subscription.get_status_display()},
            "invalid_state",
        )


def subscription_order(
    *,
    customer,
    plan: Plan,
    express_start: bool,
    express_start_wording: str = "",
    express_start_version: str = "",
    terms_version=None,
    provider: str | None = None,
    meta: RequestMeta | None = None,
) -> Subscription:
    """Create the customer's subscription, waiting for its first payment.

    ``express_start``: the customer's answer to the L221-25 request to start the
    service during the withdrawal period; ``express_start_wording`` and
    ``express_start_version`` record exactly what they were shown (required when
    they said yes). ``terms_version``: the ``audit.ContentVersion`` of the terms they
    accepted. An earlier order still waiting for payment is abandoned (the customer
    changed their mind); a live contract refuses a second one.
    """
    if not plan.is_active:
        raise DomainError(_("Cette formule n'est plus proposée."), "plan_inactive")
    express_start_wording = (express_start_wording or "").strip()
    if express_start and not express_start_wording:
        raise DomainError(
            _("Le texte de la demande d'exécution immédiate doit être enregistré."),
            "express_start_wording_required",
        )
    provider = provider or settings.PAYMENT_PROVIDER
    with transaction.atomic():
        # Lock the customer's open subscriptions so that two orders queue up.
        previous = list(Subscription.objects.select_for_update().open().filter(customer=customer))
        for other in previous:
            if other.status != Subscription.Status.PENDING_PAYMENT:
                raise DomainError(
                    _("Vous avez déjà un abonnement en cours (référence %(reference)s).")
                    % {"reference": other.reference},
                    "already_subscribed",
                )
            _abandon(other, reason="replaced_by_new_order", meta=meta)
        subscription = Subscription.objects.create(
            customer=customer,
            plan=plan,
            express_start=express_start,
            express_start_wording=express_start_wording if express_start else "",
            express_start_version=express_start_version if express_start else "",
            terms_version=terms_version,
            provider=provider,
        )
        audit.record(
            action="subscription.ordered",
            subject=customer,
            actor=customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "plan": plan.code,
                "price_ttc_cents": plan.price_ttc_cents,
                "interval": plan.interval,
                "express_start": express_start,
                "express_start_wording": subscription.express_start_wording,
                "express_start_version": subscription.express_start_version,
                "terms_version_id": terms_version.pk if terms_version else None,
                "terms_sha256": terms_version.sha256 if terms_version else None,
                "provider": provider,
            },
            meta=meta,
        )
    return subscription


def subscription_checkout_start(
    *,
    subscription: Subscription,
    success_url: str,
    cancel_url: str,
    meta: RequestMeta | None = None,
) -> str:
    """Open a checkout with the subscription's provider; returns the URL to send them to."""
    from .providers import get_provider

    provider = get_provider(subscription.provider)
    with transaction.atomic():
        subscription = _lock(subscription)
        if subscription.status != Subscription.Status.PENDING_PAYMENT:
            raise InvalidState(_("Cette commande est déjà réglée ou close."), "invalid_state")
        session = provider.create_checkout(
            subscription, success_url=success_url, cancel_url=cancel_url
        )
        subscription.provider_checkout_id = session.id
        subscription.save(update_fields=["provider_checkout_id", "updated_at"])
        audit.record(
            action="subscription.checkout_started",
            subject=subscription.customer,
            target=subscription,
            data={"provider": subscription.provider, "checkout_id": session.id},
            meta=meta,
        )
    return session.url


def _abandon(subscription: Subscription, *, reason: str, meta) -> None:
    _refuse_transition(subscription, Subscription.Status.ABANDONED)
    subscription.status = Subscription.Status.ABANDONED
    subscription.ended_at = timezone.now()
    subscription.save(update_fields=["status", "ended_at", "updated_at"])
    audit.record(
        action="subscription.abandoned",
        subject=subscription.customer,
        target=subscription,
        data={"reference": subscription.reference, "reason": reason},
        meta=meta,
    )


def subscription_abandon(
    *, subscription: Subscription, reason: str, meta: RequestMeta | None = None
) -> Subscription:
    """``pending_payment -> abandoned``: the order will not be paid (nothing was)."""
    with transaction.atomic():
        subscription = _lock(subscription)
        _abandon(subscription, reason=reason, meta=meta)
    return subscription


def subscription_checkout_failed(
    *,
    subscription: Subscription,
    reason: str,
    provider_event_id: str = "",
    meta: RequestMeta | None = None,
) -> Subscription:
    """A first payment attempt failed: the order stays payable (the customer may retry).

    Recorded as evidence; the state does not change. A subscription already paid
    ignores a late failure report (a provider may deliver events out of order).
    """
    with transaction.atomic():
        subscription = _lock(subscription)
        audit.record(
            action="subscription.checkout_failed",
            subject=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "reason": reason[:200],
                "status": subscription.status,
                "provider_event_id": provider_event_id,
            },
            meta=meta,
        )
    return subscription


def subscription_activate(
    *,
    subscription: Subscription,
    provider_payment_id: str,
    amount_cents: int,
    paid_at: datetime,
    provider_customer_id: str = "",
    provider_subscription_id: str = "",
    meta: RequestMeta | None = None,
) -> Payment:
    """``pending_payment -> active``: the first payment was received.

    The contract is concluded at ``paid_at`` (CGV article 4); the withdrawal
    deadline follows (``deadlines.withdrawal_deadline``). With an express start the
    service and the first paid period start now; without it they start when the
    withdrawal period is over (L221-25), so the customer pays for a full period of
    service either way. Issues the invoice in the same transaction.

    Idempotent: the same ``provider_payment_id`` again returns the same payment.
    """
    if amount_cents <= 0:
        raise DomainError(_("Le montant payé doit être positif."), "invalid_amount")
    with transaction.atomic():
        subscription = _lock(subscription)
        existing = Payment.objects.filter(
            provider=subscription.provider, provider_payment_id=provider_payment_id
        ).first()
        if existing is not None:
            return existing
        _refuse_transition(subscription, Subscription.Status.ACTIVE)
        if subscription.status != Subscription.Status.PENDING_PAYMENT:
            raise InvalidState(_("Cet abonnement est déjà actif."), "invalid_state")
        plan = subscription.plan
        deadline = deadlines.withdrawal_deadline(paid_at)
        starts_at = paid_at if subscription.express_start else deadline
        period_end = deadlines.period_end(starts_at, plan.interval)
        payment = Payment.objects.create(
            subscription=subscription,
            customer=subscription.customer,
            kind=Payment.Kind.INITIAL,
            status=Payment.Status.SUCCEEDED,
            amount_cents=amount_cents,
            vat_rate_bp=plan.vat_rate_bp,
            period_start=starts_at,
            period_end=period_end,
            provider=subscription.provider,
            provider_payment_id=provider_payment_id,
            paid_at=paid_at,
        )
        subscription.status = Subscription.Status.ACTIVE
        subscription.concluded_at = paid_at
        subscription.withdrawal_deadline = deadline
        subscription.service_starts_at = starts_at
        subscription.started_at = timezone.now()
        subscription.current_period_start = starts_at
        subscription.current_period_end = period_end
        subscription.provider_customer_id = (
            provider_customer_id or subscription.provider_customer_id
        )
        subscription.provider_subscription_id = (
            provider_subscription_id or subscription.provider_subscription_id
        )
        subscription.save()
        audit.record(
            action="subscription.activated",
            subject=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "payment_id": payment.pk,
                "provider_payment_id": provider_payment_id,
                "amount_cents": amount_cents,
                "concluded_at": paid_at.isoformat(),
                "withdrawal_deadline": deadline.isoformat(),
                "service_starts_at": starts_at.isoformat(),
                "period_end": period_end.isoformat(),
                "express_start": subscription.express_start,
            },
            meta=meta,
        )
        invoice_issue(subscription=subscription, payment=payment, meta=meta)
        # The contract is concluded: its confirmation on a durable medium (L221-13).
        _confirmation_on_commit(subscription.pk)
    return payment


def subscription_renew(
    *,
    subscription: Subscription,
    provider_payment_id: str,
    amount_cents: int,
    paid_at: datetime,
    meta: RequestMeta | None = None,
) -> Payment:
    """A renewal was paid: the next period starts where the current one ends.

    ``active -> active`` (a new period) or ``past_due -> active``. Idempotent on
    ``provider_payment_id``. Issues the invoice in the same transaction.

    A ``cancel_scheduled`` subscription records a renewal too and stays scheduled:
    the provider took the money before it learnt of the cancellation (or the
    customer chose an end date beyond the period), and a payment taken is always
    recorded and served. An end set at the old period's end moves to the new one.
    """
    if amount_cents <= 0:
        raise DomainError(_("Le montant payé doit être positif."), "invalid_amount")
    with transaction.atomic():
        subscription = _lock(subscription)
        existing = Payment.objects.filter(
            provider=subscription.provider, provider_payment_id=provider_payment_id
        ).first()
        if existing is not None:
            return existing
        if subscription.status not in (
            Subscription.Status.ACTIVE,
            Subscription.Status.PAST_DUE,
            Subscription.Status.CANCEL_SCHEDULED,
        ):
            raise InvalidState(
                _("Cet abonnement ne peut pas être renouvelé dans son état actuel."),
                "invalid_state",
            )
        plan = subscription.plan
        start = subscription.current_period_end
        anchor = deadlines.local_date(subscription.service_starts_at).day
        end = deadlines.period_end(start, plan.interval, anchor_day=anchor)
        payment = Payment.objects.create(
            subscription=subscription,
            customer=subscription.customer,
            kind=Payment.Kind.RENEWAL,
            status=Payment.Status.SUCCEEDED,
            amount_cents=amount_cents,
            vat_rate_bp=plan.vat_rate_bp,
            period_start=start,
            period_end=end,
            provider=subscription.provider,
            provider_payment_id=provider_payment_id,
            paid_at=paid_at,
        )
        previous_status = subscription.status
        if previous_status == Subscription.Status.CANCEL_SCHEDULED:
            if subscription.cancel_at == start:
                subscription.cancel_at = end
        else:
            subscription.status = Subscription.Status.ACTIVE
        subscription.current_period_start = start
        subscription.current_period_end = end
        subscription.save(
            update_fields=[
                "status", "cancel_at", "current_period_start", "current_period_end", "updated_at"
            ]
        )  # fmt: skip
        audit.record(
            action="subscription.renewed",
            subject=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "payment_id": payment.pk,
                "provider_payment_id": provider_payment_id,
                "amount_cents": amount_cents,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "previous_status": previous_status,
            },
            meta=meta,
        )
        invoice_issue(subscription=subscription, payment=payment, meta=meta)
    return payment


# --- Invoices and credit notes ---------------------------------------------------------


def company_snapshot() -> dict:
    """The company's legal mentions as printed on invoices (settings ``COMPANY_*``)."""
    return {
        "name": settings.COMPANY_NAME,
        "address": settings.COMPANY_ADDRESS,
        "siren": settings.COMPANY_SIREN,
        "vat_number": settings.COMPANY_VAT_NUMBER,
        "email": settings.COMPANY_EMAIL,
    }


def customer_snapshot(customer) -> dict:
    """The customer's identity as printed on their invoice, frozen at issue."""
    # A missing profile raises RelatedObjectDoesNotExist, an AttributeError.
    profile = getattr(customer, "profile", None)
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p).strip()
    address = []
    if profile is not None:
        address = [
            line
            for line in (
                profile.address_line1,
                profile.address_line2,
                " ".join(p for p in (profile.postal_code, profile.city) if p),
            )
            if line
        ]
    return {"name": name or customer.email, "email": customer.email, "address": address}


def _line(*, label: str, ttc_cents: int, vat_rate_bp: int) -> dict:
    split = vat_split(ttc_cents=ttc_cents, vat_rate_bp=vat_rate_bp)
    return {
        "label": label,
        "quantity": 1,
        "unit_ttc_cents": ttc_cents,
        "vat_rate_bp": vat_rate_bp,
        "total_ht_cents": split.ht_cents,
        "total_vat_cents": split.vat_cents,
        "total_ttc_cents": split.ttc_cents,
    }


def _totals(lines: list[dict]) -> dict:
    return {
        "total_ht_cents": sum(line["total_ht_cents"] for line in lines),
        "total_vat_cents": sum(line["total_vat_cents"] for line in lines),
        "total_ttc_cents": sum(line["total_ttc_cents"] for line in lines),
    }


def _french_date(moment: datetime) -> str:
    return deadlines.local_date(moment).strftime("%d/%m/%Y")


def invoice_issue(
    *, subscription: Subscription, payment: Payment, meta: RequestMeta | None = None
) -> Invoice:
    """Issue the invoice of a succeeded payment, with the next ``F`` number.

    Idempotent (one invoice per payment). The PDF is rendered afterwards by
    ``tasks.issued_document_render``, enqueued on commit.
    """
    if payment.subscription_id != subscription.pk:
        raise ValueError("the payment does not belong to this subscription")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        existing = Invoice.objects.filter(payment=payment).first()
        if existing is not None:
            return existing
        if payment.status != Payment.Status.SUCCEEDED:
            raise InvalidState(
                _("Seul un paiement reçu donne lieu à une facture."), "invalid_state"
            )
        issued_at = timezone.now()
        with translation.override("fr"):
            label = _("Abonnement MyNetSpace, formule %(plan)s, du %(start)s au %(end)s") % {
                "plan": subscription.plan.name_fr,
                "start": _french_date(payment.period_start),
                "end": _french_date(payment.period_end),
            }
        lines = [
            _line(label=label, ttc_cents=payment.amount_cents, vat_rate_bp=payment.vat_rate_bp)
        ]
        invoice = _numbered_document_create(
            Invoice,
            issued_at=issued_at,
            customer=subscription.customer,
            lines=lines,
            currency=payment.currency,
            subscription=subscription,
            payment=payment,
        )
        audit.record(
            action="invoice.issued",
            subject=subscription.customer,
            target=invoice,
            data={
                "number": invoice.number,
                "payment_id": payment.pk,
                "subscription": subscription.reference,
                "total_ht_cents": invoice.total_ht_cents,
                "total_vat_cents": invoice.total_vat_cents,
                "total_ttc_cents": invoice.total_ttc_cents,
            },
            meta=meta,
        )
        _render_on_commit("invoice", invoice.pk)
    return invoice


def credit_note_issue(*, refund: Refund, meta: RequestMeta | None = None) -> CreditNote:
    """Issue the credit note of a succeeded refund, with the next ``A`` number.

    It cancels the refunded payment's invoice for the refunded amount. Idempotent
    (one credit note per refund).
    """
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update()
            .select_related("payment", "subscription__plan", "customer")
            .get(pk=refund.pk)
        )
        existing = CreditNote.objects.filter(refund=refund).first()
        if existing is not None:
            return existing
        if refund.status != Refund.Status.SUCCEEDED:
            raise InvalidState(
                _("Un avoir n'est émis que pour un remboursement effectué."), "invalid_state"
            )
        invoice = Invoice.objects.filter(payment=refund.payment).first()
        if invoice is None:
            raise InvalidState(
                _("Le paiement remboursé n'a pas de facture : l'avoir ne peut pas être émis."),
                "invoice_missing",
            )
        issued_at = timezone.now()
        with translation.override("fr"):
            label = _("%(reason)s, annulation partielle ou totale de la facture %(number)s") % {
                "reason": str(refund.get_reason_display()).capitalize(),
                "number": invoice.number,
            }
        lines = [
            _line(
                label=label, ttc_cents=refund.amount_cents, vat_rate_bp=refund.payment.vat_rate_bp
            )
        ]
        note = _numbered_document_create(
            CreditNote,
            issued_at=issued_at,
            customer=refund.customer,
            lines=lines,
            currency=refund.payment.currency,
            invoice=invoice,
            refund=refund,
        )
        audit.record(
            action="credit_note.issued",
            subject=refund.customer,
            target=note,
            data={
                "number": note.number,
                "invoice": invoice.number,
                "refund_id": refund.pk,
                "reason": refund.reason,
                "total_ttc_cents": note.total_ttc_cents,
            },
            meta=meta,
        )
        _render_on_commit("credit_note", note.pk)
    return note


def _numbered_document_create(model, *, issued_at, customer, lines, currency, **links):
    """An invoice or credit note with the next number of its series, in the caller's
    transaction: the customer's and the company's details frozen as they are now, and
    the totals of ``lines``. ``links`` are the model's own relations."""
    number = number_next(series=model.SERIES, year=deadlines.local_date(issued_at).year)
    return model.objects.create(
        series=number.series,
        year=number.year,
        sequence=number.sequence,
        number=number.text,
        issued_at=issued_at,
        customer=customer,
        customer_snapshot=customer_snapshot(customer),
        company_snapshot=company_snapshot(),
        lines=lines,
        currency=currency,
        **links,
        **_totals(lines),
    )


def _render_on_commit(kind: str, pk: int) -> None:
    from . import tasks

    task = tasks.invoice_pdf_render if kind == "invoice" else tasks.credit_note_pdf_render
    enqueue_on_commit(task, pk)


def issued_document_model(kind: str):
    return {"invoice": Invoice, "credit_note": CreditNote}[kind]


def issued_document_render(*, kind: str, document_id: int, meta: RequestMeta | None = None):
    """Render the PDF of an invoice or credit note, hand it to the vault, keep its hash.

    Idempotent: a document whose PDF was already rendered is left alone. The row is
    locked while rendering so two workers do not both store a copy.
    """
    from .pdf import issued_document_pdf
    from .vault_hook import issued_document_store_in_vault

    model = issued_document_model(kind)
    with transaction.atomic():
        document = model.objects.select_for_update().get(pk=document_id)
        if document.pdf_sha256:
            return document
        pdf = issued_document_pdf(document)
        digest = hashlib.sha256(pdf).hexdigest()
        document.vault_document_id = issued_document_store_in_vault(
            document=document, pdf=pdf, meta=meta
        )
        document.pdf_sha256 = digest
        document.pdf_rendered_at = timezone.now()
        document.save(update_fields=["pdf_sha256", "pdf_rendered_at", "vault_document_id"])
        audit.record(
            action=f"{kind}.pdf_rendered",
            subject=document.customer,
            target=document,
            data={
                "number": document.number,
                "sha256": digest,
                "size": len(pdf),
                "vault_document_id": document.vault_document_id,
            },
            meta=meta,
        )
    return document


def issued_documents_pending_render(kind: str, older_than, limit: int) -> list[int]:
    """Ids of invoices (or credit notes) issued before ``older_than`` without a PDF yet."""
    return list(
        issued_document_model(kind)
        .objects.filter(pdf_sha256="", issued_at__lt=older_than)
        .order_by("issued_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- Provider events ------------------------------------------------------------------


def provider_event_store(
    *,
    provider: str,
    event_id: str,
    type: str,
    raw_body: bytes,
    signature_header: str = "",
    provider_created_at: datetime | None = None,
    meta: RequestMeta | None = None,
) -> tuple[ProviderEvent, bool]:
    """Store a raw provider event as evidence; returns ``(event, created)``.

    A repeated delivery (same provider and event id) stores nothing new and returns
    the stored row, even when two deliveries race.
    """
    if not event_id or len(event_id) > 255:
        raise DomainError(_("Identifiant d'événement invalide."), "invalid_event_id")
    existing = ProviderEvent.objects.filter(provider=provider, event_id=event_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            event = ProviderEvent.objects.create(
                provider=provider,
                event_id=event_id,
                type=type[:100],
                received_at=timezone.now(),
                provider_created_at=provider_created_at,
                raw_body=bytes(raw_body),
                sha256=hashlib.sha256(raw_body).hexdigest(),
                signature_header=signature_header,
            )
            audit.record(
                action="payment_provider.event_received",
                target=event,
                data={
                    "provider": provider,
                    "event_id": event_id,
                    "type": event.type,
                    "sha256": event.sha256,
                },
                meta=meta,
            )
    except IntegrityError:
        return ProviderEvent.objects.get(provider=provider, event_id=event_id), False
    return event, True


def provider_event_process(
    *, event: ProviderEvent, meta: RequestMeta | None = None
) -> ProviderEvent:
    """Apply a stored event once, whatever the number of deliveries.

    The row is locked while the provider's handler runs the services it maps to; a
    processed or ignored event is left alone. A handler failure marks the event
    ``failed`` (with the reason) in a separate step, so the evidence of the
    attempt survives the rollback of its effects.
    """
    from .providers import get_provider

    provider = get_provider(event.provider)
    try:
        with transaction.atomic():
            event = ProviderEvent.objects.select_for_update().get(pk=event.pk)
            if event.status in (ProviderEvent.Status.PROCESSED, ProviderEvent.Status.IGNORED):
                return event
            outcome = provider.handle_event(event, meta=meta)
            event.status = outcome.status
            event.subscription = outcome.subscription or event.subscription
            event.processing_result = outcome.detail[:2000]
            event.attempts += 1
            event.processed_at = timezone.now()
            event.save(
                update_fields=[
                    "status", "subscription", "processing_result", "attempts", "processed_at"
                ]
            )  # fmt: skip
    except DomainError as exc:
        with transaction.atomic():
            event = ProviderEvent.objects.select_for_update().get(pk=event.pk)
            event.status = ProviderEvent.Status.FAILED
            event.processing_result = f"{exc.code}: {exc.message}"[:2000]
            event.attempts += 1
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "processing_result", "attempts", "processed_at"])
    return event


# --- Refunds ----------------------------------------------------------------------------
#
# ``requested -> approved -> sent -> succeeded | failed`` and ``failed -> approved``.
# ``approved`` is the work a task picks up (``refund_send``). The task first moves the
# refund to ``sent`` and commits, then calls the provider under the row lock with the
# idempotency key ``refund:<id>`` and records the answer. A crash after the provider
# call leaves the refund ``sent`` without a provider id: the sweeper runs the task
# again, which asks the provider again with the same key and gets the same refund
# back. So however many times the task runs, the provider makes one refund.

#: Refunds whose provider answer has been awaited this long are shown to staff.
REFUND_ALERT_AFTER = timedelta(days=7)
#: Withdrawal refunds are due within 14 days of being told of the withdrawal (L221-24).
WITHDRAWAL_REFUND_DAYS = 14


def _refund_lock(refund: Refund) -> Refund:
    return (
        Refund.objects.select_for_update()
        .select_related("customer", "subscription", "payment")
        .get(pk=refund.pk)
    )


def _refund_refuse(refund: Refund, status: str) -> None:
    if status not in Refund.TRANSITIONS[refund.status]:
        raise InvalidState(
            _(
                "Ce remboursement est dans l'état « %(state)s » : "
                "cette opération n'est pas possible."
            )
            % {"state": refund.get_status_display()},
            "invalid_state",
        )


def _refund_data(refund: Refund, **extra) -> dict:
    return {
        "refund_id": refund.pk,
        "reason": refund.reason,
        "amount_cents": refund.amount_cents,
        "payment_id": refund.payment_id,
        "subscription": refund.subscription.reference,
        **extra,
    }


def _staff_recipients() -> list[str]:
    return [settings.SUPPORT_EMAIL]


def _refund_enqueue(refund: Refund) -> None:
    from . import tasks

    enqueue_on_commit(tasks.refund_send, refund.pk)


def _refund_create(
    *,
    subscription: Subscription,
    payment: Payment,
    reason: str,
    amount_cents: int,
    withdrawal: WithdrawalDeclaration | None = None,
    satisfaction_claim: SatisfactionClaim | None = None,
    due_by: datetime | None = None,
    acting_user=None,
    meta: RequestMeta | None = None,
) -> Refund:
    """Create a refund and approve it at once (call inside the caller's transaction)."""
    refund = Refund.objects.create(
        customer=subscription.customer,
        subscription=subscription,
        payment=payment,
        reason=reason,
        amount_cents=amount_cents,
        withdrawal=withdrawal,
        satisfaction_claim=satisfaction_claim,
        due_by=due_by,
        provider=payment.provider,
    )
    audit.record(
        action="refund.requested",
        subject=subscription.customer,
        actor=acting_user,
        on_behalf_of=subscription.customer if acting_user is not None else None,
        target=refund,
        data=_refund_data(
            refund,
            withdrawal_id=withdrawal.pk if withdrawal else None,
            satisfaction_claim_id=satisfaction_claim.pk if satisfaction_claim else None,
            due_by=due_by.isoformat() if due_by else None,
        ),
        meta=meta,
    )
    return _refund_approve(refund, acting_user=acting_user, meta=meta)


def _refund_approve(refund: Refund, *, acting_user, meta) -> Refund:
    _refund_refuse(refund, Refund.Status.APPROVED)
    refund.status = Refund.Status.APPROVED
    refund.approved_at = timezone.now()
    refund.approved_by = acting_user
    refund.failure_reason = ""
    refund.save(
        update_fields=["status", "approved_at", "approved_by", "failure_reason", "updated_at"]
    )
    audit.record(
        action="refund.approved",
        subject=refund.customer,
        actor=acting_user,
        on_behalf_of=refund.customer if acting_user is not None else None,
        target=refund,
        data=_refund_data(refund),
        meta=meta,
    )
    _refund_enqueue(refund)
    return refund


def refund_approve(*, refund: Refund, acting_user, meta: RequestMeta | None = None) -> Refund:
    """``requested -> approved``: staff agree; the refund is sent by a task."""
    with transaction.atomic():
        refund = _refund_lock(refund)
        return _refund_approve(refund, acting_user=acting_user, meta=meta)


def refund_retry(*, refund: Refund, acting_user, meta: RequestMeta | None = None) -> Refund:
    """``failed -> approved``: staff send a failed refund again.

    The provider's id of the failed attempt is forgotten (it stays in that attempt's
    ``refund.failed`` event), so that the task asks the provider again; the provider
    derives the attempt's idempotency key from the refund (docs/payments.md).
    """
    with transaction.atomic():
        refund = _refund_lock(refund)
        if refund.status != Refund.Status.FAILED:
            raise InvalidState(
                _("Seul un remboursement échoué peut être relancé."), "refund_not_failed"
            )
        if refund.provider_refund_id:
            refund.provider_refund_id = ""
            refund.save(update_fields=["provider_refund_id", "updated_at"])
        return _refund_approve(refund, acting_user=acting_user, meta=meta)


def refund_mark_sent(*, refund: Refund, meta: RequestMeta | None = None) -> Refund:
    """``approved -> sent``: we are about to ask (or asked) the provider. Idempotent."""
    with transaction.atomic():
        refund = _refund_lock(refund)
        if refund.status == Refund.Status.SENT:
            return refund
        _refund_refuse(refund, Refund.Status.SENT)
        refund.status = Refund.Status.SENT
        refund.sent_at = timezone.now()
        refund.save(update_fields=["status", "sent_at", "updated_at"])
        audit.record(
            action="refund.sent",
            subject=refund.customer,
            target=refund,
            data=_refund_data(refund, idempotency_key=refund.idempotency_key),
            meta=meta,
        )
    return refund


def refund_mark_succeeded(
    *, refund: Refund, provider_refund_id: str, meta: RequestMeta | None = None
) -> Refund:
    """The provider confirmed the refund: ``sent -> succeeded``, then the credit note.

    Called by the refund task and by the provider's refund webhooks, in any order
    and any number of times: an already succeeded refund is returned unchanged. An
    ``approved`` refund (the confirmation overtook our own record of sending it)
    passes through ``sent`` first. The customer is told by email.
    """
    provider_refund_id = (provider_refund_id or "").strip()[:255]
    with transaction.atomic():
        refund = _refund_lock(refund)
        if refund.status == Refund.Status.SUCCEEDED:
            return refund
        if refund.status == Refund.Status.APPROVED:
            refund_mark_sent(refund=refund, meta=meta)
            refund.refresh_from_db()
        _refund_refuse(refund, Refund.Status.SUCCEEDED)
        refund.status = Refund.Status.SUCCEEDED
        refund.succeeded_at = timezone.now()
        refund.provider_refund_id = refund.provider_refund_id or provider_refund_id
        refund.save(update_fields=["status", "succeeded_at", "provider_refund_id", "updated_at"])
        audit.record(
            action="refund.succeeded",
            subject=refund.customer,
            target=refund,
            data=_refund_data(refund, provider_refund_id=refund.provider_refund_id),
            meta=meta,
        )
        note = credit_note_issue(refund=refund, meta=meta)
        from audit.emails import email_queue

        email_queue(
            template="refund_succeeded",
            to=refund.customer.email,
            customer=refund.customer,
            related=refund,
            context={
                "refund": refund,
                "amount": format_eur(refund.amount_cents),
                "reference": refund.subscription.reference,
                "credit_note_number": note.number,
                "reason_label": refund.get_reason_display(),
            },
            meta=meta,
        )
    return refund


def refund_mark_failed(*, refund: Refund, reason: str, meta: RequestMeta | None = None) -> Refund:
    """The provider refused or reversed the refund: ``sent -> failed``; staff are told.

    Idempotent on a failed refund. A failure reported after a success (a bank can
    return a refund days later) does not rewrite the succeeded refund or its credit
    note: it is recorded (``refund.failed_after_success``) and staff are alerted.
    """
    reason = (reason or "").strip()[:255] or "unknown"
    with transaction.atomic():
        refund = _refund_lock(refund)
        if refund.status == Refund.Status.FAILED:
            return refund
        from audit.emails import email_queue

        context = {
            "refund": refund,
            "amount": format_eur(refund.amount_cents),
            "reference": refund.subscription.reference,
            "failure_reason": reason,
            "due_by": refund.due_by,
        }
        if refund.status == Refund.Status.SUCCEEDED:
            audit.record(
                action="refund.failed_after_success",
                subject=refund.customer,
                target=refund,
                data=_refund_data(refund, failure_reason=reason),
                meta=meta,
            )
            email_queue(
                template="refund_failed_staff",
                to=_staff_recipients(),
                related=refund,
                context={**context, "after_success": True},
                meta=meta,
            )
            return refund
        if refund.status == Refund.Status.APPROVED:
            refund_mark_sent(refund=refund, meta=meta)
            refund.refresh_from_db()
        _refund_refuse(refund, Refund.Status.FAILED)
        refund.status = Refund.Status.FAILED
        refund.failed_at = timezone.now()
        refund.failure_reason = reason
        refund.save(update_fields=["status", "failed_at", "failure_reason", "updated_at"])
        audit.record(
            action="refund.failed",
            subject=refund.customer,
            target=refund,
            data=_refund_data(refund, failure_reason=reason),
            meta=meta,
        )
        email_queue(
            template="refund_failed_staff",
            to=_staff_recipients(),
            related=refund,
            context={**context, "after_success": False},
            meta=meta,
        )
    return refund


def refund_send(*, refund_id: int, meta: RequestMeta | None = None) -> Refund | None:
    """Carry out an approved refund at the provider (the body of ``tasks.refund_send``).

    Safe to run any number of times, concurrently or after a crash: only an
    ``approved`` refund, or a ``sent`` one without the provider's answer, reaches
    the provider, always with the key ``refund:<id>``; anything else returns as is.
    """
    from .providers import get_provider

    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None:
        return None
    if refund.status == Refund.Status.APPROVED:
        refund = refund_mark_sent(refund=refund, meta=meta)
    with transaction.atomic():
        refund = _refund_lock(refund)
        if refund.status != Refund.Status.SENT or refund.provider_refund_id:
            return refund
        # The provider is called under the row lock: a second run of the task waits
        # here, then finds the answer recorded.
        result = get_provider(refund.provider).refund(refund)
        if result.status == "succeeded":
            return refund_mark_succeeded(
                refund=refund, provider_refund_id=result.provider_refund_id, meta=meta
            )
        if result.status == "failed":
            if result.provider_refund_id and not refund.provider_refund_id:
                refund.provider_refund_id = result.provider_refund_id[:255]
                refund.save(update_fields=["provider_refund_id", "updated_at"])
            return refund_mark_failed(
                refund=refund, reason=result.failure_reason or "failed", meta=meta
            )
        # Pending at the provider: its notification will say how it ends.
        refund.provider_refund_id = result.provider_refund_id[:255]
        refund.save(update_fields=["provider_refund_id", "updated_at"])
        audit.record(
            action="refund.pending_at_provider",
            subject=refund.customer,
            target=refund,
            data=_refund_data(refund, provider_refund_id=refund.provider_refund_id),
            meta=meta,
        )
    return refund


def refunds_pending(older_than: datetime, limit: int) -> list[int]:
    """Refunds the task must (re)try: approved, or sent without the provider's answer."""
    from django.db.models import Q

    return list(
        Refund.objects.filter(
            Q(status=Refund.Status.APPROVED) | Q(status=Refund.Status.SENT, provider_refund_id=""),
            updated_at__lt=older_than,
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def refunds_overdue_alert(*, now: datetime | None = None, meta: RequestMeta | None = None) -> int:
    """Alert staff, once per refund, about withdrawal refunds not done after 7 days.

    The legal deadline is 14 days after the declaration (L221-24, ``due_by``); the
    alert leaves a week to act. The alert is an event on the customer's chain
    (``refund.overdue_alerted``), which is also how it is sent only once.
    """
    from audit.emails import email_queue
    from audit.models import Event

    now = now or timezone.now()
    candidates = (
        Refund.objects.filter(
            reason=Refund.Reason.WITHDRAWAL, requested_at__lte=now - REFUND_ALERT_AFTER
        )
        .exclude(status=Refund.Status.SUCCEEDED)
        .select_related("customer", "subscription")
        .order_by("requested_at")
    )
    sent = 0
    for refund in candidates:
        with transaction.atomic():
            refund = _refund_lock(refund)
            already = Event.objects.filter(
                action="refund.overdue_alerted",
                target_type="subscriptions.refund",
                target_id=str(refund.pk),
            ).exists()
            if already or refund.status == Refund.Status.SUCCEEDED:
                continue
            audit.record(
                action="refund.overdue_alerted",
                subject=refund.customer,
                target=refund,
                data=_refund_data(
                    refund,
                    status=refund.status,
                    due_by=refund.due_by.isoformat() if refund.due_by else None,
                ),
                meta=meta,
            )
            email_queue(
                template="refund_overdue_staff",
                to=_staff_recipients(),
                related=refund,
                context={
                    "refund": refund,
                    "amount": format_eur(refund.amount_cents),
                    "reference": refund.subscription.reference,
                    "due_by": refund.due_by,
                    "status_label": refund.get_status_display(),
                },
                meta=meta,
            )
            sent += 1
    return sent


# --- Ordering, confirmation, renewal notice, payment failure ---------------------------
#
# The customer side of subscribing (``/abonnement/``), the contract documents sent
# on a durable medium once the first payment is in (L221-13), the renewal notice of
# yearly plans (L215-1) and the emails of a failed renewal payment. Whether an email
# of this family was already sent is read from the stored email itself
# (``audit.OutboundEmail``: template and related object), written in the same
# transaction as its event, under the subscription's row lock: that row is the mark
# that makes each email go once.

CONFIRMATION_TEMPLATE = "subscription_confirmation"
RENEWAL_NOTICE_TEMPLATE = "subscription_renewal_notice"
PAYMENT_FAILED_TEMPLATE = "payment_failed"
PAYMENT_REMINDER_TEMPLATE = "payment_failed_reminder"
#: How long after the conclusion the sweeper still re-sends a missing confirmation.
CONFIRMATION_SWEEP_DAYS = 7


def _emails_about(*, customer, template: str, related):
    """The stored emails of ``template`` about ``related`` sent to ``customer``, newest first."""
    from audit.models import OutboundEmail

    return OutboundEmail.objects.filter(
        customer=customer,
        template=template,
        related_type=f"{related._meta.app_label}.{related._meta.model_name}",
        related_id=str(related.pk),
    ).order_by("-created_at", "-pk")


def subscription_order_place(
    *,
    customer,
    plan_code: str,
    accept_terms: bool,
    terms_version_shown: int | None,
    express_start: bool,
    express_start_version_shown: str,
    language: str = "fr",
    meta: RequestMeta | None = None,
) -> Subscription:
    """The "Commander avec obligation de paiement" button of ``/abonnement/``.

    Checks that what the customer saw is still what applies: the plan is on sale,
    the terms (CGV) version shown is the one in force, the express-start sentence
    shown is the current one (``ordering.EXPRESS_START_VERSION``). Then, in one
    transaction: the terms acceptance (an ``accounts`` consent with the sentence
    next to the box), the order (``subscription_order``, with the CGV version and
    the exact express-start wording, version and answer) and the
    ``subscription.precontract_shown`` event naming the versions of everything the
    page showed. A failed check stores nothing.
    """
    from accounts import selectors as account_selectors
    from accounts import services as account_services
    from accounts.models import Consent
    from guides import selectors as guide_selectors

    from . import ordering

    plan = Plan.objects.filter(code=(plan_code or "").strip()[:50]).first()
    if plan is None:
        raise DomainError(_("Cette formule n'existe pas."), "plan_unknown")
    if not plan.is_active:
        raise DomainError(_("Cette formule n'est plus proposée."), "plan_inactive")
    if not accept_terms:
        raise DomainError(
            _("Pour commander, acceptez les conditions générales de vente."), "terms_required"
        )
    terms = account_selectors.legal_version_in_force(Consent.Purpose.TERMS, language=language)
    if terms is None:
        raise DomainError(
            _(
                "Les conditions générales de vente ne sont pas encore publiées : "
                "commande impossible."
            ),
            "terms_unpublished",
        )
    if terms_version_shown != terms.version:
        raise DomainError(
            _(
                "Les conditions générales de vente ont changé depuis l'affichage de cette page "
                "(version %(version)s en vigueur). Relisez les informations ci-dessous, puis "
                "validez à nouveau."
            )
            % {"version": terms.version},
            "terms_stale",
        )
    if express_start_version_shown != ordering.EXPRESS_START_VERSION:
        raise DomainError(
            _(
                "Le texte de la demande de démarrage immédiat a changé depuis l'affichage de "
                "cette page. Relisez-le, puis validez à nouveau."
            ),
            "express_start_stale",
        )
    withdrawal_form = guide_selectors.legal_version_current(
        kind="formulaire-retractation", language=language
    )
    with translation.override(language):
        terms_wording = str(ordering.TERMS_WORDING) % {"version": terms.version}
        express_wording = str(ordering.EXPRESS_START_WORDING)
    with transaction.atomic():
        account_services.consent_record(
            user=customer,
            purpose=Consent.Purpose.TERMS,
            granted=True,
            content_version=terms,
            wording=terms_wording,
            meta=meta,
        )
        subscription = subscription_order(
            customer=customer,
            plan=plan,
            express_start=express_start,
            express_start_wording=express_wording if express_start else "",
            express_start_version=ordering.EXPRESS_START_VERSION if express_start else "",
            terms_version=terms,
            meta=meta,
        )
        audit.record(
            action="subscription.precontract_shown",
            subject=customer,
            actor=customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "language": language,
                "precontract_version": ordering.PRECONTRACT_VERSION,
                "plan": plan.code,
                "price_ttc_cents": plan.price_ttc_cents,
                "vat_rate_bp": plan.vat_rate_bp,
                "interval": plan.interval,
                "terms_version": terms.version,
                "terms_sha256": terms.sha256,
                "withdrawal_form_version": withdrawal_form.version if withdrawal_form else None,
                "withdrawal_form_sha256": withdrawal_form.sha256 if withdrawal_form else None,
                "express_start_version": ordering.EXPRESS_START_VERSION,
                "express_start": bool(express_start),
            },
            meta=meta,
        )
    return subscription


def _confirmation_on_commit(subscription_id: int) -> None:
    from . import tasks

    enqueue_on_commit(tasks.subscription_confirmation_send, subscription_id)


def subscription_confirmation_send(*, subscription: Subscription, meta: RequestMeta | None = None):
    """Send the contract confirmation on a durable medium (L221-13), once.

    The email carries the order recap (plan, price incl. VAT, start, renewal,
    express-start answer, reference, last day to withdraw) and two PDF attachments:
    the terms in the version the customer accepted and the withdrawal form.
    Nothing happens before the contract is concluded (first payment received) or
    when the confirmation was already sent; returns the stored email or None.
    """
    from audit.emails import email_queue

    from . import emails

    with transaction.atomic():
        subscription = _lock(subscription)
        if subscription.concluded_at is None:
            return None
        customer = subscription.customer
        existing = _emails_about(
            customer=customer, template=CONFIRMATION_TEMPLATE, related=subscription
        ).first()
        if existing is not None:
            return existing
        pack = emails.confirmation_pack(subscription)
        email = email_queue(
            template=CONFIRMATION_TEMPLATE,
            to=[customer.email],
            context=pack.context,
            customer=customer,
            related=subscription,
            language=pack.language,
            attachments=pack.attachments,
            meta=meta,
        )
        audit.record(
            action="subscription.confirmation_sent",
            subject=customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "email_id": email.pk,
                "terms_version": pack.terms_version,
                "terms_sha256": pack.terms_sha256,
                "withdrawal_form_version": pack.withdrawal_form_version,
                "attachments": [
                    {"filename": name, "sha256": hashlib.sha256(content).hexdigest()}
                    for name, content, _mimetype in pack.attachments
                ],
            },
            meta=meta,
        )
    return email


def subscription_contract_documents_deposit(
    *, subscription: Subscription, meta: RequestMeta | None = None
) -> list:
    """Deposit the PDFs of the sent confirmation in the customer's vault, once.

    The exact bytes attached to the stored email are deposited (terms and
    withdrawal form), through ``vault_hook.contract_document_store_in_vault``.
    Returns the vault document ids; an empty list when there is nothing to deposit
    yet, when it was done already, or while the vault does not accept service
    documents.
    """
    from audit.models import Event

    from . import emails
    from .vault_hook import contract_document_store_in_vault

    with transaction.atomic():
        subscription = _lock(subscription)
        customer = subscription.customer
        email = _emails_about(
            customer=customer, template=CONFIRMATION_TEMPLATE, related=subscription
        ).first()
        if email is None:
            return []
        if Event.objects.filter(
            chain_key=audit.chain_key_for(customer),
            action="subscription.documents_deposited",
            target_type="subscriptions.subscription",
            target_id=str(subscription.pk),
        ).exists():
            return []
        ids = []
        for filename, content, title, doc_type in emails.stored_attachments(email):
            document_id = contract_document_store_in_vault(
                customer=customer,
                filename=filename,
                content=content,
                title=title,
                doc_type=doc_type,
                subscription=subscription,
                meta=meta,
            )
            if document_id is not None:
                ids.append(document_id)
        if not ids:
            return []
        audit.record(
            action="subscription.documents_deposited",
            subject=customer,
            target=subscription,
            data={"reference": subscription.reference, "email_id": email.pk, "documents": ids},
            meta=meta,
        )
    return ids


def subscriptions_pending_confirmation(older_than: datetime, limit: int) -> list[int]:
    """Concluded subscriptions of the last days whose confirmation is not stored yet."""
    from django.db.models import CharField, Exists, OuterRef
    from django.db.models.functions import Cast

    from audit.models import OutboundEmail

    sent = OutboundEmail.objects.filter(
        template=CONFIRMATION_TEMPLATE,
        related_type="subscriptions.subscription",
        related_id=Cast(OuterRef("pk"), output_field=CharField()),
    )
    return list(
        Subscription.objects.filter(
            concluded_at__isnull=False,
            started_at__lt=older_than,
            started_at__gte=older_than - timedelta(days=CONFIRMATION_SWEEP_DAYS),
        )
        .exclude(Exists(sent))
        .order_by("started_at")
        .values_list("pk", flat=True)[:limit]
    )


def _current_payment(subscription: Subscription) -> Payment | None:
    return (
        Payment.objects.filter(
            subscription=subscription,
            status=Payment.Status.SUCCEEDED,
            period_end=subscription.current_period_end,
        )
        .order_by("-pk")
        .first()
    )


def subscription_renewal_notice_send(
    *, subscription: Subscription, today: date | None = None, meta: RequestMeta | None = None
):
    """Send the renewal notice of a yearly subscription (L215-1), once per period.

    Due on the days ``ordering.renewal_notice_due`` gives (two months before the
    renewal, caught up until one month before, never earlier than three). Only an
    ``active`` yearly subscription renews tacitly; a scheduled cancellation gets
    none. The notice is tied to the payment of the period that ends at the
    renewal, so each period gets its own. Returns the stored email or None.
    """
    from audit.emails import email_queue

    from . import emails, ordering

    today = today or deadlines.local_date(timezone.now())
    with transaction.atomic():
        subscription = _lock(subscription)
        if (
            subscription.status != Subscription.Status.ACTIVE
            or subscription.plan.interval != Plan.Interval.YEAR
            or subscription.current_period_end is None
        ):
            return None
        renewal_day = deadlines.local_date(subscription.current_period_end)
        if not ordering.renewal_notice_due(renewal_day, today):
            return None
        payment = _current_payment(subscription)
        if payment is None:
            return None
        customer = subscription.customer
        if _emails_about(
            customer=customer, template=RENEWAL_NOTICE_TEMPLATE, related=payment
        ).exists():
            return None
        email = email_queue(
            template=RENEWAL_NOTICE_TEMPLATE,
            to=[customer.email],
            context=emails.renewal_notice_context(subscription),
            customer=customer,
            related=payment,
            meta=meta,
        )
        audit.record(
            action="subscription.renewal_notice_sent",
            subject=customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "email_id": email.pk,
                "payment_id": payment.pk,
                "renewal_on": renewal_day.isoformat(),
                "price_ttc_cents": subscription.plan.price_ttc_cents,
            },
            meta=meta,
        )
    return email


def subscription_renewal_notices_send(
    *, today: date | None = None, meta: RequestMeta | None = None
) -> int:
    """The daily job: every renewal notice due ``today`` (default: today, Paris).

    Returns how many went.
    """
    today = today or deadlines.local_date(timezone.now())
    # Deadlines between one and three months away, with a margin: the exact rule is
    # applied per subscription under its lock.
    start = deadlines.start_of_day(today + timedelta(days=27))
    end = deadlines.start_of_day(today + timedelta(days=95))
    candidates = Subscription.objects.filter(
        status=Subscription.Status.ACTIVE,
        plan__interval=Plan.Interval.YEAR,
        current_period_end__gte=start,
        current_period_end__lt=end,
    ).order_by("current_period_end")
    sent = 0
    for subscription in candidates:
        if subscription_renewal_notice_send(subscription=subscription, today=today, meta=meta):
            sent += 1
    return sent


def subscription_payment_failed(
    *,
    subscription: Subscription,
    reason: str,
    provider_event_id: str = "",
    meta: RequestMeta | None = None,
) -> Subscription:
    """A renewal payment failed: ``active -> past_due``, and the customer is told at once.

    Access continues while the provider retries (CGV article 6); reminders follow
    (``subscription_payment_reminder_send``). Recorded as
    ``subscription.payment_failed`` whatever the state; a subscription already past
    due (another failed retry), not renewing, or not open anymore does not change
    and gets no new email (a provider may deliver events late or twice).
    """
    from audit.emails import email_queue

    from . import emails

    with transaction.atomic():
        subscription = _lock(subscription)
        previous = subscription.status
        if previous == Subscription.Status.ACTIVE:
            subscription.status = Subscription.Status.PAST_DUE
            subscription.save(update_fields=["status", "updated_at"])
        audit.record(
            action="subscription.payment_failed",
            subject=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "reason": (reason or "")[:200],
                "provider_event_id": provider_event_id,
                "previous_status": previous,
                "status": subscription.status,
                "amount_cents": subscription.plan.price_ttc_cents,
            },
            meta=meta,
        )
        if previous == Subscription.Status.ACTIVE:
            email_queue(
                template=PAYMENT_FAILED_TEMPLATE,
                to=[subscription.customer.email],
                context=emails.payment_failed_context(subscription, reminder=0),
                customer=subscription.customer,
                related=subscription,
                meta=meta,
            )
    return subscription


def subscription_payment_reminder_send(
    *, subscription: Subscription, now: datetime | None = None, meta: RequestMeta | None = None
):
    """Send the next payment reminder of a past-due subscription when it is due, once each.

    Reminders go ``ordering.PAYMENT_REMINDER_DAYS`` days after the first
    payment-failure email of the current past-due episode. Returns the stored email
    or None.
    """
    from audit.emails import email_queue

    from . import emails, ordering

    now = now or timezone.now()
    with transaction.atomic():
        subscription = _lock(subscription)
        if subscription.status != Subscription.Status.PAST_DUE:
            return None
        customer = subscription.customer
        first = _emails_about(
            customer=customer, template=PAYMENT_FAILED_TEMPLATE, related=subscription
        ).first()
        if first is None:
            return None
        done = (
            _emails_about(
                customer=customer, template=PAYMENT_REMINDER_TEMPLATE, related=subscription
            )
            .filter(created_at__gte=first.created_at)
            .count()
        )
        if done >= len(ordering.PAYMENT_REMINDER_DAYS):
            return None
        if now < first.created_at + timedelta(days=ordering.PAYMENT_REMINDER_DAYS[done]):
            return None
        number = done + 1
        email = email_queue(
            template=PAYMENT_REMINDER_TEMPLATE,
            to=[customer.email],
            context=emails.payment_failed_context(
                subscription, reminder=number, first_sent_at=first.created_at
            ),
            customer=customer,
            related=subscription,
            meta=meta,
        )
        audit.record(
            action="subscription.payment_reminder_sent",
            subject=customer,
            target=subscription,
            data={"reference": subscription.reference, "email_id": email.pk, "number": number},
            meta=meta,
        )
    return email


def subscription_payment_reminders_send(
    *, now: datetime | None = None, meta: RequestMeta | None = None
) -> int:
    """The daily job: every payment reminder due now. Returns how many went."""
    sent = 0
    for subscription in Subscription.objects.filter(status=Subscription.Status.PAST_DUE):
        if subscription_payment_reminder_send(subscription=subscription, now=now, meta=meta):
            sent += 1
    return sent


# --- Ending: provider follow-up, scheduled ends ------------------------------------------


def _provider_sync_on_commit(subscription: Subscription) -> None:
    from . import tasks

    enqueue_on_commit(tasks.subscription_provider_sync, subscription.pk)


def subscription_provider_sync(*, subscription_id: int) -> str:
    """Tell the provider what our state means for renewals (body of the task).

    Derived from the current state, so running it twice or late does no harm:
    ended or withdrawn -> stop now; cancel_scheduled -> stop at the period end;
    active -> renew again (a cancellation taken back). ``billing_reconcile``
    catches what a failed call leaves behind.
    """
    from .providers import get_provider

    subscription = Subscription.objects.get(pk=subscription_id)
    provider = get_provider(subscription.provider)
    if subscription.status in (Subscription.Status.ENDED, Subscription.Status.WITHDRAWN):
        provider.cancel_now(subscription)
        return "cancel_now"
    if subscription.status == Subscription.Status.CANCEL_SCHEDULED:
        provider.cancel_at_period_end(subscription)
        return "cancel_at_period_end"
    if subscription.status == Subscription.Status.ACTIVE:
        provider.resume(subscription)
        return "resume"
    return "nothing"


def _end_now(subscription: Subscription, *, reason: str, acting_user=None, meta=None) -> None:
    """``active | cancel_scheduled | past_due -> ended`` at once (caller holds the lock)."""
    _refuse_transition(subscription, Subscription.Status.ENDED)
    previous = subscription.status
    subscription.status = Subscription.Status.ENDED
    subscription.ended_at = timezone.now()
    subscription.save(update_fields=["status", "ended_at", "updated_at"])
    audit.record(
        action="subscription.ended",
        subject=subscription.customer,
        actor=acting_user,
        on_behalf_of=subscription.customer if acting_user is not None else None,
        target=subscription,
        data={
            "reference": subscription.reference,
            "reason": reason,
            "previous_status": previous,
            "ended_at": subscription.ended_at.isoformat(),
        },
        meta=meta,
    )
    _provider_sync_on_commit(subscription)


def subscription_end_scheduled(
    *, subscription: Subscription, now: datetime | None = None, meta: RequestMeta | None = None
) -> bool:
    """``cancel_scheduled -> ended`` once ``cancel_at`` is reached; True if it ended now.

    Idempotent: a subscription already ended, or whose end is not due, is left alone.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscription = _lock(subscription)
        if subscription.status != Subscription.Status.CANCEL_SCHEDULED:
            return False
        if subscription.cancel_at > now:
            return False
        _end_now(subscription, reason="cancellation_effective", meta=meta)
    return True


def subscriptions_end_due(*, now: datetime | None = None, meta: RequestMeta | None = None) -> int:
    """End every scheduled cancellation whose date is reached (daily task); returns how many."""
    now = now or timezone.now()
    due = Subscription.objects.filter(
        status=Subscription.Status.CANCEL_SCHEDULED, cancel_at__lte=now
    ).order_by("cancel_at")
    return sum(
        subscription_end_scheduled(subscription=subscription, now=now, meta=meta)
        for subscription in due
    )


# --- Cancellation ("Résilier votre contrat", L215-1-1, D215-1, D215-2) --------------------


class CancellationEffect:
    """What a cancellation request does, by the subscription's state."""

    SCHEDULED = "scheduled"  # active: ends at the end of the paid period
    ALREADY_SCHEDULED = "already_scheduled"  # asked before: the same end date stands
    ENDED_NOW = "ended_now"  # past due: nothing paid is left, it ends at once
    ABANDONED = "abandoned"  # an order never paid: it is dropped


@dataclass(frozen=True)
class CancellationPlan:
    effect: str
    effective_end: datetime
    desired_date: date | None
    #: The customer asked for a date after the paid period: we end at the period end
    #: (the contract does not renew once cancelled) and say so.
    desired_after_period: bool = False


def cancellation_plan(
    *, subscription: Subscription, desired_date: date | None, now: datetime | None = None
) -> CancellationPlan:
    """Compute what cancelling ``subscription`` now would do (shown on the recap page).

    The contract ends at the end of the period already paid (CGV article 8): an
    earlier desired date does not cut the paid period short, nothing more is
    charged afterwards. Raises ``DomainError`` when there is nothing to cancel.
    """
    now = now or timezone.now()
    if desired_date is not None and desired_date < deadlines.local_date(now):
        raise DomainError(
            _("La date souhaitée ne peut pas être dans le passé."), "desired_date_past"
        )
    status = subscription.status
    if status == Subscription.Status.PENDING_PAYMENT:
        return CancellationPlan(CancellationEffect.ABANDONED, now, desired_date)
    if status == Subscription.Status.PAST_DUE:
        return CancellationPlan(CancellationEffect.ENDED_NOW, now, desired_date)
    if status == Subscription.Status.CANCEL_SCHEDULED:
        return CancellationPlan(
            CancellationEffect.ALREADY_SCHEDULED, subscription.cancel_at, desired_date
        )
    if status == Subscription.Status.ACTIVE:
        end = subscription.current_period_end
        after = desired_date is not None and desired_date > deadlines.local_date(end)
        return CancellationPlan(CancellationEffect.SCHEDULED, end, desired_date, after)
    raise InvalidState(_("Ce contrat est déjà terminé."), "not_cancellable")


def _cancellation_email(*, subscription, plan: CancellationPlan, request=None, meta=None):
    from audit.emails import email_queue

    return email_queue(
        template="cancellation_ack",
        to=subscription.customer.email,
        customer=subscription.customer,
        related=request or subscription,
        context={
            "subscription": subscription,
            "reference": subscription.reference,
            "plan_name": subscription.plan.name,
            "effect": plan.effect,
            "effective_end": plan.effective_end,
            "desired_date": plan.desired_date,
            "desired_after_period": plan.desired_after_period,
            "request": request,
            "requested_at": request.requested_at if request else timezone.now(),
            "by_staff": request is None,
        },
        meta=meta,
    )


def subscription_cancel(
    *,
    subscription: Subscription,
    channel: str,
    full_name: str,
    email: str,
    contract_reference: str,
    desired_date: date | None = None,
    acting_user=None,
    meta: RequestMeta | None = None,
) -> CancellationRequest:
    """Record a "Résilier votre contrat" request and apply it.

    ``active -> cancel_scheduled`` (ends at the end of the paid period, the provider
    stops renewing), ``past_due -> ended``, ``pending_payment -> abandoned``; a
    subscription already scheduled keeps its date. The request (what the customer
    typed, and the end we decided) is kept as evidence, and the acknowledgement
    (end date and its effects, the request's content, date and time) goes to the
    account's email address.
    """
    if channel not in CancellationRequest.Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    with transaction.atomic():
        subscription = _lock(subscription)
        plan = cancellation_plan(subscription=subscription, desired_date=desired_date)
        if plan.effect == CancellationEffect.ABANDONED:
            _abandon(subscription, reason="cancelled_by_customer", meta=meta)
        elif plan.effect == CancellationEffect.ENDED_NOW:
            _end_now(subscription, reason="cancelled_in_arrears", meta=meta)
        elif plan.effect == CancellationEffect.SCHEDULED:
            subscription.status = Subscription.Status.CANCEL_SCHEDULED
            subscription.cancel_at = plan.effective_end
            subscription.save(update_fields=["status", "cancel_at", "updated_at"])
            audit.record(
                action="subscription.cancel_scheduled",
                subject=subscription.customer,
                actor=acting_user,
                target=subscription,
                data={
                    "reference": subscription.reference,
                    "cancel_at": plan.effective_end.isoformat(),
                },
                meta=meta,
            )
            _provider_sync_on_commit(subscription)
        request = CancellationRequest.objects.create(
            subscription=subscription,
            customer=subscription.customer,
            channel=channel,
            full_name=full_name.strip()[:200],
            email=email.strip()[:254],
            contract_reference=contract_reference.strip()[:40],
            desired_date=desired_date,
            effective_end=plan.effective_end,
            requested_at=timezone.now(),
        )
        audit.record(
            action="cancellation.requested",
            subject=subscription.customer,
            actor=acting_user,
            target=request,
            data={
                "cancellation_request_id": request.pk,
                "reference": subscription.reference,
                "channel": channel,
                "effect": plan.effect,
                "desired_date": desired_date.isoformat() if desired_date else None,
                "effective_end": plan.effective_end.isoformat(),
                "requested_at": request.requested_at.isoformat(),
            },
            meta=meta,
        )
        _cancellation_email(subscription=subscription, plan=plan, request=request, meta=meta)
    return request


def cancellation_request_logged_out(
    *,
    full_name: str,
    email: str,
    contract_reference: str,
    desired_date: date | None = None,
    meta: RequestMeta | None = None,
) -> None:
    """A request made without logging in, identified by email and contract reference.

    Returns nothing on purpose: the page says the same whatever the pair. A pair
    that matches an open contract is applied like a logged-in request (the
    acknowledgement goes to the account's address, never to the address typed); any
    other pair only leaves an event on the system chain, with no personal data.
    """
    from django.db.models.functions import Lower

    from .references import reference_normalize

    normalized = reference_normalize(contract_reference or "")
    subscription = None
    if normalized:
        subscription = (
            Subscription.objects.open()
            .annotate(email_lower=Lower("customer__email"))
            .filter(reference=normalized, email_lower=(email or "").strip().lower())
            .select_related("customer", "plan")
            .first()
        )
    if subscription is None:
        with transaction.atomic():
            audit.record(
                action="cancellation.unmatched",
                data={"channel": CancellationRequest.Channel.LOGGED_OUT},
                meta=meta,
            )
        return
    try:
        subscription_cancel(
            subscription=subscription,
            channel=CancellationRequest.Channel.LOGGED_OUT,
            full_name=full_name,
            email=email,
            contract_reference=contract_reference,
            desired_date=desired_date,
            meta=meta,
        )
    except DomainError:
        # The contract changed between lookup and lock (ended meanwhile): same answer.
        return


def subscription_cancel_by_staff(
    *, subscription: Subscription, acting_user, reason: str, meta: RequestMeta | None = None
) -> Subscription:
    """Staff cancel on the customer's behalf (a request received by phone or letter).

    Same effect as the customer's own request at the end of the paid period; the
    reason is kept in the event; the customer gets the same acknowledgement.
    """
    _require_staff(acting_user)
    reason = _required_reason(reason)
    with transaction.atomic():
        subscription = _lock(subscription)
        plan = cancellation_plan(subscription=subscription, desired_date=None)
        if plan.effect == CancellationEffect.ALREADY_SCHEDULED:
            raise InvalidState(
                _("La résiliation de ce contrat est déjà programmée."), "already_scheduled"
            )
        if plan.effect == CancellationEffect.ABANDONED:
            _abandon(subscription, reason="cancelled_by_staff", meta=meta)
        elif plan.effect == CancellationEffect.ENDED_NOW:
            _end_now(subscription, reason="cancelled_by_staff", acting_user=acting_user, meta=meta)
        else:
            subscription.status = Subscription.Status.CANCEL_SCHEDULED
            subscription.cancel_at = plan.effective_end
            subscription.save(update_fields=["status", "cancel_at", "updated_at"])
            _provider_sync_on_commit(subscription)
        audit.record(
            action="subscription.cancelled_by_staff",
            subject=subscription.customer,
            actor=acting_user,
            on_behalf_of=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "effect": plan.effect,
                "effective_end": plan.effective_end.isoformat(),
                "reason": reason,
            },
            meta=meta,
        )
        _cancellation_email(subscription=subscription, plan=plan, meta=meta)
    return subscription


def subscription_resume(
    *, subscription: Subscription, acting_user, meta: RequestMeta | None = None
) -> Subscription:
    """``cancel_scheduled -> active``: the customer takes their cancellation back."""
    with transaction.atomic():
        subscription = _lock(subscription)
        if acting_user is None or (
            acting_user.pk != subscription.customer_id and not acting_user.is_staff
        ):
            raise NotAllowed(_("Ce contrat n'est pas le vôtre."), "not_owner")
        if subscription.status != Subscription.Status.CANCEL_SCHEDULED:
            raise InvalidState(_("Aucune résiliation n'est programmée."), "not_scheduled")
        if subscription.cancel_at <= timezone.now():
            raise InvalidState(_("La résiliation a déjà pris effet."), "cancel_effective")
        previous_end = subscription.cancel_at
        subscription.status = Subscription.Status.ACTIVE
        subscription.cancel_at = None
        subscription.save(update_fields=["status", "cancel_at", "updated_at"])
        audit.record(
            action="subscription.resumed",
            subject=subscription.customer,
            actor=acting_user,
            target=subscription,
            data={"reference": subscription.reference, "cancel_at_was": previous_end.isoformat()},
            meta=meta,
        )
        _provider_sync_on_commit(subscription)
    return subscription


def _require_staff(user) -> None:
    if user is None or not user.is_staff:
        raise NotAllowed(_("Réservé à l'équipe."), "staff_only")


#: Longest reason a customer or staff member may give (claims, decisions).
REASON_MAX_LENGTH = 2000


def _required_reason(reason: str, *, code_prefix: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Indiquez un motif."), f"{code_prefix}_required")
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(
            _("Le motif est trop long (%(max)d caractères au plus).") % {"max": REASON_MAX_LENGTH},
            f"{code_prefix}_too_long",
        )
    return reason


# --- Withdrawal ("Renoncer au contrat ici", L221-18 to L221-28, D221-5) -------------------


@dataclass(frozen=True)
class WithdrawalQuote:
    """What a withdrawal declared at ``at`` refunds, before the customer confirms."""

    subscription: Subscription
    payment: Payment
    computation: object  # refunds.WithdrawalRefund
    at: datetime

    @property
    def refund_cents(self) -> int:
        return self.computation.refund_cents


def _initial_payment(subscription: Subscription) -> Payment | None:
    return (
        Payment.objects.filter(
            subscription=subscription,
            kind=Payment.Kind.INITIAL,
            status=Payment.Status.SUCCEEDED,
        )
        .order_by("paid_at")
        .first()
    )


def withdrawal_quote(*, subscription: Subscription, at: datetime | None = None) -> WithdrawalQuote:
    """The refund a withdrawal declared at ``at`` (default now) gives, or a DomainError.

    Codes: ``not_withdrawable`` (no paid contract in a state that allows it),
    ``withdrawal_period_over`` (``at`` is not before the stored deadline).
    """
    from .refunds import withdrawal_refund

    at = at or timezone.now()
    if not subscription.can_become(Subscription.Status.WITHDRAWN):
        raise InvalidState(
            _("Ce contrat ne peut plus faire l'objet d'une rétractation."), "not_withdrawable"
        )
    if subscription.withdrawal_deadline is None or at >= subscription.withdrawal_deadline:
        raise DomainError(
            _("Le délai de rétractation de quatorze jours est écoulé."), "withdrawal_period_over"
        )
    payment = _initial_payment(subscription)
    if payment is None:
        raise InvalidState(_("Aucun paiement n'a été reçu pour ce contrat."), "not_withdrawable")
    computation = withdrawal_refund(
        paid_cents=payment.amount_cents,
        express_start=subscription.express_start,
        period_start=deadlines.local_date(payment.period_start),
        period_end=deadlines.local_date(payment.period_end),
        declared_on=deadlines.local_date(at),
    )
    return WithdrawalQuote(
        subscription=subscription, payment=payment, computation=computation, at=at
    )


def withdrawal_declaration_text(*, subscription: Subscription, customer) -> str:
    """The declaration as the customer confirms it (the standard form's wording, R221-1)."""
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p).strip()
    return _(
        "Je vous notifie par la présente ma rétractation du contrat portant sur la prestation "
        "de services ci-dessous : abonnement MyNetSpace, formule %(plan)s, contrat "
        "%(reference)s, conclu le %(concluded)s. Nom du consommateur : %(name)s. Adresse "
        "e-mail du consommateur : %(email)s."
    ) % {
        "plan": subscription.plan.name,
        "reference": subscription.reference,
        "concluded": _french_date(subscription.concluded_at),
        "name": name or "-",
        "email": customer.email,
    }


def _withdraw(
    *,
    subscription: Subscription,
    channel: str,
    declared_at: datetime,
    informed_at: datetime,
    content: str,
    recorded_by=None,
    meta: RequestMeta | None = None,
) -> WithdrawalDeclaration:
    """The effect of a withdrawal, whatever its channel (caller holds the lock)."""
    from audit.emails import email_queue

    if WithdrawalDeclaration.objects.filter(subscription=subscription).exists():
        raise InvalidState(
            _("La rétractation de ce contrat est déjà enregistrée."), "already_withdrawn"
        )
    if subscription.concluded_at is not None and declared_at < subscription.concluded_at:
        raise DomainError(
            _("La déclaration ne peut pas précéder la conclusion du contrat."),
            "declared_before_contract",
        )
    quote = withdrawal_quote(subscription=subscription, at=declared_at)
    now = timezone.now()
    due_by = informed_at + timedelta(days=WITHDRAWAL_REFUND_DAYS)
    declaration = WithdrawalDeclaration.objects.create(
        subscription=subscription,
        customer=subscription.customer,
        channel=channel,
        declared_at=declared_at,
        recorded_at=now,
        recorded_by=recorded_by,
        content=content,
        paid_cents=quote.computation.paid_cents,
        refund_cents=quote.refund_cents,
        computation={
            **quote.computation.as_data(),
            "payment_id": quote.payment.pk,
            "informed_at": informed_at.isoformat(),
        },
    )
    previous = subscription.status
    subscription.status = Subscription.Status.WITHDRAWN
    subscription.ended_at = now
    subscription.save(update_fields=["status", "ended_at", "updated_at"])
    audit.record(
        action="withdrawal.declared",
        subject=subscription.customer,
        actor=recorded_by or subscription.customer,
        on_behalf_of=subscription.customer if recorded_by is not None else None,
        target=declaration,
        data={
            "withdrawal_id": declaration.pk,
            "reference": subscription.reference,
            "channel": channel,
            "declared_at": declared_at.isoformat(),
            "informed_at": informed_at.isoformat(),
            "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
            "paid_cents": declaration.paid_cents,
            "refund_cents": declaration.refund_cents,
            "rule": quote.computation.rule,
            "days_supplied": quote.computation.days_supplied,
            "days_in_period": quote.computation.days_in_period,
            "refund_due_by": due_by.isoformat(),
        },
        meta=meta,
    )
    audit.record(
        action="subscription.withdrawn",
        subject=subscription.customer,
        actor=recorded_by or subscription.customer,
        target=subscription,
        data={
            "reference": subscription.reference,
            "withdrawal_id": declaration.pk,
            "previous_status": previous,
            "ended_at": now.isoformat(),
        },
        meta=meta,
    )
    refund = None
    if quote.refund_cents > 0:
        refund = _refund_create(
            subscription=subscription,
            payment=quote.payment,
            reason=Refund.Reason.WITHDRAWAL,
            amount_cents=quote.refund_cents,
            withdrawal=declaration,
            due_by=due_by,
            acting_user=recorded_by,
            meta=meta,
        )
    _provider_sync_on_commit(subscription)
    email_queue(
        template="withdrawal_ack",
        to=subscription.customer.email,
        customer=subscription.customer,
        related=declaration,
        context={
            "declaration": declaration,
            "reference": subscription.reference,
            "plan_name": subscription.plan.name,
            "content": content,
            "declared_at": declared_at,
            "channel": channel,
            "channel_label": declaration.get_channel_display(),
            "paid": format_eur(declaration.paid_cents),
            "refund": format_eur(declaration.refund_cents),
            "retained": format_eur(quote.computation.retained_cents),
            "computation": quote.computation,
            "refund_due_by": due_by if refund else None,
        },
        meta=meta,
    )
    return declaration


def withdrawal_declare(
    *,
    subscription: Subscription,
    acting_user,
    expected_refund_cents: int | None = None,
    meta: RequestMeta | None = None,
) -> WithdrawalDeclaration:
    """ "Confirmer la rétractation": the customer withdraws online, now.

    ``expected_refund_cents`` is the amount the page showed; if the computation
    gives another amount (the day changed meanwhile), nothing happens and
    ``DomainError("amount_changed")`` lets the page show the new amount first.
    """
    with transaction.atomic():
        subscription = _lock(subscription)
        if acting_user is None or acting_user.pk != subscription.customer_id:
            raise NotAllowed(_("Ce contrat n'est pas le vôtre."), "not_owner")
        now = timezone.now()
        if expected_refund_cents is not None:
            quote = withdrawal_quote(subscription=subscription, at=now)
            if quote.refund_cents != expected_refund_cents:
                raise DomainError(
                    _(
                        "Le montant à rembourser a changé depuis l'affichage : "
                        "vérifiez-le puis confirmez."
                    ),
                    "amount_changed",
                )
        return _withdraw(
            subscription=subscription,
            channel=WithdrawalDeclaration.Channel.ONLINE,
            declared_at=now,
            informed_at=now,
            content=withdrawal_declaration_text(
                subscription=subscription, customer=subscription.customer
            ),
            meta=meta,
        )


def withdrawal_record_by_staff(
    *,
    subscription: Subscription,
    acting_user,
    channel: str,
    declared_at: datetime,
    received_at: datetime,
    content: str,
    meta: RequestMeta | None = None,
) -> WithdrawalDeclaration:
    """Staff record a withdrawal received by post or email, with the same effect.

    ``declared_at``: when the customer sent it (it counts if sent before the
    deadline, L221-21); ``received_at``: when we were told, from which the 14-day
    refund deadline runs (L221-24). ``content``: the text received.
    """
    _require_staff(acting_user)
    if channel not in (WithdrawalDeclaration.Channel.POST, WithdrawalDeclaration.Channel.EMAIL):
        raise DomainError(_("Choisissez le courrier ou l'e-mail."), "invalid_channel")
    content = (content or "").strip()
    if not content:
        raise DomainError(_("Recopiez le contenu de la déclaration reçue."), "content_required")
    if len(content) > 10000:
        raise DomainError(_("Le contenu est trop long."), "content_too_long")
    now = timezone.now()
    if declared_at > now or received_at > now:
        raise DomainError(_("Une date ne peut pas être dans le futur."), "date_in_future")
    if received_at < declared_at:
        raise DomainError(
            _("La date de réception ne peut pas précéder la date d'envoi."), "received_before_sent"
        )
    with transaction.atomic():
        subscription = _lock(subscription)
        return _withdraw(
            subscription=subscription,
            channel=channel,
            declared_at=declared_at,
            informed_at=received_at,
            content=content,
            recorded_by=acting_user,
            meta=meta,
        )


def withdrawals_awaiting_refund():
    """Withdrawals whose refund has not succeeded, oldest first (back office)."""
    return (
        WithdrawalDeclaration.objects.exclude(refund_cents=0)
        .exclude(refund__status=Refund.Status.SUCCEEDED)
        .select_related("subscription", "customer", "refund")
        .order_by("declared_at")
    )


# --- "Satisfait ou remboursé" (our commercial promise, CGV article 9) ---------------------

#: A claim must be made within this many days of the customer's first payment.
SATISFACTION_DAYS = 30


def satisfaction_eligibility(*, customer, now: datetime | None = None) -> Payment:
    """The payment a claim would refund, or a DomainError saying why there is none.

    CGV article 9: the customer's first payment, within 30 days of it, once per
    customer, while that contract is still running. Codes: ``claim_already_accepted``,
    ``claim_pending``, ``no_payment``, ``claim_period_over``, ``contract_not_running``.
    """
    now = now or timezone.now()
    claims = SatisfactionClaim.objects.filter(customer=customer)
    if claims.filter(status=SatisfactionClaim.Status.ACCEPTED).exists():
        raise DomainError(
            _("Vous avez déjà bénéficié de la promesse « satisfait ou remboursé »."),
            "claim_already_accepted",
        )
    if claims.filter(status=SatisfactionClaim.Status.REQUESTED).exists():
        raise DomainError(
            _("Votre demande est en cours d'examen : nous vous répondons par e-mail."),
            "claim_pending",
        )
    first = (
        Payment.objects.filter(customer=customer, status=Payment.Status.SUCCEEDED)
        .select_related("subscription__plan")
        .order_by("paid_at", "pk")
        .first()
    )
    if first is None:
        raise DomainError(_("Aucun paiement n'a été reçu de votre part."), "no_payment")
    if now >= first.paid_at + timedelta(days=SATISFACTION_DAYS):
        raise DomainError(
            _(
                "La promesse vaut pendant trente jours après votre premier paiement : "
                "ce délai est passé."
            ),
            "claim_period_over",
        )
    if first.subscription.status not in (
        Subscription.Status.ACTIVE,
        Subscription.Status.CANCEL_SCHEDULED,
        Subscription.Status.PAST_DUE,
    ):
        raise DomainError(
            _(
                "Le contrat concerné n'est plus en cours "
                "(il a pris fin ou a fait l'objet d'une rétractation)."
            ),
            "contract_not_running",
        )
    return first


def satisfaction_claim_submit(
    *, customer, reason: str, meta: RequestMeta | None = None
) -> SatisfactionClaim:
    """The customer asks for the "satisfait ou remboursé" refund; staff decide later."""
    from django.contrib.auth import get_user_model

    from audit.emails import email_queue

    reason = _required_reason(reason)
    with transaction.atomic():
        # Serialise a customer's claims (the unique constraint is the last guard).
        get_user_model().objects.select_for_update().filter(pk=customer.pk).first()
        payment = satisfaction_eligibility(customer=customer)
        claim = SatisfactionClaim.objects.create(
            customer=customer,
            subscription=payment.subscription,
            payment=payment,
            reason=reason,
        )
        audit.record(
            action="satisfaction_claim.submitted",
            subject=customer,
            actor=customer,
            target=claim,
            data={
                "claim_id": claim.pk,
                "reference": payment.subscription.reference,
                "payment_id": payment.pk,
                "amount_cents": payment.amount_cents,
                "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
            },
            meta=meta,
        )
        context = {
            "claim": claim,
            "reference": payment.subscription.reference,
            "amount": format_eur(payment.amount_cents),
            "reason": reason,
        }
        email_queue(
            template="satisfaction_received",
            to=customer.email,
            customer=customer,
            related=claim,
            context=context,
            meta=meta,
        )
        email_queue(
            template="satisfaction_staff_new",
            to=_staff_recipients(),
            related=claim,
            context=context,
            meta=meta,
        )
    return claim


def satisfaction_claim_decide(
    *,
    claim: SatisfactionClaim,
    acting_user,
    accept: bool,
    reason: str,
    meta: RequestMeta | None = None,
) -> SatisfactionClaim:
    """Staff accept or refuse a claim, with a reason the customer receives.

    Accepted: the first payment is refunded (less anything already refunded on it),
    a credit note follows the refund, and the contract ends at once.
    """
    from audit.emails import email_queue

    _require_staff(acting_user)
    reason = _required_reason(reason, code_prefix="decision_reason")
    with transaction.atomic():
        claim = (
            SatisfactionClaim.objects.select_for_update()
            .select_related("customer", "payment", "subscription__plan")
            .get(pk=claim.pk)
        )
        if claim.status != SatisfactionClaim.Status.REQUESTED:
            raise InvalidState(_("Cette demande a déjà été tranchée."), "claim_decided")
        subscription = _lock(claim.subscription)
        refund = None
        if accept:
            already = sum(
                Refund.objects.filter(payment=claim.payment)
                .exclude(status=Refund.Status.FAILED)
                .values_list("amount_cents", flat=True)
            )
            amount = claim.payment.amount_cents - already
            if amount <= 0:
                raise InvalidState(
                    _("Ce paiement a déjà été remboursé en totalité."), "already_refunded"
                )
        claim.status = (
            SatisfactionClaim.Status.ACCEPTED if accept else SatisfactionClaim.Status.REFUSED
        )
        claim.decided_at = timezone.now()
        claim.decided_by = acting_user
        claim.decision_reason = reason
        claim.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        audit.record(
            action="satisfaction_claim.accepted" if accept else "satisfaction_claim.refused",
            subject=claim.customer,
            actor=acting_user,
            on_behalf_of=claim.customer,
            target=claim,
            data={
                "claim_id": claim.pk,
                "reference": subscription.reference,
                "payment_id": claim.payment_id,
                "decision_reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
            },
            meta=meta,
        )
        if accept:
            refund = _refund_create(
                subscription=subscription,
                payment=claim.payment,
                reason=Refund.Reason.SATISFACTION,
                amount_cents=amount,
                satisfaction_claim=claim,
                acting_user=acting_user,
                meta=meta,
            )
            if subscription.is_open and subscription.status != Subscription.Status.PENDING_PAYMENT:
                _end_now(
                    subscription,
                    reason="satisfaction_claim_accepted",
                    acting_user=acting_user,
                    meta=meta,
                )
        email_queue(
            template="satisfaction_decision",
            to=claim.customer.email,
            customer=claim.customer,
            related=claim,
            context={
                "claim": claim,
                "accepted": accept,
                "decision_reason": reason,
                "reference": subscription.reference,
                "amount": format_eur(refund.amount_cents) if refund else "",
            },
            meta=meta,
        )
    return claim


# --- State reported by the payment provider (providers/stripe.py) ---------------------------


def subscription_provider_state_apply(
    *,
    subscription: Subscription,
    cancel_at: datetime | None,
    ended_at: datetime | None,
    provider_event_id: str = "",
    meta: RequestMeta | None = None,
) -> str:
    """Mirror what the provider reports about stopping renewals; returns what changed.

    The provider's webhook handler calls this once it knows the report is the newest
    it has seen (the order-safety rules are in ``providers/stripe.py``). The provider
    is the source here, so it is not told again.

    - ``ended_at`` set: the provider stopped charging. A customer who paid beyond that
      moment keeps the service to the end of the paid period (``cancel_scheduled`` at
      ``current_period_end``, ended by the daily job); otherwise ``-> ended`` at
      ``ended_at``, keeping ``cancel_at`` as reported.
    - ``cancel_at`` set: ``active -> cancel_scheduled`` at that date, or the date moves.
    - neither: ``cancel_scheduled -> active`` (the cancellation was taken back).

    A past-due subscription only follows an end (its renewal is the payment flow's
    business). Unchanged states record nothing.
    """
    status_ = Subscription.Status
    with transaction.atomic():
        subscription = _lock(subscription)
        previous = subscription.status
        previous_cancel_at = subscription.cancel_at
        if previous not in (status_.ACTIVE, status_.CANCEL_SCHEDULED, status_.PAST_DUE):
            raise InvalidState(
                _("Cet abonnement n'est pas en cours : l'état du prestataire ne s'applique pas."),
                "invalid_state",
            )
        paid_until = subscription.current_period_end
        if ended_at is not None:
            if previous != status_.PAST_DUE and paid_until and paid_until > ended_at:
                target, target_cancel_at = status_.CANCEL_SCHEDULED, paid_until
            else:
                target, target_cancel_at = status_.ENDED, cancel_at
        elif cancel_at is not None:
            target = status_.CANCEL_SCHEDULED if previous != status_.PAST_DUE else previous
            target_cancel_at = cancel_at if target == status_.CANCEL_SCHEDULED else None
        else:
            target = status_.ACTIVE if previous == status_.CANCEL_SCHEDULED else previous
            target_cancel_at = None if target == status_.ACTIVE else previous_cancel_at
        if target == previous and target_cancel_at == previous_cancel_at:
            return "unchanged"
        if target != previous:
            _refuse_transition(subscription, target)
        subscription.status = target
        subscription.cancel_at = target_cancel_at
        fields = ["status", "cancel_at", "updated_at"]
        if target == status_.ENDED:
            subscription.ended_at = ended_at
            fields.append("ended_at")
        subscription.save(update_fields=fields)
        action = {
            status_.ENDED: "subscription.ended",
            status_.CANCEL_SCHEDULED: "subscription.cancel_scheduled",
            status_.ACTIVE: "subscription.resumed",
        }.get(target, "subscription.cancel_date_changed")
        if target == previous:
            action = "subscription.cancel_date_changed"
        audit.record(
            action=action,
            subject=subscription.customer,
            target=subscription,
            data={
                "reference": subscription.reference,
                "source": "provider",
                "provider": subscription.provider,
                "provider_event_id": provider_event_id,
                "previous_status": previous,
                "status": target,
                "cancel_at": target_cancel_at.isoformat() if target_cancel_at else None,
                "ended_at": ended_at.isoformat() if target == status_.ENDED else None,
            },
            meta=meta,
        )
    return f"{previous} -> {target}"
