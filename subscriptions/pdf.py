"""Invoice and credit note PDFs, rendered by WeasyPrint from the frozen row.

Everything printed comes from the row's snapshots (company mentions, customer
identity, lines, totals), never from today's settings or profile, so a PDF rendered
again years later says what the issued document said. Invoices are in French (the
language of the document that the tax rules require), whatever the customer's
language.
"""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import translation

from . import deadlines
from .models import CreditNote, IssuedDocument
from .money import format_eur, format_rate

TEMPLATE = "subscriptions/invoice_pdf.html"
STYLESHEET = "subscriptions/invoice-print.css"


def _day(moment) -> str:
    return deadlines.local_date(moment).strftime("%d/%m/%Y") if moment else ""


def issued_document_context(document: IssuedDocument) -> dict:
    is_credit_note = isinstance(document, CreditNote)
    lines = [
        {
            "label": line["label"],
            "quantity": line["quantity"],
            "unit_ttc": format_eur(line["unit_ttc_cents"]),
            "vat_rate": format_rate(line["vat_rate_bp"]),
            "total_ht": format_eur(line["total_ht_cents"]),
            "total_vat": format_eur(line["total_vat_cents"]),
            "total_ttc": format_eur(line["total_ttc_cents"]),
        }
        for line in document.lines
    ]
    context = {
        "document": document,
        "is_credit_note": is_credit_note,
        "issued_on": _day(document.issued_at),
        "company": document.company_snapshot,
        "customer": document.customer_snapshot,
        "lines": lines,
        "total_ht": format_eur(document.total_ht_cents),
        "total_vat": format_eur(document.total_vat_cents),
        "total_ttc": format_eur(document.total_ttc_cents),
    }
    if is_credit_note:
        context["invoice_number"] = document.invoice.number
        context["invoice_issued_on"] = _day(document.invoice.issued_at)
    else:
        context["paid_on"] = _day(document.payment.paid_at)
        context["subscription_reference"] = document.subscription.reference
    return context


def issued_document_html(document: IssuedDocument) -> str:
    with translation.override("fr"):
        return render_to_string(TEMPLATE, issued_document_context(document))


def issued_document_pdf(document: IssuedDocument) -> bytes:
    """The PDF bytes of an invoice or credit note."""
    from weasyprint import CSS, HTML  # heavy import, only where PDFs are made

    stylesheet = finders.find(STYLESHEET)
    if stylesheet is None:
        raise RuntimeError(f"stylesheet {STYLESHEET} not found")
    html = HTML(string=issued_document_html(document))
    return html.write_pdf(stylesheets=[CSS(filename=stylesheet)])


# --- Contract documents: the terms and the withdrawal form --------------------------

LEGAL_TEMPLATE = "subscriptions/legal_text_pdf.html"
LEGAL_STYLESHEET = "subscriptions/legal-print.css"


def legal_text_html(version, *, company: dict) -> str:
    """The HTML of a published legal text version (an ``audit.ContentVersion``)."""
    from guides.rendering import render_markdown

    with translation.override(version.language or "fr"):
        return render_to_string(
            LEGAL_TEMPLATE,
            {
                "version": version,
                "published_on": _day(version.published_at),
                "body": render_markdown(version.body),
                "company": company,
            },
        )


def legal_text_pdf(version, *, company: dict) -> bytes:
    """The PDF of a published legal text version, exactly its published body.

    Used for the terms the customer accepted and the withdrawal form sent with the
    contract confirmation (L221-13); the footer names the version and its SHA-256,
    so the printed text can be matched with the published one.
    """
    from weasyprint import CSS, HTML

    stylesheet = finders.find(LEGAL_STYLESHEET)
    if stylesheet is None:
        raise RuntimeError(f"stylesheet {LEGAL_STYLESHEET} not found")
    html = HTML(string=legal_text_html(version, company=company))
    return html.write_pdf(stylesheets=[CSS(filename=stylesheet)])
