"""Production requirements of payments, reported by ``manage.py check --deploy``.

The simulated provider moves no money: a production site running it would take
orders it never gets paid for. With Stripe, the API key, the webhook signing secret
and a price for every plan on sale must all be set, or checkouts and webhooks fail
at the first customer (docs/payments.md).
"""

from __future__ import annotations

from django.conf import settings

from mynetspace.core.checks import production_requirement

from .plans import PLANS
from .providers import PROVIDERS


@production_requirement(
    "subscriptions.E001",
    hint="Set PAYMENT_PROVIDER=stripe and the STRIPE_* variables (docs/payments.md).",
)
def real_payment_provider() -> str | None:
    name = settings.PAYMENT_PROVIDER
    if name not in PROVIDERS:
        return (
            f"PAYMENT_PROVIDER={name!r} is not a known provider ({', '.join(sorted(PROVIDERS))})."
        )
    if name == "simulated":
        return "PAYMENT_PROVIDER is 'simulated': orders would be accepted without any payment."
    return None


@production_requirement(
    "subscriptions.E002",
    hint="Set STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_PRICES (docs/payments.md).",
)
def stripe_configured() -> str | None:
    if settings.PAYMENT_PROVIDER != "stripe":
        return None
    missing = [
        name
        for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
        if not getattr(settings, name)
    ]
    if missing:
        return f"Stripe is the payment provider but {', '.join(missing)} is not set."
    from .providers.stripe import webhook_secrets

    if not all(secret.startswith("whsec_") for secret in webhook_secrets()):
        return "STRIPE_WEBHOOK_SECRET does not look like a webhook signing secret (whsec_...)."
    unpriced = [plan["code"] for plan in PLANS if not settings.STRIPE_PRICES.get(plan["code"])]
    if unpriced:
        return f"STRIPE_PRICES has no Stripe price for the plan(s) {', '.join(unpriced)}."
    return None
