"""Celery entry point of the export window after closure (scheduled in mynetspace/schedule.py).

Kept apart from vault/tasks.py (upload pipeline) like the other areas' task modules;
registered by the import in vault/registrations.py.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import export

logger = logging.getLogger(__name__)


@shared_task(name="vault.export_tasks.export_windows_end", ignore_result=True)
def export_windows_end() -> int:
    """End the export windows whose 12 months are over (daily; idempotent)."""
    count = export.export_windows_end_due()
    if count:
        logger.info("Vault export windows ended (crypto-shredded): %s", count)
    return count
