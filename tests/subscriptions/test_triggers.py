"""PostgreSQL refuses changes to issued documents and raw provider events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from subscriptions import services
from subscriptions.providers import simulated

from .factories import activated

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _refused(sql: str, params: list) -> None:
    with (
        pytest.raises(DatabaseError, match=r"subscriptions|append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_an_issued_invoice_cannot_be_changed_or_deleted(postgres):
    invoice = activated().invoices.get()

    _refused("UPDATE subscriptions_invoice SET total_ttc_cents = 1 WHERE id = %s", [invoice.pk])
    _refused("UPDATE subscriptions_invoice SET number = 'F-X' WHERE id = %s", [invoice.pk])
    _refused("DELETE FROM subscriptions_invoice WHERE id = %s", [invoice.pk])
    _refused("DELETE FROM subscriptions_documentcounter", [])


def test_only_the_pdf_columns_of_an_invoice_may_be_filled_in(postgres):
    invoice = activated().invoices.get()

    services.issued_document_render(kind="invoice", document_id=invoice.pk)

    invoice.refresh_from_db()
    assert len(invoice.pdf_sha256) == 64


def test_a_raw_provider_event_cannot_be_rewritten(postgres):
    parsed = simulated.event_build(type="other.type", data={})
    event, _ = services.provider_event_store(
        provider="simulated", event_id=parsed.event_id, type=parsed.type, raw_body=parsed.raw_body
    )

    _refused(
        "UPDATE subscriptions_providerevent SET raw_body = %s WHERE id = %s", [b"{}", event.pk]
    )
    _refused("UPDATE subscriptions_providerevent SET sha256 = 'x' WHERE id = %s", [event.pk])
    _refused("DELETE FROM subscriptions_providerevent WHERE id = %s", [event.pk])
    # Processing columns may change.
    processed = services.provider_event_process(event=event)
    assert processed.status == "ignored"
