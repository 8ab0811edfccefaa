"""Ordering, first payment, renewal, invoices and credit notes, provider events."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.utils import timezone

from audit.models import Event
from mynetspace.core.errors import DomainError, InvalidState
from subscriptions import services
from subscriptions.models import (
    CreditNote,
    Invoice,
    Payment,
    ProviderEvent,
    Subscription,
)
from subscriptions.providers import WebhookRejected, get_provider, simulated

from .factories import (
    EXPRESS_WORDING,
    CustomerFactory,
    PlanFactory,
    activated,
    ordered,
    succeeded_refund,
)

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def actions_for(customer) -> list[str]:
    return list(
        Event.objects.filter(chain_key=f"user:{customer.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_an_order_records_the_express_start_wording_and_waits_for_payment():
    customer = CustomerFactory()
    subscription = ordered(customer=customer, express_start=True)

    assert subscription.status == Subscription.Status.PENDING_PAYMENT
    assert subscription.express_start_wording == EXPRESS_WORDING
    event = Event.objects.get(action="subscription.ordered")
    assert event.chain_key == f"user:{customer.pk}"
    assert event.data["express_start"] is True
    assert event.data["express_start_wording"] == EXPRESS_WORDING
    assert event.data["express_start_version"] == "express-start-v1"


def test_an_express_start_without_its_wording_is_refused():
    with pytest.raises(DomainError) as error:
        services.subscription_order(
            customer=CustomerFactory(), plan=PlanFactory(), express_start=True
        )
    assert error.value.code == "express_start_wording_required"
    assert not Subscription.objects.exists()


def test_an_inactive_plan_cannot_be_ordered():
    with pytest.raises(DomainError) as error:
        ordered(plan=PlanFactory(is_active=False))
    assert error.value.code == "plan_inactive"


def test_a_new_order_replaces_an_unpaid_one_but_not_a_live_contract():
    customer = CustomerFactory()
    first = ordered(customer=customer)
    second = ordered(customer=customer)

    first.refresh_from_db()
    assert first.status == Subscription.Status.ABANDONED
    assert second.status == Subscription.Status.PENDING_PAYMENT

    services.subscription_activate(
        subscription=second, provider_payment_id="p1", amount_cents=990, paid_at=timezone.now()
    )
    with pytest.raises(DomainError) as error:
        ordered(customer=customer)
    assert error.value.code == "already_subscribed"


def test_the_database_refuses_two_open_subscriptions_for_one_customer():
    """Even code that bypasses the services cannot give a customer two live contracts."""
    subscription = ordered()
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            customer=subscription.customer, plan=subscription.plan, provider="simulated"
        )


def test_first_payment_with_express_start_starts_the_service_at_once(
    django_capture_on_commit_callbacks,
):
    paid_at = datetime(2026, 3, 10, 14, 0, tzinfo=PARIS)
    with django_capture_on_commit_callbacks(execute=True):
        subscription = activated(express_start=True, paid_at=paid_at)

    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.concluded_at == paid_at
    assert subscription.withdrawal_deadline == datetime(2026, 3, 25, 0, 0, tzinfo=PARIS)
    assert subscription.service_starts_at == paid_at
    assert subscription.current_period_start == paid_at
    assert subscription.current_period_end == datetime(2026, 4, 10, 14, 0, tzinfo=PARIS)
    payment = subscription.payments.get()
    assert (payment.kind, payment.status, payment.amount_cents) == ("initial", "succeeded", 990)
    assert subscription.invoices.get().payment == payment
    # The invoice PDF, then the contract confirmation, follow the commit (other events,
    # such as the vault deposits and the email's own, come in between).
    actions = actions_for(subscription.customer)
    assert [a for a in actions if a.startswith(("subscription.", "invoice."))][:5] == [
        "subscription.ordered",
        "subscription.activated",
        "invoice.issued",
        "invoice.pdf_rendered",
        "subscription.confirmation_sent",
    ]


def test_without_express_start_the_service_and_first_period_wait_for_the_withdrawal_period():
    """GIVEN no express start (L221-25) WHEN the first payment arrives THEN the service,
    and the paid period, start when the withdrawal period is over."""
    paid_at = datetime(2026, 3, 10, 14, 0, tzinfo=PARIS)
    subscription = activated(express_start=False, paid_at=paid_at)

    deadline = datetime(2026, 3, 25, 0, 0, tzinfo=PARIS)
    assert subscription.service_starts_at == deadline
    assert subscription.current_period_start == deadline
    assert subscription.current_period_end == datetime(2026, 4, 25, 0, 0, tzinfo=PARIS)


def test_the_same_payment_reported_twice_activates_once():
    subscription = ordered()
    kwargs = {"provider_payment_id": "pay_1", "amount_cents": 990, "paid_at": timezone.now()}
    first = services.subscription_activate(subscription=subscription, **kwargs)
    again = services.subscription_activate(subscription=subscription, **kwargs)

    assert first == again
    assert Payment.objects.count() == 1
    assert Invoice.objects.count() == 1


def test_a_second_first_payment_is_refused():
    subscription = activated()
    with pytest.raises(InvalidState):
        services.subscription_activate(
            subscription=subscription,
            provider_payment_id="another",
            amount_cents=990,
            paid_at=timezone.now(),
        )


def test_renewal_advances_the_period_keeping_the_anchor_day_and_invoices_it():
    paid_at = datetime(2026, 1, 31, 9, 0, tzinfo=PARIS)
    subscription = activated(paid_at=paid_at)
    assert subscription.current_period_end == datetime(2026, 2, 28, 9, 0, tzinfo=PARIS)

    services.subscription_renew(
        subscription=subscription,
        provider_payment_id="renewal-1",
        amount_cents=990,
        paid_at=subscription.current_period_end,
    )
    subscription.refresh_from_db()

    assert subscription.current_period_start == datetime(2026, 2, 28, 9, 0, tzinfo=PARIS)
    assert subscription.current_period_end == datetime(2026, 3, 31, 9, 0, tzinfo=PARIS)
    assert subscription.invoices.count() == 2
    assert subscription.payments.filter(kind="renewal").count() == 1


def test_an_invoice_freezes_identity_lines_and_vat(django_capture_on_commit_callbacks):
    customer = CustomerFactory(first_name="Ana", last_name="Durand")
    with django_capture_on_commit_callbacks(execute=True):
        subscription = activated(customer=customer)
    invoice = subscription.invoices.get()

    assert invoice.customer_snapshot["name"] == "Ana Durand"
    assert invoice.company_snapshot["siren"]
    assert (invoice.total_ht_cents, invoice.total_vat_cents, invoice.total_ttc_cents) == (
        825,
        165,
        990,
    )
    [line] = invoice.lines
    assert line["vat_rate_bp"] == 2000
    assert "Abonnement MyNetSpace" in line["label"]
    # Rendered by the task enqueued on commit (in-process here).
    invoice.refresh_from_db()
    assert len(invoice.pdf_sha256) == 64


def test_invoices_are_issued_in_french_whatever_the_language():
    from django.utils import translation

    with translation.override("en"):
        subscription = activated()
    assert subscription.invoices.get().lines[0]["label"].startswith("Abonnement MyNetSpace")


def test_a_credit_note_cancels_the_refunded_invoice():
    subscription = activated()
    payment = subscription.payments.get()
    refund = succeeded_refund(payment=payment, amount_cents=500)

    note = services.credit_note_issue(refund=refund)

    assert note.number.startswith("A-")
    assert note.invoice == payment.invoice
    assert note.total_ttc_cents == 500
    assert note.total_ht_cents + note.total_vat_cents == 500
    assert services.credit_note_issue(refund=refund) == note  # idempotent
    assert CreditNote.objects.count() == 1
    assert Event.objects.filter(action="credit_note.issued").count() == 1


def test_evidence_rows_refuse_changes_in_python():
    from audit.models import AppendOnlyError

    invoice = activated().invoices.get()
    invoice.total_ttc_cents = 1
    with pytest.raises(AppendOnlyError):
        invoice.save()
    with pytest.raises(AppendOnlyError):
        Invoice.objects.filter(pk=invoice.pk).update(total_ttc_cents=1)


# --- The simulated provider --------------------------------------------------------------


def test_simulated_checkout_success_runs_the_webhook_path():
    subscription = ordered()
    url = services.subscription_checkout_start(
        subscription=subscription, success_url="/abonnement/", cancel_url="/tarifs/"
    )
    subscription.refresh_from_db()
    assert url.startswith(f"/abonnement/paiement-simule/{subscription.provider_checkout_id}/?r=")

    event = simulated.checkout_complete(subscription=subscription, succeeded=True)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert event.status == ProviderEvent.Status.PROCESSED
    assert event.subscription == subscription
    payment = subscription.payments.get()
    assert payment.amount_cents == subscription.plan.price_ttc_cents
    assert payment.provider_payment_id.startswith("simpay_")
    assert Event.objects.filter(action="payment_provider.event_received").count() == 1


def test_simulated_checkout_failure_leaves_the_order_payable():
    subscription = ordered()
    services.subscription_checkout_start(
        subscription=subscription, success_url="/a/", cancel_url="/b/"
    )
    subscription.refresh_from_db()

    event = simulated.checkout_complete(subscription=subscription, succeeded=False)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PENDING_PAYMENT
    assert event.status == ProviderEvent.Status.PROCESSED
    assert not Payment.objects.exists()
    assert "subscription.checkout_failed" in actions_for(subscription.customer)

    # The customer tries again and pays.
    simulated.checkout_complete(subscription=subscription, succeeded=True)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_a_provider_event_is_stored_and_processed_once_whatever_the_deliveries():
    subscription = ordered()
    services.subscription_checkout_start(
        subscription=subscription, success_url="/a/", cancel_url="/b/"
    )
    subscription.refresh_from_db()
    parsed = simulated.event_build(
        type=simulated.SUCCEEDED,
        data={
            "checkout": subscription.provider_checkout_id,
            "payment_id": "p-1",
            "amount_cents": 990,
        },
    )
    for _ in range(3):
        event, _created = services.provider_event_store(
            provider="simulated",
            event_id=parsed.event_id,
            type=parsed.type,
            raw_body=parsed.raw_body,
            signature_header=parsed.signature_header,
        )
        services.provider_event_process(event=event)

    assert ProviderEvent.objects.count() == 1
    event = ProviderEvent.objects.get()
    assert event.attempts == 1
    assert bytes(event.raw_body) == parsed.raw_body
    assert Payment.objects.count() == 1


def test_an_event_for_an_unknown_checkout_is_ignored():
    parsed = simulated.event_build(
        type=simulated.SUCCEEDED, data={"checkout": "nope", "payment_id": "p", "amount_cents": 1}
    )
    event, _ = services.provider_event_store(
        provider="simulated", event_id=parsed.event_id, type=parsed.type, raw_body=parsed.raw_body
    )
    assert services.provider_event_process(event=event).status == ProviderEvent.Status.IGNORED


def test_a_handler_refusal_marks_the_event_failed_and_keeps_the_evidence():
    """GIVEN a success event for an order already abandoned WHEN processed THEN the
    refusal is recorded on the event, and the raw event stays stored."""
    subscription = ordered()
    services.subscription_checkout_start(
        subscription=subscription, success_url="/a/", cancel_url="/b/"
    )
    subscription.refresh_from_db()
    services.subscription_abandon(subscription=subscription, reason="test")

    event = simulated.checkout_complete(subscription=subscription, succeeded=True)

    assert event.status == ProviderEvent.Status.FAILED
    assert event.processing_result.startswith("invalid_state")
    assert not Payment.objects.exists()


def test_simulated_webhooks_must_be_signed():
    provider = get_provider("simulated")
    parsed = simulated.event_build(type=simulated.SUCCEEDED, data={})
    factory = RequestFactory()

    good = factory.post(
        "/", data=parsed.raw_body, content_type="application/json",
        headers={"X-Simulated-Signature": parsed.signature_header},
    )  # fmt: skip
    assert provider.parse_webhook(good).event_id == parsed.event_id

    tampered_body = parsed.raw_body.replace(b"checkout.succeeded", b"checkout.failed")
    for body, signature in (
        (parsed.raw_body, ""),
        (parsed.raw_body, "sha256=" + "0" * 64),
        (tampered_body, parsed.signature_header),
    ):
        request = factory.post(
            "/", data=body, content_type="application/json",
            headers={"X-Simulated-Signature": signature} if signature else {},
        )  # fmt: skip
        with pytest.raises(WebhookRejected):
            provider.parse_webhook(request)


def test_simulated_refunds_carry_the_idempotency_key():
    subscription = activated()
    refund = succeeded_refund(payment=subscription.payments.get())
    provider = get_provider("simulated")

    first, second = provider.refund(refund), provider.refund(refund)

    assert refund.idempotency_key == f"refund:{refund.pk}"
    assert first == second
    assert first.status == "succeeded"


def test_the_checkout_return_addresses_stay_on_the_site():
    session = get_provider("simulated").create_checkout(
        ordered(), success_url="https://evil.example/", cancel_url="//evil.example/x"
    )
    signed = session.url.split("?r=", 1)[1]
    from urllib.parse import unquote

    assert simulated.return_urls(unquote(signed)) == ("/abonnement/", "/abonnement/")
    assert simulated.return_urls("forged") == ("/abonnement/", "/abonnement/")


def test_withdrawal_deadline_is_stored_for_the_online_function():
    subscription = activated(paid_at=timezone.now() - timedelta(days=3))
    assert subscription.withdrawal_deadline > timezone.now()
