"""Invoice and credit note PDFs: rendered by WeasyPrint from the frozen rows."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from subscriptions import services
from subscriptions.models import Invoice
from subscriptions.pdf import issued_document_pdf

from .factories import CustomerFactory, PlanFactory, activated, succeeded_refund

pytestmark = pytest.mark.django_db


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    # Keep the test independent of the kind of space the PDF uses in amounts.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def test_an_invoice_pdf_shows_number_identities_vat_and_totals(settings):
    settings.COMPANY_SIREN = "123 456 789"
    customer = CustomerFactory(first_name="Léa", last_name="Dupont")
    plan = PlanFactory(name_fr="Annuelle", price_ttc_cents=123456, interval="year")
    invoice = activated(customer=customer, plan=plan).invoices.get()

    text = pdf_text(issued_document_pdf(invoice))

    assert "Facture" in text
    assert invoice.number in text
    assert "Léa Dupont" in text
    assert "123 456 789" in text
    assert "1 234,56 €" in text  # total incl. VAT, French formatting
    assert "1 028,80 €" in text  # HT: 123456 / 1.2 = 102880
    assert "205,76 €" in text  # VAT
    assert "20 %" in text
    assert "Annuelle" in text


def test_a_credit_note_pdf_names_the_invoice_it_cancels():
    subscription = activated()
    payment = subscription.payments.get()
    note = services.credit_note_issue(refund=succeeded_refund(payment=payment, amount_cents=495))

    text = pdf_text(issued_document_pdf(note))

    assert "Avoir" in text
    assert note.number in text
    assert payment.invoice.number in text
    assert "4,95 €" in text


def test_the_pdf_comes_from_the_snapshot_not_from_todays_settings(settings):
    """GIVEN an invoice issued under one company name WHEN the setting changes later
    THEN the PDF still prints the name the invoice was issued with."""
    settings.COMPANY_NAME = "Ancienne Raison Sociale SAS"
    invoice = activated().invoices.get()
    settings.COMPANY_NAME = "Nouvelle Raison Sociale SAS"

    text = pdf_text(issued_document_pdf(invoice))

    assert "Ancienne Raison Sociale SAS" in text
    assert "Nouvelle Raison Sociale" not in text


def test_rendering_keeps_the_hash_and_runs_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = activated().invoices.get()
    invoice.refresh_from_db()
    first_hash, first_time = invoice.pdf_sha256, invoice.pdf_rendered_at
    assert len(first_hash) == 64

    again = services.issued_document_render(kind="invoice", document_id=invoice.pk)

    assert (again.pdf_sha256, again.pdf_rendered_at) == (first_hash, first_time)


def test_the_sweeper_finds_invoices_without_pdf():
    from datetime import timedelta

    from django.utils import timezone

    invoice = activated().invoices.get()  # on-commit render not run in this test
    later = timezone.now() + timedelta(seconds=1)

    assert services.issued_documents_pending_render("invoice", later, 10) == [invoice.pk]
    services.issued_document_render(kind="invoice", document_id=invoice.pk)
    assert services.issued_documents_pending_render("invoice", later, 10) == []
    assert len(Invoice.objects.get(pk=invoice.pk).pdf_sha256) == 64
