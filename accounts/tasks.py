"""Celery entry points of the accounts app (scheduled in mynetspace/schedule.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from . import retention

logger = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.retention_apply", ignore_result=True)
def retention_apply() -> dict[str, int]:
    """Apply the retention table of docs/retention.md (daily; idempotent)."""
    report = retention.retention_apply()
    logger.info("Retention applied: %s", report.as_dict())
    return report.as_dict()
