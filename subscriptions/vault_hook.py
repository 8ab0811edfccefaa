"""Where rendered invoices and credit notes go: the customer's vault.

The vault app owns the storage of documents. Until it exposes its service for
documents produced by the service, this hook stores nothing and returns ``None``;
``issued_document_render`` keeps the PDF's SHA-256 on the row either way, so the
copy deposited later can be checked against it.

To fill in (vault): call the vault's "store a service-produced document" service
with ``owner=document.customer``, the bytes, a title such as "Facture
F-2026-000123", type "facture", source "service", in the caller's transaction, and
return the new document's primary key.
"""

from __future__ import annotations

from audit.context import RequestMeta


def issued_document_store_in_vault(*, document, pdf: bytes, meta: RequestMeta | None = None):
    """Deposit ``pdf`` (an invoice or credit note) in the customer's vault; returns its id.

    Returns ``None`` while the vault does not accept service documents yet.
    """
    del document, pdf, meta  # used once the vault accepts service documents


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
