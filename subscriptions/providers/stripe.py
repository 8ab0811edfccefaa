"""The Stripe provider: Checkout Sessions in subscription mode, signed webhooks,
refunds with business idempotency keys, and the remote state for reconciliation.

API calls go through one :class:`stripe.StripeClient` pointed at
``settings.STRIPE_API_BASE`` (tests point it at a local fake of Stripe's API).

**Finding our subscription.** Every Checkout Session carries our subscription id
and contract reference in ``client_reference_id`` and ``metadata``, and passes
them to the Stripe subscription (``subscription_data.metadata``), whose invoices
repeat them (``parent.subscription_details.metadata``). An event whose object
names none of our subscriptions is stored and ignored.

**Processing once, in any order** (docs/payments.md). Events are stored raw, then
handled under a lock on the local subscription; each handler reads the state the
event carries and applies it only if it moves the local state forward:

- *payments are facts*: an invoice paid is recorded once (``provider_payment_id`` =
  the invoice id), whichever of ``invoice.paid``, ``invoice.payment_succeeded`` or
  ``checkout.session.completed`` brings it first; the first invoice activates, the
  next ones renew;
- *subscription snapshots are states*: ``customer.subscription.*`` events are
  applied only when newer (``event.created``) than the last snapshot applied and
  than the customer's own last cancellation request; an older one is ignored; two
  snapshots of the same second are settled by asking Stripe for the current state;
- *prerequisites*: an event that needs an earlier one not yet seen (a renewal or a
  cancellation before the first payment) is **parked** (left ``received``, linked to
  the subscription) and replayed, in ``created`` order, once the subscription is
  active (:func:`parked_events_replay`); before ending a subscription, its latest
  invoice is fetched and recorded if it was paid, so no payment is lost behind an
  early deletion.

A handler that cannot reach Stripe raises :class:`EventRetryLater`: nothing it did
is kept, the event stays ``received`` and the webhook answers 503 so that Stripe
delivers it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import stripe
from django.conf import settings
from django.db.models import Max, Q
from django.utils.translation import gettext as _

from mynetspace.core.errors import DomainError

from ..models import Payment, ProviderEvent, Refund, Subscription
from . import (
    CheckoutSession,
    EventOutcome,
    ParsedEvent,
    PaymentProvider,
    RefundResult,
    WebhookRejected,
)

logger = logging.getLogger(__name__)

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
#: Seconds a webhook signature stays valid, either side of our clock (Stripe's default).
TOLERANCE_SECONDS = 300
#: Largest webhook body accepted (Stripe's events are a few KiB).
MAX_BODY_BYTES = 512 * 1024
#: Metadata keys we set on Stripe objects.
META_SUBSCRIPTION = "mns_subscription_id"
META_REFERENCE = "mns_reference"
META_REFUND = "mns_refund_id"

SNAPSHOT_TYPES = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
PAID_TYPES = ("invoice.paid", "invoice.payment_succeeded")
REFUND_TYPES = ("refund.created", "refund.updated", "refund.failed", "charge.refunded")
#: Every type handled; enable these on the webhook endpoint (docs/payments.md).
HANDLED_TYPES = (
    "checkout.session.completed",
    "checkout.session.expired",
    *PAID_TYPES,
    "invoice.payment_failed",
    *SNAPSHOT_TYPES,
    *REFUND_TYPES,
)

#: How an event that activated a subscription starts its processing result.
ACTIVATED = "activated"

PROCESSED = ProviderEvent.Status.PROCESSED
IGNORED = ProviderEvent.Status.IGNORED
PARKED = ProviderEvent.Status.RECEIVED


class ProviderUnavailable(DomainError):
    """Stripe could not be reached or answered with a server error: try again later."""


class ProviderRefused(DomainError):
    """Stripe refused the request (invalid parameters, unknown object...)."""


class EventRetryLater(Exception):
    """Handling an event needs Stripe, which did not answer: roll back, retry later.

    Deliberately not a :class:`DomainError`, so that ``provider_event_process`` does
    not record the event as failed: it stays ``received`` and is delivered again.
    """


# --- API client ---------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": api_base}, max_network_retries=2)


def client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ProviderRefused(
            _("Le paiement en ligne n'est pas configuré."), "stripe_not_configured"
        )
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def _call(func, *args, **kwargs):
    """Call the API; Stripe's errors become ours (refused vs. try again later)."""
    try:
        return func(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise ProviderUnavailable(
            _("Le service de paiement ne répond pas ; réessayez dans quelques minutes."),
            "provider_unavailable",
        ) from exc
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None) or 0
        logger.warning("Stripe refused a request (%s): %s", status, exc.user_message or exc)
        if status >= 500:
            raise ProviderUnavailable(
                _("Le service de paiement ne répond pas ; réessayez dans quelques minutes."),
                "provider_unavailable",
            ) from exc
        raise ProviderRefused(
            _("Le service de paiement a refusé l'opération."),
            getattr(exc, "code", None) or "provider_refused",
        ) from exc


def _plain(obj) -> dict:
    """A StripeObject (or a plain dict from a webhook body) as plain dicts and lists."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _absolute(url: str) -> str:
    """Stripe needs absolute return addresses; our services pass site paths."""
    if url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + (url if url.startswith("/") else "/" + url)


def _id(value) -> str:
    """An expandable field: either an id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


# --- Reading Stripe objects -----------------------------------------------------------------


def invoice_subscription_details(invoice: dict) -> tuple[str, dict]:
    """(Stripe subscription id, its metadata) of an invoice (new and older API shapes)."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    sub_id = _id(details.get("subscription") or invoice.get("subscription"))
    metadata = details.get("metadata") or (invoice.get("subscription_details") or {}).get(
        "metadata"
    )
    return sub_id, dict(metadata or {})


def subscription_period_end(remote: dict) -> datetime | None:
    items = ((remote.get("items") or {}).get("data")) or []
    value = items[0].get("current_period_end") if items else None
    return _ts(value or remote.get("current_period_end"))


@dataclass(frozen=True)
class RemoteState:
    """What a Stripe subscription says about stopping: the part we mirror locally."""

    status: str
    cancel_at_period_end: bool
    cancel_at: datetime | None
    ended_at: datetime | None
    period_end: datetime | None
    latest_invoice: str

    @classmethod
    def of(cls, remote: dict, *, deleted: bool = False) -> RemoteState:
        status = "canceled" if deleted else str(remote.get("status") or "")
        ended_at = _ts(remote.get("ended_at") or remote.get("canceled_at"))
        return cls(
            status=status,
            cancel_at_period_end=bool(remote.get("cancel_at_period_end")),
            cancel_at=_ts(remote.get("cancel_at")),
            ended_at=ended_at if status == "canceled" else None,
            period_end=subscription_period_end(remote),
            latest_invoice=_id(remote.get("latest_invoice")),
        )

    @property
    def ended(self) -> bool:
        return self.status == "canceled"


def _to_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def subscription_for(
    *, metadata: dict | None = None, lock: bool = False, **provider_ids: str
) -> Subscription | None:
    """Our Stripe subscription named by metadata (id and reference must agree) or by
    one of its provider ids (``provider_subscription_id``, ``provider_checkout_id``).

    ``lock``: select it for update (the handlers' first step; only the subscription
    row is locked, not its plan, so subscriptions of one plan never wait for each other).
    """
    metadata = metadata or {}
    rows = Subscription.objects.select_related("plan")
    if lock:
        rows = rows.select_for_update(of=("self",))
    pk = _to_int(metadata.get(META_SUBSCRIPTION))
    if pk is not None:
        found = rows.filter(
            pk=pk, provider=NAME, reference=str(metadata.get(META_REFERENCE, ""))
        ).first()
        if found is not None:
            return found
    for field_name, value in provider_ids.items():
        if value:
            found = rows.filter(provider=NAME, **{field_name: value}).first()
            if found is not None:
                return found
    return None


def _lock(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(pk=subscription.pk)
    )


def _recorded(invoice_id: str) -> bool:
    return Payment.objects.filter(provider=NAME, provider_payment_id=invoice_id).exists()


# --- The provider ---------------------------------------------------------------------------


class StripeProvider(PaymentProvider):
    name = NAME

    # Checkout ----------------------------------------------------------------------------

    def create_checkout(
        self, subscription, *, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        price = settings.STRIPE_PRICES.get(subscription.plan.code)
        if not price:
            logger.error("No Stripe price configured for plan %s", subscription.plan.code)
            raise ProviderRefused(
                _("Cette formule ne peut pas être payée en ligne pour le moment."),
                "plan_not_priced",
            )
        metadata = {META_SUBSCRIPTION: str(subscription.pk), META_REFERENCE: subscription.reference}
        params = {
            "mode": "subscription",
            "line_items": [{"price": price, "quantity": 1}],
            "client_reference_id": str(subscription.pk),
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": _absolute(success_url),
            "cancel_url": _absolute(cancel_url),
            "locale": "fr",
        }
        if subscription.provider_customer_id:
            params["customer"] = subscription.provider_customer_id
        else:
            params["customer_email"] = subscription.customer.email
        session = _call(client().v1.checkout.sessions.create, params)
        return CheckoutSession(id=session.id, url=session.url)

    # Webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, request) -> ParsedEvent:
        """Verify ``Stripe-Signature`` over the exact raw body, then read the envelope."""
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise WebhookRejected(
                _("Réception des notifications non configurée."), "not_configured"
            )
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header:
            raise WebhookRejected(_("Signature absente."), "unsigned")
        body = request.body
        if len(body) > MAX_BODY_BYTES:
            raise WebhookRejected(_("Notification trop volumineuse."), "too_large")
        verify_signature(body, header, webhook_secrets())
        try:
            payload = json.loads(body)
            event_id, type_ = str(payload["id"]), str(payload["type"])
            created = _ts(payload["created"])
            if payload.get("object") != "event" or not isinstance(payload["data"]["object"], dict):
                raise ValueError("not an event")
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise WebhookRejected(_("Événement illisible."), "malformed") from exc
        return ParsedEvent(
            event_id=event_id,
            type=type_,
            raw_body=body,
            signature_header=header,
            created_at=created,
        )

    def handle_event(self, event: ProviderEvent, *, meta=None) -> EventOutcome:
        payload = json.loads(bytes(event.raw_body))
        obj = payload["data"]["object"]
        created = _ts(payload["created"])
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return EventOutcome(IGNORED, f"type {event.type} not handled")
        try:
            return handler(self, event=event, obj=obj, created=created, meta=meta)
        except ProviderUnavailable as exc:
            raise EventRetryLater(f"{event.event_id}: Stripe unavailable") from exc

    # Refunds -------------------------------------------------------------------------------

    def refund(self, refund: Refund) -> RefundResult:
        """Refund ``refund.amount_cents`` of its payment, once whatever the retries.

        Two guards: the idempotency key ``refund:<id>`` (Stripe replays the first
        answer for 24 hours), and, before creating, a look at the refunds already
        made on the payment that carry our refund id (beyond those 24 hours). A
        refund the provider already made or is making is returned, never doubled;
        after failed attempts, a new one gets the key ``refund:<id>:<attempt>``.
        """
        api = client().v1
        intent = self._payment_intent_of(refund.payment.provider_payment_id)
        existing = _call(api.refunds.list, {"payment_intent": intent, "limit": 100})
        ours = [
            made
            for made in map(_plain, existing.data)
            if (made.get("metadata") or {}).get(META_REFUND) == str(refund.pk)
        ]
        for made in ours:
            if made.get("status") in ("succeeded", "pending", "requires_action"):
                return _refund_result(made)
        attempt = len(ours)
        key = refund.idempotency_key + (f":{attempt + 1}" if attempt else "")
        made = _call(
            api.refunds.create,
            {
                "payment_intent": intent,
                "amount": refund.amount_cents,
                "reason": "requested_by_customer",
                "metadata": {
                    META_REFUND: str(refund.pk),
                    META_REFERENCE: refund.subscription.reference,
                    "mns_reason": refund.reason,
                },
            },
            {"idempotency_key": key},
        )
        return _refund_result(_plain(made))

    def _payment_intent_of(self, invoice_id: str) -> str:
        payments = _call(
            client().v1.invoice_payments.list, {"invoice": invoice_id, "status": "paid"}
        )
        for item in map(_plain, payments.data):
            intent = _id((item.get("payment") or {}).get("payment_intent"))
            if intent:
                return intent
        raise ProviderRefused(
            _("Le paiement à rembourser est introuvable chez le prestataire."), "payment_not_found"
        )

    # Renewals ------------------------------------------------------------------------------

    def cancel_at_period_end(self, subscription) -> None:
        """Stop renewing. With an end beyond the paid period (a later date the customer
        chose), Stripe is given that date; otherwise it stops at its period end."""
        if not subscription.provider_subscription_id:
            return
        params: dict = {"cancel_at_period_end": True}
        if (
            subscription.cancel_at
            and subscription.current_period_end
            and subscription.cancel_at > subscription.current_period_end
        ):
            params = {"cancel_at": int(subscription.cancel_at.timestamp())}
        self._update(subscription, params)

    def resume(self, subscription) -> None:
        if subscription.provider_subscription_id:
            self._update(subscription, {"cancel_at_period_end": False, "cancel_at": ""})

    def cancel_now(self, subscription) -> None:
        """Stop at once (withdrawal, accepted claim, closure). A subscription that
        Stripe has already ended is fine; an unpaid order's open checkout expires."""
        api = client().v1
        if subscription.provider_subscription_id:
            remote = _plain(
                _call(api.subscriptions.retrieve, subscription.provider_subscription_id)
            )
            if remote.get("status") not in ("canceled", "incomplete_expired"):
                _call(
                    api.subscriptions.cancel,
                    subscription.provider_subscription_id,
                    {"prorate": False, "invoice_now": False},
                )
        elif subscription.provider_checkout_id:
            session = _plain(
                _call(api.checkout.sessions.retrieve, subscription.provider_checkout_id)
            )
            if session.get("status") == "open":
                _call(api.checkout.sessions.expire, subscription.provider_checkout_id)

    def _update(self, subscription, params: dict) -> None:
        _call(client().v1.subscriptions.update, subscription.provider_subscription_id, params)

    # Remote state (reconciliation) ------------------------------------------------------------

    def remote_subscription(self, provider_subscription_id: str) -> dict:
        return _plain(_call(client().v1.subscriptions.retrieve, provider_subscription_id))

    def remote_paid_invoices(self, provider_subscription_id: str) -> list[dict]:
        listed = _call(
            client().v1.invoices.list,
            {"subscription": provider_subscription_id, "status": "paid", "limit": 100},
        )
        return [_plain(invoice) for invoice in listed.data]

    def remote_invoice(self, invoice_id: str) -> dict:
        return _plain(_call(client().v1.invoices.retrieve, invoice_id))

    def remote_checkout(self, session_id: str) -> dict:
        return _plain(_call(client().v1.checkout.sessions.retrieve, session_id))

    def remote_refund(self, refund_id: str) -> dict:
        return _plain(_call(client().v1.refunds.retrieve, refund_id))


def _refund_result(made: dict) -> RefundResult:
    status = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(
        made.get("status"), "pending"
    )
    reason = (made.get("failure_reason") or made.get("status") or "") if status == "failed" else ""
    return RefundResult(provider_refund_id=str(made["id"]), status=status, failure_reason=reason)


def webhook_secrets() -> list[str]:
    """``STRIPE_WEBHOOK_SECRET``: one signing secret, or several separated by commas
    while the endpoint's secret is rolled."""
    return [part.strip() for part in settings.STRIPE_WEBHOOK_SECRET.split(",")]


def verify_signature(body: bytes, header: str, secrets: list[str]) -> None:
    """Raise :class:`WebhookRejected` unless ``header`` signs ``body`` with one of
    ``secrets`` (more than one while the endpoint's secret is rotated) at a time within
    :data:`TOLERANCE_SECONDS` of now (past or future)."""
    import time

    failure = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE_SECONDS)
            timestamp, _signatures = stripe.WebhookSignature._get_timestamp_and_signatures(
                header, stripe.WebhookSignature.EXPECTED_SCHEME
            )
        except stripe.SignatureVerificationError as exc:
            # "tolerance": the signature is right but too old; keep that reason.
            if failure is None or "tolerance" in str(exc):
                failure = exc
            continue
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookRejected(_("Signature invalide ou périmée."), "bad_signature") from exc
        if timestamp > time.time() + TOLERANCE_SECONDS:
            raise WebhookRejected(_("Signature invalide ou périmée."), "stale")
        return
    code = "stale" if failure is not None and "tolerance" in str(failure) else "bad_signature"
    raise WebhookRejected(_("Signature invalide ou périmée."), code) from failure


# --- Event handlers ---------------------------------------------------------------------------
# Each runs inside ``services.provider_event_process``'s transaction, with the event
# row locked, and locks the local subscription before reading its state.


def _park(subscription: Subscription, why: str) -> EventOutcome:
    return EventOutcome(PARKED, f"parked: {why}", subscription)


def _apply_paid_invoice(
    subscription: Subscription, invoice: dict, *, created: datetime, meta
) -> EventOutcome:
    from .. import services

    invoice_id = str(invoice["id"])
    if _recorded(invoice_id):
        return EventOutcome(PROCESSED, f"invoice {invoice_id} already recorded", subscription)
    amount = int(invoice.get("amount_paid") or 0)
    if invoice.get("status") != "paid" or amount <= 0:
        return EventOutcome(IGNORED, f"invoice {invoice_id}: nothing paid", subscription)
    if str(invoice.get("currency", "")).lower() != "eur":
        raise DomainError(
            _("Paiement dans une devise inattendue."), f"currency_{invoice.get('currency')}"
        )
    paid_at = _ts((invoice.get("status_transitions") or {}).get("paid_at")) or created
    remote_sub, _meta = invoice_subscription_details(invoice)
    reason = invoice.get("billing_reason")
    if reason == "subscription_create":
        payment = services.subscription_activate(
            subscription=subscription,
            provider_payment_id=invoice_id,
            amount_cents=amount,
            paid_at=paid_at,
            provider_customer_id=_id(invoice.get("customer")),
            provider_subscription_id=remote_sub,
            meta=meta,
        )
        return EventOutcome(PROCESSED, f"{ACTIVATED}, payment {payment.pk}", subscription)
    if reason == "subscription_cycle":
        if subscription.status == Subscription.Status.PENDING_PAYMENT:
            return _park(subscription, "renewal before the first payment")
        payment = services.subscription_renew(
            subscription=subscription,
            provider_payment_id=invoice_id,
            amount_cents=amount,
            paid_at=paid_at,
            meta=meta,
        )
        return EventOutcome(PROCESSED, f"renewed, payment {payment.pk}", subscription)
    # Proration or manual invoices: we sell no plan changes; reconcile reports them.
    return EventOutcome(IGNORED, f"invoice {invoice_id}: billing reason {reason}", subscription)


def _on_checkout_completed(provider, *, event, obj, created, meta) -> EventOutcome:
    subscription = subscription_for(
        metadata=obj.get("metadata"), provider_checkout_id=str(obj.get("id", "")), lock=True
    )
    if subscription is None:
        return EventOutcome(IGNORED, "unknown subscription")
    invoice_id = _id(obj.get("invoice"))
    if obj.get("payment_status") != "paid" or not invoice_id:
        return EventOutcome(IGNORED, "checkout completed without payment", subscription)
    if _recorded(invoice_id):
        return EventOutcome(PROCESSED, "checkout completed, payment already recorded", subscription)
    # The invoice is the authority on the payment (amount, time): ask for it, so
    # the result is the same whether this event or invoice.paid comes first.
    invoice = provider.remote_invoice(invoice_id)
    return _apply_paid_invoice(subscription, invoice, created=created, meta=meta)


def _on_checkout_expired(provider, *, event, obj, created, meta) -> EventOutcome:
    from .. import services

    subscription = subscription_for(provider_checkout_id=str(obj.get("id", "")), lock=True)
    if subscription is None:
        return EventOutcome(IGNORED, "unknown or replaced checkout")
    if subscription.status != Subscription.Status.PENDING_PAYMENT:
        return EventOutcome(IGNORED, "checkout expired after the order moved on", subscription)
    services.subscription_abandon(subscription=subscription, reason="checkout_expired", meta=meta)
    return EventOutcome(PROCESSED, "abandoned: checkout expired", subscription)


def _invoice_subscription(obj: dict) -> Subscription | None:
    remote_sub, metadata = invoice_subscription_details(obj)
    return subscription_for(metadata=metadata, provider_subscription_id=remote_sub, lock=True)


def _on_invoice_paid(provider, *, event, obj, created, meta) -> EventOutcome:
    subscription = _invoice_subscription(obj)
    if subscription is None:
        return EventOutcome(IGNORED, "unknown subscription")
    return _apply_paid_invoice(subscription, obj, created=created, meta=meta)


def _on_invoice_failed(provider, *, event, obj, created, meta) -> EventOutcome:
    from .. import services

    subscription = _invoice_subscription(obj)
    if subscription is None:
        return EventOutcome(IGNORED, "unknown subscription")
    invoice_id = str(obj.get("id", ""))
    if _recorded(invoice_id):
        return EventOutcome(IGNORED, f"invoice {invoice_id} was paid since", subscription)
    if obj.get("billing_reason") == "subscription_create":
        services.subscription_checkout_failed(
            subscription=subscription, reason="first_invoice_failed",
            provider_event_id=event.event_id, meta=meta,
        )  # fmt: skip
        return EventOutcome(PROCESSED, "first payment failed", subscription)
    if subscription.status == Subscription.Status.PENDING_PAYMENT:
        return _park(subscription, "renewal failure before the first payment")
    if not subscription.is_open:
        return EventOutcome(IGNORED, "subscription already closed", subscription)
    services.subscription_payment_failed(
        subscription=subscription,
        reason=f"invoice {invoice_id}, attempt {obj.get('attempt_count') or 1}",
        provider_event_id=event.event_id,
        meta=meta,
    )
    return EventOutcome(PROCESSED, f"payment failed ({invoice_id})", subscription)


def _watermark(subscription: Subscription, event: ProviderEvent) -> datetime | None:
    """The newest moment our local stop/renew state reflects: the last snapshot
    applied, or the customer's own last cancellation request, whichever is later."""
    applied = Q(
        provider_events__provider=NAME,
        provider_events__status=PROCESSED,
        provider_events__type__in=SNAPSHOT_TYPES,
    ) & ~Q(provider_events__pk=event.pk)
    row = Subscription.objects.filter(pk=subscription.pk).aggregate(
        applied=Max("provider_events__provider_created_at", filter=applied),
        requested=Max("cancellation_requests__requested_at"),
    )
    moments = [m for m in (row["applied"], row["requested"]) if m is not None]
    return max(moments) if moments else None


def _on_subscription_snapshot(provider, *, event, obj, created, meta) -> EventOutcome:
    from .. import services

    subscription = subscription_for(
        metadata=obj.get("metadata"), provider_subscription_id=str(obj.get("id", "")), lock=True
    )
    if subscription is None:
        return EventOutcome(IGNORED, "unknown subscription")
    deleted = event.type == "customer.subscription.deleted"
    state = RemoteState.of(obj, deleted=deleted)
    if subscription.status == Subscription.Status.PENDING_PAYMENT:
        if state.status == "incomplete_expired":
            services.subscription_abandon(
                subscription=subscription, reason="first_payment_expired", meta=meta
            )
            return EventOutcome(PROCESSED, "abandoned: first payment expired", subscription)
        return _park(subscription, "state before the first payment")
    if not subscription.is_open:
        return EventOutcome(IGNORED, f"local subscription is {subscription.status}", subscription)
    watermark = _watermark(subscription, event)
    if watermark is not None and created < watermark:
        return EventOutcome(IGNORED, "stale: a newer state was applied", subscription)
    if watermark is not None and created == watermark and not deleted:
        # Two states within one second: only Stripe knows which is current.
        state = RemoteState.of(provider.remote_subscription(str(obj["id"])))
    if state.ended and state.latest_invoice and not _recorded(state.latest_invoice):
        # A renewal paid just before the end may not have reached us yet.
        invoice = provider.remote_invoice(state.latest_invoice)
        if invoice.get("status") == "paid":
            _apply_paid_invoice(subscription, invoice, created=created, meta=meta)
            subscription = _lock(subscription)
    cancel_at = None
    if state.cancel_at_period_end:
        cancel_at = subscription.current_period_end
    elif state.cancel_at is not None:
        cancel_at = state.cancel_at
    result = services.subscription_provider_state_apply(
        subscription=subscription,
        cancel_at=cancel_at,
        ended_at=state.ended_at or (created if state.ended else None),
        provider_event_id=event.event_id,
        meta=meta,
    )
    return EventOutcome(PROCESSED, f"state applied: {result}", subscription)


def _refund_for(obj: dict) -> Refund | None:
    pk = _to_int((obj.get("metadata") or {}).get(META_REFUND))
    if pk is not None:
        found = Refund.objects.filter(pk=pk, provider=NAME).first()
        if found is not None:
            return found
    return Refund.objects.filter(provider=NAME, provider_refund_id=str(obj.get("id", ""))).first()


def _on_refund(provider, *, event, obj, created, meta) -> EventOutcome:
    from .. import services

    if event.type == "charge.refunded":
        refunds = ((obj.get("refunds") or {}).get("data")) or []
        outcomes = [_refund_apply(r, event=event, meta=meta, services=services) for r in refunds]
        done = [o for o in outcomes if o.status == PROCESSED]
        if not done:
            return EventOutcome(IGNORED, "no refund of ours in this charge")
        return EventOutcome(PROCESSED, "; ".join(o.detail for o in done), done[0].subscription)
    return _refund_apply(obj, event=event, meta=meta, services=services)


def _refund_apply(obj: dict, *, event, meta, services) -> EventOutcome:
    refund = _refund_for(obj)
    if refund is None:
        return EventOutcome(IGNORED, "unknown refund")
    status = obj.get("status")
    if status == "succeeded":
        services.refund_mark_succeeded(refund=refund, provider_refund_id=str(obj["id"]), meta=meta)
        return EventOutcome(PROCESSED, f"refund {refund.pk} succeeded", refund.subscription)
    if status in ("failed", "canceled"):
        if refund.status in (Refund.Status.REQUESTED, Refund.Status.FAILED):
            return EventOutcome(
                IGNORED, f"refund {refund.pk} is {refund.status}", refund.subscription
            )
        services.refund_mark_failed(
            refund=refund, reason=str(obj.get("failure_reason") or status), meta=meta
        )
        return EventOutcome(PROCESSED, f"refund {refund.pk} failed", refund.subscription)
    return EventOutcome(IGNORED, f"refund {refund.pk} still {status}", refund.subscription)


_HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.expired": _on_checkout_expired,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_succeeded": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_failed,
    **dict.fromkeys(SNAPSHOT_TYPES, _on_subscription_snapshot),
    **dict.fromkeys(REFUND_TYPES, _on_refund),
}


# --- Ingestion ---------------------------------------------------------------------------------


def event_ingest(parsed: ParsedEvent, *, meta=None) -> ProviderEvent:
    """Store a verified event as evidence, process it, then replay what it unblocked.

    The evidence is committed before processing starts, so a processing failure
    never loses the raw event. Raises :class:`EventRetryLater` when Stripe must be
    asked to deliver again.
    """
    from .. import services

    event, created = services.provider_event_store(
        provider=NAME,
        event_id=parsed.event_id,
        type=parsed.type,
        raw_body=parsed.raw_body,
        signature_header=parsed.signature_header,
        provider_created_at=parsed.created_at,
        meta=meta,
    )
    if not created and event.status in (PROCESSED, IGNORED):
        return event  # a redelivery of an event already settled: nothing to do
    event = services.provider_event_process(event=event, meta=meta)
    # Only an activation unblocks parked events (they wait for the first payment).
    if event.processing_result.startswith(ACTIVATED) and event.subscription_id:
        parked_events_replay(subscription_id=event.subscription_id, meta=meta)
    return event


def parked_events_replay(*, subscription_id: int, meta=None, max_rounds: int = 5) -> int:
    """Process again the events parked for a subscription, oldest first, until none
    moves (one round unblocks the next). Returns how many were processed."""
    from .. import services

    done = 0
    for _round in range(max_rounds):
        parked = list(
            ProviderEvent.objects.filter(
                provider=NAME, subscription_id=subscription_id, status=PARKED
            )
            .exclude(subscription__status=Subscription.Status.PENDING_PAYMENT)
            .order_by("provider_created_at", "received_at", "pk")
        )
        moved = 0
        for event in parked:
            if services.provider_event_process(event=event, meta=meta).status != PARKED:
                moved += 1
        done += moved
        if not moved:
            break
    return done
