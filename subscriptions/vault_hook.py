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
