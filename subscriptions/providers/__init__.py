"""Payment providers behind one interface.

A provider turns our intentions into its API calls (open a checkout, refund,
stop renewing) and its notifications into our services (``parse_webhook`` then
``handle_event``). Services never call a provider's SDK directly; they call
:func:`get_provider` and the methods below.

The interface is shaped after Stripe, the production provider:

- ``create_checkout``: a Checkout Session in ``subscription`` mode; we keep its id
  on ``Subscription.provider_checkout_id`` and send the customer to its URL. The
  payment's outcome arrives later as an event, never from the redirect alone.
- ``parse_webhook``: verify the signature over the exact raw body (Stripe's
  ``Stripe-Signature`` with its timestamp tolerance) and return a
  :class:`ParsedEvent`; anything unsigned, wrongly signed, modified or stale raises
  :class:`WebhookRejected` before anything is stored.
- ``handle_event``: map one stored :class:`~subscriptions.models.ProviderEvent` to
  services (``subscription_activate``, ``subscription_renew``,
  ``subscription_checkout_failed``...). ``services.provider_event_process`` calls it
  once per event under a row lock; handlers must also be order-safe (an old event
  arriving after a newer one must not move the state back).
- ``refund``: pass ``refund.idempotency_key`` (``refund:<id>``) as the provider's
  idempotency key, so a retried call never refunds twice.
- ``cancel_at_period_end`` / ``resume`` / ``cancel_now``: stop renewing at the end
  of the paid period (cancellation), undo it, or stop at once (withdrawal,
  accepted satisfaction claim).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from mynetspace.core.errors import DomainError

#: Provider name -> class path.
PROVIDERS: dict[str, str] = {
    "simulated": "subscriptions.providers.simulated.SimulatedProvider",
    "stripe": "subscriptions.providers.stripe.StripeProvider",
}


class WebhookRejected(DomainError):
    """A notification failed verification: nothing was stored or done."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class ParsedEvent:
    """A verified notification, before it is stored."""

    event_id: str
    type: str
    raw_body: bytes
    signature_header: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class EventOutcome:
    """What handling one event did: ``status`` is a ``ProviderEvent.Status`` value."""

    status: str
    detail: str = ""
    subscription: object | None = None


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund: ``status`` is ``succeeded``, ``pending`` or
    ``failed`` (then ``failure_reason`` says why)."""

    provider_refund_id: str
    status: str
    failure_reason: str = ""


class PaymentProvider:
    """The interface every provider implements (see the module docstring)."""

    name: str = ""

    def create_checkout(
        self, subscription, *, success_url: str, cancel_url: str
    ) -> CheckoutSession:
        raise NotImplementedError

    def parse_webhook(self, request) -> ParsedEvent:
        raise NotImplementedError

    def handle_event(self, event, *, meta=None) -> EventOutcome:
        raise NotImplementedError

    def refund(self, refund) -> RefundResult:
        raise NotImplementedError

    def cancel_at_period_end(self, subscription) -> None:
        raise NotImplementedError

    def resume(self, subscription) -> None:
        raise NotImplementedError

    def cancel_now(self, subscription) -> None:
        raise NotImplementedError


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called ``name`` (default: ``settings.PAYMENT_PROVIDER``)."""
    name = name or settings.PAYMENT_PROVIDER
    try:
        path = PROVIDERS[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"Unknown payment provider {name!r} (known: {', '.join(sorted(PROVIDERS))})"
        ) from None
    return import_string(path)()
