"""Fixtures shared by the subscriptions tests."""

from .stripe_scenarios import fake_stripe  # noqa: F401  (the local fake of Stripe's API)
