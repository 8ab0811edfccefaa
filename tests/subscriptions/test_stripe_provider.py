"""The Stripe provider against the local fake of Stripe's API: checkout, renewals,
refunds (once, whatever the retries), and the production checks."""

from __future__ import annotations

import pytest
from django.test import Client

from mynetspace.core.errors import DomainError
from subscriptions import checks, services
from subscriptions.models import CreditNote, Refund, Subscription
from subscriptions.providers import get_provider
from subscriptions.providers.stripe import ProviderUnavailable, StripeProvider

from .stripe_scenarios import first_payment, past_time, stripe_order

pytestmark = pytest.mark.django_db


def paid(fake, *, days_ago: int = 2) -> Subscription:
    """A Stripe subscription whose first payment went through (events delivered)."""
    subscription = stripe_order()
    lifecycle = first_payment(fake, subscription, t0=past_time(days_ago))
    for event in lifecycle.events:
        assert fake.deliver(Client(), event).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    return subscription


# --- Checkout ----------------------------------------------------------------------------------


def test_checkout_opens_a_subscription_mode_session_naming_our_order(fake_stripe):
    subscription = stripe_order()

    [request] = fake_stripe.logged("POST", "/v1/checkout/sessions")
    params = request.params
    assert params["mode"] == "subscription"
    assert params["line_items"] == [{"price": "price_mensuel", "quantity": "1"}]
    assert params["client_reference_id"] == str(subscription.pk)
    ours = {"mns_subscription_id": str(subscription.pk), "mns_reference": subscription.reference}
    assert params["metadata"] == ours
    assert params["subscription_data"] == {"metadata": ours}
    assert params["customer_email"] == subscription.customer.email
    assert params["locale"] == "fr"
    assert params["success_url"] == "http://127.0.0.1:8000/abonnement/"
    assert params["cancel_url"] == "http://127.0.0.1:8000/abonnement/"
    assert subscription.provider_checkout_id.startswith("cs_test_")


def test_checkout_returns_stripes_payment_page(fake_stripe):
    subscription = stripe_order()
    url = services.subscription_checkout_start(
        subscription=subscription, success_url="/abonnement/", cancel_url="/tarifs/"
    )
    subscription.refresh_from_db()
    assert url == f"{fake_stripe.url}/pay/{subscription.provider_checkout_id}"


def test_a_plan_without_a_stripe_price_is_refused_clearly(fake_stripe, settings):
    settings.STRIPE_PRICES = {}
    with pytest.raises(DomainError) as error:
        stripe_order()
    assert error.value.code == "plan_not_priced"
    assert not fake_stripe.logged("POST", "/v1/checkout/sessions")


def test_stripe_down_during_checkout_is_a_clear_error(fake_stripe):
    fake_stripe.available = False
    with pytest.raises(ProviderUnavailable) as error:
        stripe_order()
    assert error.value.code == "provider_unavailable"


def test_the_provider_registry_names_stripe(fake_stripe):
    assert isinstance(get_provider("stripe"), StripeProvider)


# --- Renewals ------------------------------------------------------------------------------


def _remote(fake, subscription) -> dict:
    return fake.objects["subscription"][subscription.provider_subscription_id]


def test_cancel_at_period_end_then_resume(fake_stripe):
    subscription = paid(fake_stripe)
    provider = get_provider("stripe")

    provider.cancel_at_period_end(subscription)
    remote = _remote(fake_stripe, subscription)
    assert remote["cancel_at_period_end"] is True

    provider.resume(subscription)
    assert remote["cancel_at_period_end"] is False
    assert remote["cancel_at"] is None


def test_an_end_date_beyond_the_paid_period_is_passed_to_stripe(fake_stripe):
    subscription = paid(fake_stripe)
    subscription.cancel_at = subscription.current_period_end.replace(microsecond=0) + (
        subscription.current_period_end - subscription.current_period_start
    )
    get_provider("stripe").cancel_at_period_end(subscription)

    remote = _remote(fake_stripe, subscription)
    assert remote["cancel_at"] == int(subscription.cancel_at.timestamp())
    assert remote["cancel_at_period_end"] is False


def test_a_customer_cancellation_reaches_stripe_through_the_flow(
    fake_stripe, django_capture_on_commit_callbacks
):
    """GIVEN an active Stripe subscription
    WHEN the customer cancels on /resilier/ (the flow's service)
    THEN, once committed, Stripe is told to stop at the period end."""
    subscription = paid(fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_cancel(
            subscription=subscription,
            channel="logged_in",
            full_name="Camille Martin",
            email=subscription.customer.email,
            contract_reference=subscription.reference,
            acting_user=subscription.customer,
        )
    assert _remote(fake_stripe, subscription)["cancel_at_period_end"] is True


def test_cancel_now_stops_stripe_once(fake_stripe):
    subscription = paid(fake_stripe)
    provider = get_provider("stripe")

    provider.cancel_now(subscription)
    provider.cancel_now(subscription)

    assert _remote(fake_stripe, subscription)["status"] == "canceled"
    assert len(fake_stripe.logged("DELETE", "/v1/subscriptions/")) == 1


def test_cancel_now_of_an_unpaid_order_expires_its_checkout(fake_stripe):
    subscription = stripe_order()
    get_provider("stripe").cancel_now(subscription)
    session = fake_stripe.objects["checkout.session"][subscription.provider_checkout_id]
    assert session["status"] == "expired"


# --- Refunds -------------------------------------------------------------------------------


def approved_refund(subscription, *, amount_cents: int = 500) -> Refund:
    payment = subscription.payments.get()
    return Refund.objects.create(
        customer=subscription.customer,
        subscription=subscription,
        payment=payment,
        reason=Refund.Reason.GOODWILL,
        status=Refund.Status.APPROVED,
        amount_cents=amount_cents,
        provider="stripe",
    )


def test_a_refund_run_three_times_refunds_once(fake_stripe):
    subscription = paid(fake_stripe)
    refund = approved_refund(subscription)

    for _ in range(3):
        services.refund_send(refund_id=refund.pk)

    [made] = fake_stripe.created_refunds()
    assert made["amount"] == 500
    assert made["metadata"]["mns_refund_id"] == str(refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_refund_id == made["id"]
    assert CreditNote.objects.filter(refund=refund).count() == 1
    assert [r.idempotency_key for r in fake_stripe.logged("POST", "/v1/refunds")] == [
        f"refund:{refund.pk}"
    ]


@pytest.mark.parametrize("key_expired", [False, True], ids=["within 24 h", "key expired"])
def test_a_refund_retried_after_a_crash_refunds_once(fake_stripe, monkeypatch, key_expired):
    """GIVEN a refund task that crashes after Stripe made the refund but before our
    transaction commits (so we have no trace of Stripe's answer)
    WHEN the task runs again (immediately, or after Stripe forgot the idempotency key)
    THEN Stripe still holds exactly one refund, and we record one success."""
    subscription = paid(fake_stripe)
    refund = approved_refund(subscription)
    real = StripeProvider.refund

    def crash_after_the_call(self, refund):
        real(self, refund)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(StripeProvider, "refund", crash_after_the_call)
    with pytest.raises(RuntimeError):
        services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SENT
    assert refund.provider_refund_id == ""
    assert len(fake_stripe.created_refunds()) == 1

    monkeypatch.setattr(StripeProvider, "refund", real)
    if key_expired:
        fake_stripe._idempotent.clear()
    services.refund_send(refund_id=refund.pk)
    services.refund_send(refund_id=refund.pk)

    assert len(fake_stripe.created_refunds()) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert CreditNote.objects.filter(refund=refund).count() == 1


def test_a_pending_refund_is_settled_by_its_webhook_once(fake_stripe):
    subscription = paid(fake_stripe)
    refund = approved_refund(subscription)
    fake_stripe.refund_outcome = "pending"

    services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SENT
    assert refund.provider_refund_id

    settled = fake_stripe.refund_settle(refund.provider_refund_id, "succeeded")
    event = fake_stripe.event("refund.updated", settled)
    for _ in range(2):
        assert fake_stripe.deliver(Client(), event).status_code == 200

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert CreditNote.objects.filter(refund=refund).count() == 1


def test_a_refund_that_failed_is_reported_and_asking_again_makes_one_new_attempt(fake_stripe):
    """GIVEN a refund Stripe could not carry out (recorded failed, staff alerted)
    WHEN the provider is asked again for the same refund, twice
    THEN one new attempt is made (a failed refund cannot be replayed), with a key
    derived from the same refund; Stripe ends with one failed and one succeeded."""
    subscription = paid(fake_stripe)
    refund = approved_refund(subscription)
    fake_stripe.refund_outcome = "failed"
    services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert refund.failure_reason == "expired_or_canceled_card"

    fake_stripe.refund_outcome = "succeeded"
    provider = get_provider("stripe")
    first, second = provider.refund(refund), provider.refund(refund)

    assert first == second
    assert first.status == "succeeded"
    statuses = sorted(r["status"] for r in fake_stripe.created_refunds())
    assert statuses == ["failed", "succeeded"]
    keys = [r.idempotency_key for r in fake_stripe.logged("POST", "/v1/refunds")]
    assert keys == [f"refund:{refund.pk}", f"refund:{refund.pk}:2"]


def test_a_refund_failure_reported_by_webhook_marks_the_refund_failed(fake_stripe):
    subscription = paid(fake_stripe)
    refund = approved_refund(subscription)
    fake_stripe.refund_outcome = "pending"
    services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()

    failed = fake_stripe.refund_settle(refund.provider_refund_id, "failed")
    fake_stripe.deliver(Client(), fake_stripe.event("refund.failed", failed))

    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert refund.failure_reason == "lost_or_stolen_card"


# --- Production checks ----------------------------------------------------------------------


def test_production_refuses_the_simulated_provider(settings):
    settings.PAYMENT_PROVIDER = "simulated"
    assert "simulated" in checks.real_payment_provider()
    settings.PAYMENT_PROVIDER = "paypal"
    assert "not a known provider" in checks.real_payment_provider()
    settings.PAYMENT_PROVIDER = "stripe"
    assert checks.real_payment_provider() is None


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"STRIPE_SECRET_KEY": ""}, "STRIPE_SECRET_KEY is not set"),
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is not set"),
        ({"STRIPE_WEBHOOK_SECRET": "sk_live_oops"}, "does not look like"),
        ({"STRIPE_PRICES": {"mensuel": "price_1"}}, "annuel"),
        ({}, None),
    ],
)
def test_stripe_settings_are_checked_for_production(settings, overrides, problem):
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_live_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    settings.STRIPE_PRICES = {"mensuel": "price_1", "annuel": "price_2"}
    for name, value in overrides.items():
        setattr(settings, name, value)
    result = checks.stripe_configured()
    if problem is None:
        assert result is None
    else:
        assert problem in result
