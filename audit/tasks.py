"""Celery entry points of the audit app: load by id, call one service, retry.

``email_send`` runs on the ``email`` queue (``CELERY_TASK_ROUTES``). Its retry count
lives in the database (``OutboundEmail.attempts``), not in Celery: a retry message
lost with the broker is recovered by the pending-work sweeper, and the limit
(``EMAIL_MAX_ATTEMPTS``) holds whichever way an attempt was started.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import emails, services

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="audit.tasks.email_send", max_retries=None, ignore_result=True)
def email_send(self, email_id: int) -> str:
    outcome = emails.email_deliver(email_id=email_id)
    if outcome.status == "retry":
        if self.request.is_eager:
            # Run in-process (no broker): retrying here would block the caller for
            # every attempt. The email stays queued for the sweeper or staff.
            return outcome.status
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="audit.tasks.checkpoint_create", ignore_result=True)
def checkpoint_create() -> int:
    """Sign a checkpoint over every chain head (scheduled in mynetspace/schedule.py)."""
    checkpoint = services.checkpoint_create(meta=None)
    logger.info("Audit checkpoint %s over %s chains", checkpoint.root_hash, checkpoint.tree_size)
    return checkpoint.pk


@shared_task(name="audit.tasks.verify_full", ignore_result=True)
def verify_full() -> int:
    """Recompute every event from its columns (``audit_verify --full``), weekly.

    The default ``audit_verify`` trusts PostgreSQL to derive each event's body; this
    run does not, so a change made below SQL (to the database files) is found too.
    Problems are logged as errors, for the operators' alerting.
    """
    from .verify import verify_all

    report = verify_all(full=True)
    if report.ok:
        logger.info("%s", report.summary())
    else:
        for problem in report.problems:
            logger.error("audit_verify --full: %s", problem)
        logger.error("%s", report.summary())
    return report.problem_count
