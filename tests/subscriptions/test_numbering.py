"""Gapless invoice and credit note numbers, per series and year."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from subscriptions import deadlines
from subscriptions.models import DocumentCounter, Invoice
from subscriptions.numbering import number_next

from .factories import activated, ordered

THIS_YEAR = deadlines.local_date(timezone.now()).year


@pytest.mark.django_db
def test_numbers_follow_each_other_per_series_and_year():
    with transaction.atomic():
        taken = [
            number_next(series="F", year=2026).text,
            number_next(series="F", year=2026).text,
            number_next(series="A", year=2026).text,
            number_next(series="F", year=2027).text,
            number_next(series="F", year=2026).text,
        ]
    assert taken == [
        "F-2026-000001",
        "F-2026-000002",
        "A-2026-000001",
        "F-2027-000001",
        "F-2026-000003",
    ]


@pytest.mark.django_db
def test_a_rolled_back_issue_does_not_burn_a_number():
    """GIVEN an invoice transaction that fails after taking its number WHEN the next
    invoice is issued THEN it gets that same number: no gap."""
    with transaction.atomic():
        number_next(series="F", year=2026)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        assert number_next(series="F", year=2026).sequence == 2
        raise Boom

    with transaction.atomic():
        assert number_next(series="F", year=2026).sequence == 2


@pytest.mark.django_db(transaction=True)
def test_numbering_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        number_next(series="F", year=2026)


@pytest.mark.django_db
def test_each_paid_subscription_gets_the_next_invoice_number():
    first, second = activated(), activated()

    numbers = [first.invoices.get().number, second.invoices.get().number]

    assert numbers == [f"F-{THIS_YEAR}-000001", f"F-{THIS_YEAR}-000002"]
    assert DocumentCounter.objects.get(series="F", year=THIS_YEAR).last_number == 2


COMMITTING = 8
ROLLING_BACK = 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_invoices_have_no_gap_and_no_duplicate(postgres):
    """GIVEN eight orders paid at the same moment, while four other transactions take
    a number and roll back WHEN every thread is done THEN the invoices are numbered
    1 to 8 exactly, whatever the interleaving."""
    from subscriptions import services

    pending = [ordered() for _ in range(COMMITTING)]
    barrier = threading.Barrier(COMMITTING + ROLLING_BACK)
    errors: list[BaseException] = []

    def pay(subscription):
        try:
            barrier.wait()
            services.subscription_activate(
                subscription=subscription,
                provider_payment_id=f"pay_{subscription.pk}",
                amount_cents=subscription.plan.price_ttc_cents,
                paid_at=timezone.now(),
            )
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            connection.close()

    def take_and_roll_back():
        try:
            barrier.wait()
            with transaction.atomic():
                number_next(series="F", year=THIS_YEAR)
                transaction.set_rollback(True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(s,)) for s in pending]
    threads += [threading.Thread(target=take_and_roll_back) for _ in range(ROLLING_BACK)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, COMMITTING + 1))
    assert DocumentCounter.objects.get(series="F", year=THIS_YEAR).last_number == COMMITTING
