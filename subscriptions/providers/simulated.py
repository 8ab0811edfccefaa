"""The simulated provider: a local checkout page for demos and tests (the default).

No card data is ever asked for and no money moves. The checkout page
(``/abonnement/paiement-simule/<token>/``) lets the customer choose "payment
accepted" or "payment refused"; the choice becomes a signed event stored like a
real provider's webhook (:class:`~subscriptions.models.ProviderEvent`) and processed
by the same path (``services.provider_event_process`` -> :meth:`handle_event` ->
``subscription_activate`` / ``subscription_checkout_failed``). So a demo order goes
through exactly the services a Stripe payment will.

Events are signed with an HMAC derived from ``SECRET_KEY`` (header
``X-Simulated-Signature: sha256=<hex>``), so :meth:`parse_webhook` can be exercised
like a real provider's.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from datetime import datetime

from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _

from ..models import ProviderEvent, Subscription
from . import (
    CheckoutSession,
    EventOutcome,
    ParsedEvent,
    PaymentProvider,
    RefundResult,
    WebhookRejected,
)

NAME = "simulated"
SIGNATURE_HEADER = "X-Simulated-Signature"
_SIGNATURE_SALT = "subscriptions.simulated.webhook"
_RETURN_SALT = "subscriptions.simulated.return"
DEFAULT_RETURN = "/abonnement/"

SUCCEEDED = "checkout.succeeded"
FAILED = "checkout.failed"
RENEWAL_PAID = "renewal.paid"
RENEWAL_FAILED = "renewal.failed"


def sign(body: bytes) -> str:
    return "sha256=" + salted_hmac(_SIGNATURE_SALT, body, algorithm="sha256").hexdigest()


def _local_path(url: str) -> str:
    """Only same-site paths are accepted as return addresses (no open redirect)."""
    if url and url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return DEFAULT_RETURN


def return_urls(signed: str) -> tuple[str, str]:
    """(success, cancel) paths from the checkout URL's signed ``r`` parameter."""
    try:
        values = signing.loads(signed, salt=_RETURN_SALT)
        return _local_path(values.get("ok", "")), _local_path(values.get("ko", ""))
    except (signing.BadSignature, AttributeError, TypeError):
        return DEFAULT_RETURN, DEFAULT_RETURN


def event_build(*, type: str, data: dict) -> ParsedEvent:
    """A signed simulated event, as a provider would deliver it."""
    created = timezone.now()
    body = json.dumps(
        {
            "id": f"simevt_{uuid.uuid4().hex}",
            "type": type,
            "created": created.isoformat(),
            "data": data,
        },
        sort_keys=True,
    ).encode()
    payload = json.loads(body)
    return ParsedEvent(
        event_id=payload["id"],
        type=type,
        raw_body=body,
        signature_header=sign(body),
        created_at=created,
    )


class SimulatedProvider(PaymentProvider):
    name = NAME

    def create_checkout(
        self, subscription, *, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        token = secrets.token_urlsafe(18)
        signed = signing.dumps(
            {"ok": _local_path(success_url), "ko": _local_path(cancel_url)}, salt=_RETURN_SALT
        )
        path = reverse("simulated_checkout", args=[token])
        return CheckoutSession(id=token, url=f"{path}?{urlencode({'r': signed})}")

    def parse_webhook(self, request) -> ParsedEvent:
        body = request.body
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header or not hmac.compare_digest(header, sign(body)):
            raise WebhookRejected(_("Signature absente ou invalide."), "bad_signature")
        try:
            payload = json.loads(body)
            event_id, type_ = str(payload["id"]), str(payload["type"])
            created = datetime.fromisoformat(payload["created"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected(_("Événement illisible."), "malformed") from exc
        return ParsedEvent(
            event_id=event_id,
            type=type_,
            raw_body=body,
            signature_header=header,
            created_at=created,
        )

    def handle_event(self, event: ProviderEvent, *, meta=None) -> EventOutcome:
        from .. import services

        payload = json.loads(bytes(event.raw_body))
        data = payload.get("data", {})
        subscription = (
            Subscription.objects.filter(
                provider=NAME, provider_checkout_id=data.get("checkout", "")
            ).first()
            if data.get("checkout")
            else Subscription.objects.filter(
                provider=NAME, reference=data.get("reference", "")
            ).first()
        )
        if subscription is None:
            return EventOutcome(ProviderEvent.Status.IGNORED, "unknown subscription")
        paid_at = datetime.fromisoformat(payload["created"])
        if event.type == SUCCEEDED:
            payment = services.subscription_activate(
                subscription=subscription,
                provider_payment_id=data["payment_id"],
                amount_cents=int(data["amount_cents"]),
                paid_at=paid_at,
                meta=meta,
            )
            return EventOutcome(
                ProviderEvent.Status.PROCESSED, f"payment {payment.pk}", subscription
            )
        if event.type == FAILED:
            services.subscription_checkout_failed(
                subscription=subscription,
                reason=str(data.get("reason", "declined")),
                provider_event_id=event.event_id,
                meta=meta,
            )
            return EventOutcome(ProviderEvent.Status.PROCESSED, "checkout failed", subscription)
        if event.type == RENEWAL_PAID:
            payment = services.subscription_renew(
                subscription=subscription,
                provider_payment_id=data["payment_id"],
                amount_cents=int(data["amount_cents"]),
                paid_at=paid_at,
                meta=meta,
            )
            return EventOutcome(
                ProviderEvent.Status.PROCESSED, f"payment {payment.pk}", subscription
            )
        if event.type == RENEWAL_FAILED:
            services.subscription_payment_failed(
                subscription=subscription,
                reason=str(data.get("reason", "declined")),
                provider_event_id=event.event_id,
                meta=meta,
            )
            return EventOutcome(ProviderEvent.Status.PROCESSED, "renewal failed", subscription)
        return EventOutcome(ProviderEvent.Status.IGNORED, f"type {event.type} not handled")

    def refund(self, refund) -> RefundResult:
        # Derived from the idempotency key: asking twice gives the same refund.
        return RefundResult(
            provider_refund_id=f"sim_{refund.idempotency_key.replace(':', '_')}",
            status="succeeded",
        )

    def cancel_at_period_end(self, subscription) -> None:
        """Nothing to tell: renewals of simulated subscriptions are driven locally."""

    def resume(self, subscription) -> None:
        """Nothing to tell (see :meth:`cancel_at_period_end`)."""

    def cancel_now(self, subscription) -> None:
        """Nothing to tell (see :meth:`cancel_at_period_end`)."""


def checkout_complete(*, subscription: Subscription, succeeded: bool, meta=None) -> ProviderEvent:
    """What the simulated checkout page does when the customer picks an outcome.

    Builds the signed event a provider would send, stores it as evidence and
    processes it, in that order, exactly like a webhook delivery.
    """
    from .. import services

    if succeeded:
        parsed = event_build(
            type=SUCCEEDED,
            data={
                "checkout": subscription.provider_checkout_id,
                "payment_id": f"simpay_{uuid.uuid4().hex}",
                "amount_cents": subscription.plan.price_ttc_cents,
            },
        )
    else:
        parsed = event_build(
            type=FAILED,
            data={"checkout": subscription.provider_checkout_id, "reason": "card_declined"},
        )
    event, _created = services.provider_event_store(
        provider=NAME,
        event_id=parsed.event_id,
        type=parsed.type,
        raw_body=parsed.raw_body,
        signature_header=parsed.signature_header,
        provider_created_at=parsed.created_at,
        meta=meta,
    )
    return services.provider_event_process(event=event, meta=meta)


def renewal_simulate(*, subscription: Subscription, meta=None) -> ProviderEvent:
    """Simulate the provider charging the next period (demos, tests)."""
    from .. import services

    parsed = event_build(
        type=RENEWAL_PAID,
        data={
            "reference": subscription.reference,
            "payment_id": f"simpay_{uuid.uuid4().hex}",
            "amount_cents": subscription.plan.price_ttc_cents,
        },
    )
    event, _created = services.provider_event_store(
        provider=NAME,
        event_id=parsed.event_id,
        type=parsed.type,
        raw_body=parsed.raw_body,
        signature_header=parsed.signature_header,
        provider_created_at=parsed.created_at,
        meta=meta,
    )
    return services.provider_event_process(event=event, meta=meta)


def renewal_failure_simulate(
    *, subscription: Subscription, reason: str = "card_declined", meta=None
) -> ProviderEvent:
    """Simulate the provider failing to charge the next period (demos, tests)."""
    from .. import services

    parsed = event_build(
        type=RENEWAL_FAILED, data={"reference": subscription.reference, "reason": reason}
    )
    event, _created = services.provider_event_store(
        provider=NAME,
        event_id=parsed.event_id,
        type=parsed.type,
        raw_body=parsed.raw_body,
        signature_header=parsed.signature_header,
        provider_created_at=parsed.created_at,
        meta=meta,
    )
    return services.provider_event_process(event=event, meta=meta)
