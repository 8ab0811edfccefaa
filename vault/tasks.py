"""Celery entry points of the vault: load by id, call one service, retry.

``document_scan_task`` runs on the ``scan`` queue (route ``vault.tasks.*scan*`` in
settings). Every job is recomputed from database state: a document stays
``pending_scan`` until a scan decides, and the pending-work sweeper (registered in
``VaultConfig.ready``) re-enqueues it, so a lost message or an unreachable clamd
only costs a delay. The trash purge is scheduled daily in mynetspace/schedule.py.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="vault.tasks.document_scan_task", ignore_result=True)
def document_scan_task(document_id: int, rescan: bool = False) -> str:
    """Scan one document (idempotent); returns its scan status afterwards."""
    document = services.document_scan(document_id=document_id, rescan=rescan)
    return document.scan_status if document is not None else "missing"


@shared_task(name="vault.tasks.trash_purge", ignore_result=True)
def trash_purge() -> int:
    """Destroy documents trashed more than 30 days ago (daily; idempotent)."""
    count = services.trash_purge()
    if count:
        logger.info("Vault trash purge destroyed %s documents", count)
    return count
