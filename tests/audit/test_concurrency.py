"""Concurrent appends on PostgreSQL: one chain never forks, different chains never wait."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from audit import services
from audit.models import Chain, Event

from .factories import UserFactory
from .helpers import run_verify

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 6
APPENDS = 15


def _append_many(subject_id, count, errors, barrier=None):
    from accounts.models import User

    try:
        subject = User.objects.get(pk=subject_id) if subject_id else None
        if barrier is not None:
            barrier.wait()
        for i in range(count):
            with transaction.atomic():
                services.record(action="test.concurrent", subject=subject, data={"i": i})
    except Exception as exc:  # reported to the test thread
        errors.append(exc)
    finally:
        connection.close()


def _assert_contiguous(chain_key, expected):
    seqs = list(
        Event.objects.filter(chain_key=chain_key).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, expected + 1))
    assert Chain.objects.get(key=chain_key).length == expected
    code, output = run_verify()
    assert code == 0, output


def test_threads_appending_to_one_new_chain(postgres):
    """GIVEN a customer with no chain yet WHEN several threads append at the same moment
    (racing to create the head row too) THEN one chain with contiguous seqs, valid."""
    user = UserFactory()
    errors = []
    barrier = threading.Barrier(WRITERS)
    threads = [
        threading.Thread(target=_append_many, args=(user.pk, APPENDS, errors, barrier))
        for _ in range(WRITERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    _assert_contiguous(f"user:{user.pk}", WRITERS * APPENDS)


def _process_writer(subject_id, count, queue):
    errors = []
    _append_many(subject_id, count, errors)
    queue.put(repr(errors[0]) if errors else "")


def test_processes_appending_to_one_chain(postgres):
    user = UserFactory()
    connections.close_all()  # children must open their own connections
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(user.pk, APPENDS, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * 4
    assert [queue.get(timeout=5) for _ in procs] == [""] * 4
    _assert_contiguous(f"user:{user.pk}", 4 * APPENDS)


def test_a_held_chain_does_not_block_another_chain(postgres):
    """GIVEN a transaction that appended to chain A and has not committed (it holds A's
    head lock) WHEN another connection appends to chain B THEN it goes through at once,
    while an append to chain A would have to wait."""
    alice, bob = UserFactory(), UserFactory()
    services.record(action="test.first", subject=alice)
    services.record(action="test.first", subject=bob)
    holding = threading.Event()
    release = threading.Event()

    def hold_alice():
        try:
            with transaction.atomic():
                services.record(action="test.slow", subject=alice)
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_alice)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            event = services.record(action="test.other", subject=bob)
        assert event.seq == 2
        with pytest.raises(OperationalError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            services.record(action="test.blocked", subject=alice)
    finally:
        release.set()
        holder.join(timeout=30)
    assert Chain.objects.get(key=f"user:{alice.pk}").length == 2
    code, output = run_verify()
    assert code == 0, output
