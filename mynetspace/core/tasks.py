"""Background work that never depends on the broker alone.

A service writes the row that says what must happen (an email ``queued``, a
document ``pending_scan``...) in its transaction, then calls
:func:`enqueue_on_commit`. If the broker is down the failure is logged, not raised,
and :func:`sweep_pending_work`, run every minute by beat, re-enqueues every row that
stayed pending longer than ``PENDING_WORK_GRACE_SECONDS``. Apps declare their
pending work with :func:`register_pending_work` in ``AppConfig.ready()``.
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


def enqueue(task, *args, **kwargs) -> bool:
    """Send ``task`` to the broker now; log and return False if it cannot be reached."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # kombu/redis raise many kinds of connection errors
        logger.exception(
            "Broker unavailable: %s not enqueued; the pending-work sweeper will retry it",
            task.name,
        )
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Enqueue ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))


@dataclass(frozen=True)
class PendingWork:
    """A kind of row that stands for work still to do.

    ``find(older_than)`` returns the ids of rows still pending that were last
    touched before ``older_than``; ``task`` is enqueued with each id.
    """

    name: str
    find: Callable[[datetime], Iterable]
    task: object


_registry: dict[str, PendingWork] = {}


def register_pending_work(name: str, *, find: Callable[[datetime], Iterable], task) -> None:
    _registry[name] = PendingWork(name=name, find=find, task=task)


def pending_work_kinds() -> list[PendingWork]:
    return list(_registry.values())


def sweep(*, older_than: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Re-enqueue pending rows; returns how many of each kind were enqueued."""
    if older_than is None:
        older_than = timezone.now() - timedelta(seconds=settings.PENDING_WORK_GRACE_SECONDS)
    counts: dict[str, int] = {}
    for kind in pending_work_kinds():
        sent = 0
        for object_id in list(kind.find(older_than))[:limit]:
            if not enqueue(kind.task, object_id):
                break  # broker down: the next sweep tries again
            sent += 1
        counts[kind.name] = sent
    return counts


@shared_task(name="mynetspace.core.tasks.sweep_pending_work", ignore_result=True)
def sweep_pending_work() -> dict[str, int]:
    counts = sweep()
    if any(counts.values()):
        logger.info("Pending-work sweeper re-enqueued %s", counts)
    return counts
