"""Gapless sequential numbers for invoices and credit notes.

French invoicing rules (Code général des impôts, art. 242 nonies A, annexe II) ask
for a unique number in a continuous chronological sequence, without gaps, per
series. We keep one counter row per (series, year): ``F-2026-000123`` is invoice 123
of 2026, ``A-2026-000007`` credit note 7 of 2026. The year is the issue year in
Paris time.

How this holds under concurrency: :func:`number_next` must run inside the
transaction that creates the document. It locks the counter row with
``SELECT ... FOR UPDATE``, so concurrent issuers of one series queue up; the
increment commits or rolls back with the document, so a failed transaction does not
burn a number. A missing counter row is created with ``INSERT ... ON CONFLICT DO
NOTHING`` before being locked, so two first issuers of a year cannot both create it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from .models import DocumentCounter

SEQUENCE_DIGITS = 6


@dataclass(frozen=True)
class DocumentNumber:
    series: str
    year: int
    sequence: int

    @property
    def text(self) -> str:
        return f"{self.series}-{self.year}-{self.sequence:0{SEQUENCE_DIGITS}d}"


def number_next(*, series: str, year: int) -> DocumentNumber:
    """Take the next number of ``series`` for ``year`` (inside the caller's transaction)."""
    if not connection.in_atomic_block:
        raise RuntimeError("number_next must run inside the transaction that issues the document")
    with transaction.atomic(savepoint=False):
        locked = DocumentCounter.objects.select_for_update().filter(series=series, year=year)
        counter = locked.first()
        if counter is None:
            DocumentCounter.objects.bulk_create(
                [DocumentCounter(series=series, year=year, last_number=0)], ignore_conflicts=True
            )
            counter = locked.get()
        counter.last_number += 1
        counter.save(update_fields=["last_number"])
    return DocumentNumber(series=series, year=year, sequence=counter.last_number)
