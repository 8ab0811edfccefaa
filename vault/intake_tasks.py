"""Celery entry points of classification and expiry reminders: load by id, call one service.

Celery discovers only ``tasks.py`` modules; this one is imported by
``vault/intake_registrations.py`` (from ``VaultConfig.ready()``), which registers the
tasks in every process. Both jobs are recomputed from database state:

- ``document_classify_task``: enqueued by :func:`vault.classification.classification_enqueue`
  and by the pending-work sweeper (``vault.classification``) for documents left
  unclassified; does nothing without consent or when already done;
- ``orphan_suggestions_clear_task``: the sweeper (``vault.classification_withdrawn``)
  clears suggestions left on documents whose owner withdrew the consent;
- ``expiry_reminders_send``: daily (mynetspace/schedule.py); idempotent.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import classification, reminders

logger = logging.getLogger(__name__)


@shared_task(name="vault.intake_tasks.document_classify_task", ignore_result=True)
def document_classify_task(document_id: int) -> str:
    """Suggest a type and expiry date for one document (idempotent)."""
    document = classification.document_classify(document_id=document_id)
    if document is None:
        return "missing"
    return document.suggested_doc_type or ("done" if document.suggested_at else "skipped")


@shared_task(name="vault.intake_tasks.orphan_suggestions_clear_task", ignore_result=True)
def orphan_suggestions_clear_task(document_id: int) -> int:
    """Clear suggestions left after a consent withdrawal (idempotent)."""
    return classification.orphan_suggestions_clear(document_id=document_id)


@shared_task(name="vault.intake_tasks.expiry_reminders_send", ignore_result=True)
def expiry_reminders_send() -> int:
    """Send the expiry reminders due today (daily; idempotent)."""
    run = reminders.expiry_reminders_send()
    return run.sent
