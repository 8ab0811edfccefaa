"""Where rendered invoices and credit notes go: the customer's vault.

The vault app owns the storage of documents; these hooks hand it the PDFs through
``vault.intake.document_deposit`` (source "service", the invoice or subscription as
origin). ``issued_document_render`` keeps the PDF's SHA-256 on the row either way,
so the copy in the vault can be checked against it.
"""

from __future__ import annotations

from audit.context import RequestMeta


def issued_document_store_in_vault(*, document, pdf: bytes, meta: RequestMeta | None = None):
    """Deposit ``pdf`` (an invoice or credit note) in the customer's vault; returns its id.

    Runs in the caller's transaction (``issued_document_render``), through the vault's
    intake (source "service", origin: this invoice or credit note). Returns ``None``
    when the vault cannot take it: a closed account whose vault keys are destroyed,
    or a refusal by the upload pipeline (logged as an error); the invoice itself and
    its PDF hash stay in this app either way.
    """
    import logging

    from django.utils.translation import gettext as _

    from mynetspace.core.errors import DomainError
    from vault.intake import document_deposit
    from vault.models import DocumentType

    if document._meta.model_name == "creditnote":
        title = _("Avoir %(number)s") % {"number": document.number}
        filename = f"avoir-{document.number}.pdf"
    else:
        title = _("Facture %(number)s") % {"number": document.number}
        filename = f"facture-{document.number}.pdf"
    try:
        deposited = document_deposit(
            owner=document.customer,
            filename=filename,
            content=pdf,
            title=title,
            doc_type=DocumentType.INVOICE,
            source_app="subscriptions",
            related=document,
            meta=meta,
        )
    except DomainError as error:
        logging.getLogger(__name__).error(
            "%s %s not deposited in the vault: %s", title, document.pk, error.code
        )
        return None
    return deposited.pk


def contract_document_store_in_vault(
    *,
    customer,
    filename: str,
    content: bytes,
    title: str,
    doc_type: str,
    subscription,
    meta: RequestMeta | None = None,
):
    """Deposit a contract document (terms, withdrawal form) in the customer's vault.

    Goes through the vault's intake (``vault.intake.document_deposit``, source
    "service") when it exists; returns the new document's id, or ``None`` while the
    vault does not accept service documents yet.
    """
    import logging

    from mynetspace.core.errors import DomainError

    try:
        from vault.intake import document_deposit
    except ImportError:
        return None
    try:
        document = document_deposit(
            owner=customer,
            filename=filename,
            content=content,
            title=title,
            doc_type=doc_type,
            source_app="subscriptions",
            related=subscription,
            meta=meta,
        )
    except DomainError as error:
        logging.getLogger(__name__).error(
            "Contract document %s of subscription %s not deposited in the vault: %s",
            filename,
            subscription.pk,
            error.code,
        )
        return None
    return document.pk


def service_documents_supported() -> bool:
    """Whether the vault accepts documents produced by the service (its intake exists)."""
    try:
        from vault.intake import document_deposit  # noqa: F401
    except ImportError:
        return False
    return True
