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
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import services as audit
from audit.context import RequestMeta
from mynetspace.core.errors import DomainError, InvalidState
from mynetspace.core.tasks import enqueue_on_commit

from . import deadlines
from .models import (
    CreditNote,
    Invoice,
    Payment,
    Plan,
    ProviderEvent,
    Refund,
    Subscription,
)
from .money import vat_split
from .numbering import number_next

# --- Subscriptions -------------------------------------------------------------------


def _lock(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().select_related("plan").get(pk=subscription.pk)


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
        if subscription.status not in (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE):
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
        subscription.status = Subscription.Status.ACTIVE
        subscription.current_period_start = start
        subscription.current_period_end = end
        subscription.save(
            update_fields=["status", "current_period_start", "current_period_end", "updated_at"]
        )
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
        number = number_next(series=Invoice.SERIES, year=deadlines.local_date(issued_at).year)
        invoice = Invoice.objects.create(
            series=number.series,
            year=number.year,
            sequence=number.sequence,
            number=number.text,
            issued_at=issued_at,
            customer=subscription.customer,
            customer_snapshot=customer_snapshot(subscription.customer),
            company_snapshot=company_snapshot(),
            lines=lines,
            currency=payment.currency,
            subscription=subscription,
            payment=payment,
            **_totals(lines),
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
        number = number_next(series=CreditNote.SERIES, year=deadlines.local_date(issued_at).year)
        note = CreditNote.objects.create(
            series=number.series,
            year=number.year,
            sequence=number.sequence,
            number=number.text,
            issued_at=issued_at,
            customer=refund.customer,
            customer_snapshot=customer_snapshot(refund.customer),
            company_snapshot=company_snapshot(),
            lines=lines,
            currency=refund.payment.currency,
            invoice=invoice,
            refund=refund,
            **_totals(lines),
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
