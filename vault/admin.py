"""Back office of the vault: read-only metadata, never content nor keys.

Staff see what documents exist, their size, type, SHA-256 and scan status (to follow
up a scan incident, answer a question about storage), but the admin never decrypts
a document, never shows a wrapped key, and cannot add, change or delete anything: a
document changes only through the services, with its audit event. Reading a
customer's document takes a grant the customer gives (vault/grants.py).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext as _g

from audit.admin import ReadOnlyAdmin

from .models import Document, Tag
from .scanning import scanner_configured


def _scanner_warning(request) -> None:
    if not scanner_configured():
        messages.warning(
            request,
            _g(
                "Aucun antivirus n'est configuré (CLAMD_URL) : les documents déposés sont "
                "enregistrés « non analysés ». À ne jamais laisser ainsi en production."
            ),
        )


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "owner", "doc_type", "content_type", "size", "scan_status",
                    "source", "created_at", "trashed_at", "destroyed_at"]  # fmt: skip
    list_filter = ["scan_status", "source", "doc_type", "created_at"]
    search_fields = ["=uuid", "=sha256", "=owner__email"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    # No wrapped_key, no storage_key: nothing here helps to read a document.
    fields = ["uuid", "owner", "title", "doc_type", "source", "original_name",
              "content_type", "size", "sha256", "key_version", "format_version",
              "scan_status", "scan_detail", "scan_attempts", "scanned_at", "issued_on",
              "expires_on", "created_at", "updated_at", "trashed_at",
              "destroyed_at"]  # fmt: skip

    def changelist_view(self, request, extra_context=None):
        _scanner_warning(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        _scanner_warning(request)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["=owner__email"]
    list_select_related = ["owner"]
    fields = ["owner", "name", "created_at"]
