"""Background work that never depends on the broker alone.

A service writes the row that says what must happen (an email ``queued``, a
document ``pending_scan``...) in its transaction, then calls
:func:`enqueue_on_commit`. If the broker is down the failure is logged, not raised:
the request that did the work still succeeds. :func:`sweep_pending_work`, run every
minute by beat (``mynetspace/schedule.py``), re-enqueues every row that stayed
pending longer than ``PENDING_WORK_GRACE_SECONDS``. So a lost message costs a delay,
never data.

Apps declare their pending work in ``AppConfig.ready()``::

    register_pending_work(
        "vault.document_scan",
        find=pending_scan_ids,   # (older_than, limit) -> ids still pending
        task=document_scan,      # enqueued with each id
    )

The task must be idempotent: the sweeper may enqueue an id whose first message is
still in the queue, so the task locks its row and does nothing unless it is still
pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

#: Most ids one kind of pending work re-enqueues per sweep.
SWEEP_LIMIT = 500


def enqueue(task, *args, **kwargs) -> bool:
    """Send ``task`` to the broker now; log and return False if it cannot be reached.

    With the production settings a stopped broker fails in milliseconds and an
    unresponsive one within the socket timeout (``CELERY_BROKER_TRANSPORT_OPTIONS``):
    publishing never retries, because the database row is the durable record and the
    sweeper will enqueue it again.
    """
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception as exc:  # kombu and redis-py raise many kinds of connection errors
        logger.error(
            "Broker unavailable, %s%r not enqueued (the pending-work sweeper will retry): %s: %s",
            task.name,
            args,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Enqueue ``task`` once the current transaction commits (at once outside one).

    If the transaction rolls back, nothing is enqueued: the task never sees a row
    that does not exist.
    """
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))


@dataclass(frozen=True)
class PendingWork:
    """A kind of row that stands for work still to do.

    ``find(older_than, limit)`` returns at most ``limit`` ids of rows still pending
    that were last touched before ``older_than``, oldest first; ``task`` is enqueued
    with each id. ``on_enqueued(ids)``, if given, is called with the ids that were
    enqueued, so that the kind can mark them (for instance bump a timestamp) and
    not be re-enqueued at every sweep while a worker is busy or down.
    """

    name: str
    find: Callable[[datetime, int], Iterable]
    task: object
    on_enqueued: Callable[[list], None] | None = None


_registry: dict[str, PendingWork] = {}


def register_pending_work(
    name: str,
    *,
    find: Callable[[datetime, int], Iterable],
    task,
    on_enqueued: Callable[[list], None] | None = None,
) -> None:
    """Declare a kind of pending work (call from ``AppConfig.ready()``; idempotent)."""
    _registry[name] = PendingWork(name=name, find=find, task=task, on_enqueued=on_enqueued)


def unregister_pending_work(name: str) -> None:
    _registry.pop(name, None)


def pending_work_kinds() -> list[PendingWork]:
    return list(_registry.values())


def sweep(*, older_than: datetime | None = None, limit: int = SWEEP_LIMIT) -> dict[str, int]:
    """Re-enqueue pending rows; returns how many of each kind were enqueued.

    Stops at the first publishing failure (the broker is down: every other publish
    would fail too, each after its timeout); the next sweep starts again. A kind
    whose query fails is logged and skipped, so one broken app does not stop the
    others.
    """
    if older_than is None:
        older_than = timezone.now() - timedelta(seconds=settings.PENDING_WORK_GRACE_SECONDS)
    counts: dict[str, int] = {}
    for kind in pending_work_kinds():
        try:
            ids = list(kind.find(older_than, limit))[:limit]
        except Exception:
            logger.exception("Pending-work sweeper: listing %s failed", kind.name)
            continue
        enqueued = []
        broker_down = False
        for object_id in ids:
            if not enqueue(kind.task, object_id):
                broker_down = True
                break
            enqueued.append(object_id)
        if enqueued and kind.on_enqueued is not None:
            try:
                kind.on_enqueued(enqueued)
            except Exception:
                logger.exception("Pending-work sweeper: marking %s failed", kind.name)
        counts[kind.name] = len(enqueued)
        if broker_down:
            break
    return counts


@shared_task(name="mynetspace.core.tasks.sweep_pending_work", ignore_result=True)
def sweep_pending_work() -> dict[str, int]:
    counts = sweep()
    if any(counts.values()):
        logger.info("Pending-work sweeper re-enqueued %s", counts)
    return counts
