"""Helpers shared by the exit-flow tests (cancellation, withdrawal, claims, refunds)."""

from __future__ import annotations

import hashlib
from email import message_from_bytes, policy

from audit.models import Event, OutboundEmail
from subscriptions.providers import RefundResult
from subscriptions.providers.simulated import SimulatedProvider


def email_text(email: OutboundEmail) -> str:
    """The plain-text part of a stored email, decoded."""
    message = message_from_bytes(bytes(email.raw), policy=policy.default)
    return message.get_body(("plain",)).get_content()


def email_is_intact(email: OutboundEmail) -> bool:
    """The stored hash matches the stored bytes (the evidence verifies)."""
    return hashlib.sha256(bytes(email.raw)).hexdigest() == email.sha256


def emails(template: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(template=template).order_by("created_at"))


def actions_for(customer) -> list[str]:
    return list(
        Event.objects.filter(chain_key=f"user:{customer.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )


class RecordingProvider(SimulatedProvider):
    """A provider that behaves like Stripe for refunds: one refund per idempotency key.

    ``calls`` counts every request; ``refunds`` holds the refunds actually made, by
    key. Class attributes, reset by the ``recording_provider`` fixture, because the
    code under test builds a new provider instance per call.
    """

    calls: list[str] = []
    refunds: dict[str, int] = {}
    answer: str = "succeeded"

    def refund(self, refund) -> RefundResult:
        key = refund.idempotency_key
        type(self).calls.append(key)
        type(self).refunds.setdefault(key, refund.amount_cents)
        return RefundResult(
            provider_refund_id=f"re_{key.replace(':', '_')}",
            status=type(self).answer,
            failure_reason="card_closed" if type(self).answer == "failed" else "",
        )


def use_recording_provider(monkeypatch):
    """Route the simulated provider name to :class:`RecordingProvider` for one test."""
    from subscriptions import providers

    RecordingProvider.calls = []
    RecordingProvider.refunds = {}
    RecordingProvider.answer = "succeeded"
    monkeypatch.setitem(
        providers.PROVIDERS, "simulated", "tests.subscriptions.exit_helpers.RecordingProvider"
    )
    return RecordingProvider
