"""Stripe's webhook endpoint: signatures, evidence, once-only and order-safe processing.

Events are built by the local fake of Stripe (tests/fakes/stripe_server.py), signed
like Stripe signs them, and posted to /abonnement/webhooks/stripe/ through Django's
test client; the handlers' API calls go to the fake.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from audit.models import OutboundEmail
from subscriptions.models import Payment, ProviderEvent, Subscription
from tests.fakes.stripe_server import WEBHOOK_PATH

from .stripe_scenarios import (
    DAY,
    actions,
    business_state,
    past_time,
    six_event_lifecycle,
    stored_events,
    stripe_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_lifecycle(fake_stripe):
    subscription = stripe_order()
    return six_event_lifecycle(fake_stripe, subscription, t0=past_time(70))


def deliver(fake, event, client=None, **kwargs):
    return fake.deliver(client or Client(), event, **kwargs)


# --- Refused deliveries -----------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _tampered(fake, body: bytes):
    header = fake.sign(body)
    return body.replace(b'"amount_paid":990', b'"amount_paid":1'), header


REFUSALS = {
    "unsigned": lambda fake, body: (body, ""),
    "wrong secret": lambda fake, body: (body, fake.sign(body, secret="whsec_someone_else")),
    "modified after signing": _tampered,
    "stale (six minutes old)": lambda fake, body: (body, fake.sign(body, timestamp=_now() - 360)),
    "from the future": lambda fake, body: (body, fake.sign(body, timestamp=_now() + 360)),
    "garbage signature": lambda fake, body: (body, "t=abc,v1=zz"),
    "signed with another scheme": lambda fake, body: (
        body, fake.sign(body).replace("v1=", "v0="),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
def test_an_unauthentic_webhook_is_refused_with_no_side_effect(case, fake_stripe, paid_lifecycle):
    """GIVEN the signed first-payment event of a waiting order
    WHEN it arrives unsigned, signed with another secret, modified after signing,
    outside the five-minute window, or with a malformed signature
    THEN 400, nothing is stored, the order is still waiting, nothing is paid."""
    event = paid_lifecycle.events[1]
    assert b'"amount_paid":990' in fake_stripe.body(event)
    body, header = REFUSALS[case](fake_stripe, fake_stripe.body(event))
    before = business_state(paid_lifecycle.subscription)

    response = deliver(fake_stripe, event, body=body, header=header)

    assert response.status_code == 400
    assert stored_events() == 0
    assert business_state(paid_lifecycle.subscription) == before
    assert paid_lifecycle.subscription.status == Subscription.Status.PENDING_PAYMENT
    assert not Payment.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_a_correctly_signed_event_within_the_window_is_accepted(fake_stripe, paid_lifecycle):
    event = paid_lifecycle.events[1]
    response = deliver(fake_stripe, event, timestamp=int(time.time()) - 290)

    assert response.status_code == 200
    assert response.json()["status"] == "processed"


def test_during_a_secret_rotation_either_secret_signs(settings, fake_stripe, paid_lifecycle):
    """GIVEN two secrets configured while the endpoint's secret is rolled THEN an event
    signed with either is accepted, one signed with a third is refused, and a stale
    signature by the right secret is still refused."""
    current = fake_stripe.webhook_secret
    settings.STRIPE_WEBHOOK_SECRET = f"whsec_rolled_out_one, {current}"
    event = paid_lifecycle.events[1]
    body = fake_stripe.body(event)
    stale = fake_stripe.sign(body, secret="whsec_rolled_out_one", timestamp=_now() - 360)
    assert deliver(fake_stripe, event, body=body, header=stale).status_code == 400
    other = fake_stripe.sign(body, secret="whsec_someone_else")
    assert deliver(fake_stripe, event, body=body, header=other).status_code == 400
    assert stored_events() == 0
    old = fake_stripe.sign(body, secret="whsec_rolled_out_one")
    response = deliver(fake_stripe, event, body=body, header=old)
    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    assert deliver(fake_stripe, paid_lifecycle.events[2]).status_code == 200


def test_webhook_without_configured_secret_refuses_everything(
    settings, fake_stripe, paid_lifecycle
):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = deliver(fake_stripe, paid_lifecycle.events[1])
    assert response.status_code == 400
    assert stored_events() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"id": "evt_1"}',
        b'{"object": "event", "id": "e", "type": "x", "created": "z", "data": {"object": {}}}',
        b"\xff\xfe",
    ],
)
def test_signed_but_malformed_bodies_are_refused(fake_stripe, body):
    response = fake_stripe.deliver(Client(), {}, body=body)
    assert response.status_code == 400
    assert stored_events() == 0


def test_only_post_is_accepted_and_no_session_cookie_is_set(fake_stripe, paid_lifecycle):
    assert Client().get(WEBHOOK_PATH).status_code == 405
    response = deliver(fake_stripe, paid_lifecycle.events[1])
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies


# --- Evidence ------------------------------------------------------------------------------------


def test_the_raw_event_is_stored_byte_for_byte_with_its_hash_and_signature(
    fake_stripe, paid_lifecycle
):
    event = paid_lifecycle.events[1]
    body = fake_stripe.body(event)
    header = fake_stripe.sign(body)

    fake_stripe.deliver(Client(), event, body=body, header=header)

    stored = ProviderEvent.objects.get(provider="stripe", event_id=event["id"])
    assert bytes(stored.raw_body) == body
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.signature_header == header
    assert stored.type == "invoice.paid"
    assert int(stored.provider_created_at.timestamp()) == event["created"]
    assert stored.subscription_id == paid_lifecycle.subscription.pk


def test_evidence_survives_a_processing_failure(fake_stripe, paid_lifecycle):
    """GIVEN an order that the customer abandoned before their payment arrived
    WHEN the first payment's event arrives
    THEN it is stored, marked failed with the reason (staff and reconcile see it),
    and Stripe gets 200: delivering it again would not change the answer."""
    from subscriptions import services

    services.subscription_abandon(subscription=paid_lifecycle.subscription, reason="test")

    response = deliver(fake_stripe, paid_lifecycle.events[1])

    assert response.status_code == 200
    stored = ProviderEvent.objects.get(event_id=paid_lifecycle.events[1]["id"])
    assert stored.status == ProviderEvent.Status.FAILED
    assert "invalid_state" in stored.processing_result
    assert not Payment.objects.exists()


def test_an_unavailable_stripe_api_asks_for_a_redelivery(fake_stripe, paid_lifecycle):
    """GIVEN checkout.session.completed, whose handler asks Stripe for the invoice
    WHEN Stripe's API is down
    THEN 503 (Stripe delivers again), the event is kept ``received``, nothing else
    changed; the redelivery, once the API is back, activates the subscription."""
    event = paid_lifecycle.events[0]
    fake_stripe.available = False

    response = deliver(fake_stripe, event)

    assert response.status_code == 503
    stored = ProviderEvent.objects.get(event_id=event["id"])
    assert stored.status == ProviderEvent.Status.RECEIVED
    assert not Payment.objects.exists()

    fake_stripe.available = True
    assert deliver(fake_stripe, event).status_code == 200
    assert Subscription.objects.get(pk=paid_lifecycle.subscription.pk).status == "active"


# --- Once, whatever the number of deliveries ----------------------------------------------------


def _effects(subscription) -> dict:
    return {
        "state": business_state(subscription),
        "audit": sorted(
            actions(
                subscription,
                "subscription.activated",
                "subscription.renewed",
                "subscription.cancel_scheduled",
                "subscription.resumed",
                "subscription.ended",
                "subscription.payment_failed",
                "invoice.issued",
                "subscription.cancel_date_changed",
            )
        ),
        "emails": OutboundEmail.objects.count(),
        "stored": stored_events(),
    }


def _failure_event(fake, lifecycle):
    """A renewal that fails (a separate history from the six events)."""
    invoice = fake.invoice_fail(lifecycle.remote_id, at=past_time(5))
    return fake.event("invoice.payment_failed", invoice, created=past_time(5))


@pytest.mark.parametrize("times", [1, 2, 5])
@pytest.mark.parametrize("index", range(6), ids=[
    "checkout.session.completed", "invoice.paid(first)", "subscription.updated(cancel_at)",
    "invoice.paid(renewal)", "subscription.updated(resume)", "subscription.deleted",
])  # fmt: skip
def test_each_event_delivered_several_times_has_one_effect(
    index, times, fake_stripe, paid_lifecycle
):
    """GIVEN the events that come before it, processed
    WHEN one event is delivered 1, 2 or 5 times
    THEN the state, the audit trail, the emails and the stored evidence are exactly
    those of a single delivery."""
    client = Client()
    for earlier in paid_lifecycle.events[:index]:
        assert deliver(fake_stripe, earlier, client).status_code == 200
    event = paid_lifecycle.events[index]

    assert deliver(fake_stripe, event, client).status_code == 200
    once = _effects(paid_lifecycle.subscription)
    for _ in range(times - 1):
        assert deliver(fake_stripe, event, client).status_code == 200

    assert _effects(paid_lifecycle.subscription) == once
    assert ProviderEvent.objects.filter(event_id=event["id"]).count() == 1


@pytest.mark.parametrize("times", [1, 2, 5])
def test_a_failed_renewal_delivered_several_times_sends_one_email(
    times, fake_stripe, paid_lifecycle
):
    client = Client()
    for event in paid_lifecycle.events[:2]:
        deliver(fake_stripe, event, client)
    failure = _failure_event(fake_stripe, paid_lifecycle)

    for _ in range(times):
        assert deliver(fake_stripe, failure, client).status_code == 200

    subscription = Subscription.objects.get(pk=paid_lifecycle.subscription.pk)
    assert subscription.status == Subscription.Status.PAST_DUE
    assert actions(subscription, "subscription.payment_failed") == ["subscription.payment_failed"]
    assert OutboundEmail.objects.filter(template="payment_failed").count() == 1


def test_a_failure_reported_after_the_retry_succeeded_changes_nothing(fake_stripe, paid_lifecycle):
    """GIVEN a renewal that failed, then succeeded on Stripe's retry
    WHEN the success arrives before the failure
    THEN the subscription stays active and no failure email goes out."""
    client = Client()
    for event in paid_lifecycle.events[:2]:
        deliver(fake_stripe, event, client)
    failed = fake_stripe.invoice_fail(paid_lifecycle.remote_id, at=past_time(40))
    failure = fake_stripe.event("invoice.payment_failed", failed, created=past_time(40))
    retried = fake_stripe.invoice_pay(
        paid_lifecycle.remote_id, paid_at=past_time(38), invoice_id=failed["id"]
    )
    success = fake_stripe.event("invoice.paid", retried, created=past_time(38))

    deliver(fake_stripe, success, client)
    deliver(fake_stripe, failure, client)

    subscription = Subscription.objects.get(pk=paid_lifecycle.subscription.pk)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.payments.count() == 2
    assert not OutboundEmail.objects.filter(template="payment_failed").exists()


# --- Concurrent deliveries (PostgreSQL) -----------------------------------------------


def _concurrently(fake, event, count=2):
    barrier = threading.Barrier(count)
    statuses = []

    def post():
        try:
            client = Client()
            barrier.wait(timeout=10)
            statuses.append(fake.deliver(client, event).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("index", [0, 1, 3, 5], ids=[
    "checkout.session.completed", "invoice.paid(first)", "invoice.paid(renewal)",
    "subscription.deleted",
])  # fmt: skip
def test_two_simultaneous_deliveries_have_one_effect(index, postgres, fake_stripe):
    """GIVEN the events before it processed
    WHEN the same event arrives twice at the same moment (two threads, two connections)
    THEN both get 200 and there is exactly one effect: one stored event, one payment
    and invoice per paid invoice, one audit event per change."""
    subscription = stripe_order()
    lifecycle = six_event_lifecycle(fake_stripe, subscription, t0=past_time(70))
    for earlier in lifecycle.events[:index]:
        assert deliver(fake_stripe, earlier).status_code == 200
    event = lifecycle.events[index]
    reference = Client()
    expected_payments = {0: 1, 1: 1, 3: 2, 5: 2}[index]

    statuses = _concurrently(fake_stripe, event)

    assert statuses == [200, 200]
    assert ProviderEvent.objects.filter(event_id=event["id"]).count() == 1
    assert Payment.objects.filter(subscription=subscription).count() == expected_payments
    assert subscription.invoices.count() == expected_payments
    audit = actions(
        subscription, "subscription.activated", "subscription.renewed", "subscription.ended"
    )
    assert len(audit) == len(set(audit))
    # A later delivery still changes nothing.
    before = business_state(subscription)
    assert deliver(fake_stripe, event, reference).status_code == 200
    assert business_state(subscription) == before


@pytest.mark.django_db(transaction=True)
def test_first_payment_and_checkout_completion_racing_record_one_payment(postgres, fake_stripe):
    """The two events that both carry the first payment arrive together."""
    subscription = stripe_order()
    lifecycle = six_event_lifecycle(fake_stripe, subscription, t0=past_time(70))
    barrier = threading.Barrier(2)
    statuses = []

    def post(event):
        try:
            barrier.wait(timeout=10)
            statuses.append(deliver(fake_stripe, event).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(e,)) for e in lifecycle.events[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200, 200]
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.payments.count() == 1
    assert subscription.invoices.count() == 1


# --- Any order ------------------------------------------------------------------------------------


def test_every_ordering_of_the_lifecycle_ends_in_the_same_state(fake_stripe, paid_lifecycle):
    """GIVEN the six events of a subscription's life (see ``six_event_lifecycle``)
    WHEN they arrive in each of the 720 possible orders, each delivered in full
    through the test client
    THEN every ordering ends in the state the right order gives: ended at day 63,
    no end date pending, two payments and two invoices with the same periods.

    Orderings that share a beginning share its deliveries: the orders are walked
    as a tree, with a savepoint per delivery rolled back when its subtree is done,
    so each ordering still runs alone from the same starting state (1,956
    deliveries instead of 4,320)."""
    events = paid_lifecycle.events
    subscription = paid_lifecycle.subscription
    client = Client()
    finals: dict[tuple, dict] = {}

    def walk(prefix: tuple, remaining: tuple) -> None:
        if not remaining:
            finals[prefix] = business_state(subscription)
            return
        for index in remaining:
            savepoint = transaction.savepoint()
            response = deliver(fake_stripe, events[index], client)
            assert response.status_code == 200, (prefix, index, response.content)
            walk((*prefix, index), tuple(i for i in remaining if i != index))
            transaction.savepoint_rollback(savepoint)

    walk((), tuple(range(6)))

    assert len(finals) == 720
    assert set(finals) == set(itertools.permutations(range(6)))
    expected = finals[tuple(range(6))]
    assert expected["status"] == Subscription.Status.ENDED
    assert expected["cancel_at"] is None
    assert int(expected["ended_at"].timestamp()) == events[5]["created"]
    assert sorted(p[1] for p in expected["payments"]) == ["initial", "renewal"]
    assert len(expected["invoices"]) == 2
    mismatches = [(order, state) for order, state in finals.items() if state != expected]
    assert not mismatches, f"{len(mismatches)} orderings differ, e.g. {mismatches[0]}"
    # The walk left nothing behind: the next test of this lifecycle starts afresh.
    assert Subscription.objects.get(pk=subscription.pk).status == "pending_payment"


def test_an_older_state_arriving_late_is_ignored(fake_stripe, paid_lifecycle):
    client = Client()
    events = paid_lifecycle.events
    for index in (0, 1, 4):  # paid, then "no end date" (day 35)
        deliver(fake_stripe, events[index], client)
    response = deliver(fake_stripe, events[2], client)  # "end on day 45", from day 10

    assert response.json()["status"] == "ignored"
    subscription = Subscription.objects.get(pk=paid_lifecycle.subscription.pk)
    assert subscription.status == Subscription.Status.ACTIVE
    assert "stale" in ProviderEvent.objects.get(event_id=events[2]["id"]).processing_result


def test_two_states_of_the_same_second_are_settled_by_asking_stripe(fake_stripe, paid_lifecycle):
    """GIVEN a cancellation and its withdrawal stamped with the same second
    WHEN they arrive in the wrong order
    THEN the handler asks Stripe for the current state (no end date) and applies it."""
    client = Client()
    events = paid_lifecycle.events
    for index in (0, 1):
        deliver(fake_stripe, events[index], client)
    remote = fake_stripe.subscription_set(paid_lifecycle.remote_id, cancel_at=None, status="active")
    second = past_time(50)
    later = fake_stripe.event("customer.subscription.updated", remote, created=second)
    earlier_snapshot = dict(remote, cancel_at=second + 20 * DAY)
    earlier = fake_stripe.event("customer.subscription.updated", earlier_snapshot, created=second)

    deliver(fake_stripe, later, client)
    deliver(fake_stripe, earlier, client)

    subscription = Subscription.objects.get(pk=paid_lifecycle.subscription.pk)
    assert subscription.status == Subscription.Status.ACTIVE
    assert fake_stripe.logged("GET", f"/v1/subscriptions/{paid_lifecycle.remote_id}")


def test_an_event_about_someone_elses_subscription_is_stored_and_ignored(fake_stripe):
    invoice = {
        "id": "in_other", "object": "invoice", "status": "paid", "amount_paid": 500,
        "currency": "eur", "billing_reason": "subscription_create", "customer": "cus_x",
        "parent": {"subscription_details": {"subscription": "sub_other", "metadata": {}}},
    }  # fmt: skip
    event = fake_stripe.event("invoice.paid", invoice)

    response = deliver(fake_stripe, event)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert not Payment.objects.exists()


def test_forged_metadata_naming_a_subscription_with_the_wrong_reference_is_ignored(fake_stripe):
    subscription = stripe_order()
    invoice = {
        "id": "in_forged", "object": "invoice", "status": "paid", "amount_paid": 990,
        "currency": "eur", "billing_reason": "subscription_create", "customer": "cus_x",
        "parent": {"subscription_details": {"subscription": "sub_forged", "metadata": {
            "mns_subscription_id": str(subscription.pk), "mns_reference": "MNS-0000-0000"}}},
    }  # fmt: skip

    response = deliver(fake_stripe, fake_stripe.event("invoice.paid", invoice))

    assert response.json()["status"] == "ignored"
    assert Subscription.objects.get(pk=subscription.pk).status == "pending_payment"


def test_checkout_completion_alone_activates_with_the_invoice_amount_and_time(fake_stripe):
    """invoice.paid may be lost or late: checkout.session.completed fetches the
    invoice and records the same payment, with the invoice's own amount and time."""
    subscription = stripe_order()
    t0 = past_time(3)
    lifecycle = six_event_lifecycle(fake_stripe, subscription, t0=t0)

    deliver(fake_stripe, lifecycle.events[0])

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    payment = subscription.payments.get()
    assert payment.amount_cents == 990
    assert int(payment.paid_at.timestamp()) == t0
    assert (
        payment.provider_payment_id
        == json.loads(fake_stripe.body(lifecycle.events[1]))["data"]["object"]["id"]
    )
    assert subscription.provider_subscription_id == lifecycle.remote_id
