"""Celery entry points of subscriptions: load by id, call one service, retry.

PDF rendering runs on the ``default`` queue (no route needed). Each task is idempotent: the service
locks the row and does nothing when the PDF is already there, so the sweeper (see
``apps.py``) may enqueue an id twice without harm.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(
    bind=True,
    name="subscriptions.tasks.invoice_pdf_render",
    max_retries=5,
    ignore_result=True,
)
def invoice_pdf_render(self, invoice_id: int) -> str:
    try:
        document = services.issued_document_render(kind="invoice", document_id=invoice_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    return document.pdf_sha256


@shared_task(
    bind=True,
    name="subscriptions.tasks.credit_note_pdf_render",
    max_retries=5,
    ignore_result=True,
)
def credit_note_pdf_render(self, credit_note_id: int) -> str:
    try:
        document = services.issued_document_render(kind="credit_note", document_id=credit_note_id)
    except Exception as exc:
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    return document.pdf_sha256
