"""Read-only back office views of the evidence: nothing here can add, change or delete.

Staff with the "view" permission can browse and search; the raw bytes of emails are
never loaded in the lists (size and hash only), the detail page shows the decoded
message.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json

from django.contrib import admin
from django.db.models.functions import Length
from django.utils.html import format_html
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from . import signing
from .hashing import content_hash, format_timestamp
from .models import Chain, Checkpoint, ContentVersion, Event, InboundEmail, OutboundEmail


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None
    show_full_result_count = False  # counting a large log on every page is slow

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields] if self.fields else super().get_readonly_fields(request, obj)


def _short(value: str) -> str:
    return f"{value[:12]}…" if value else ""


def _pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2))


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["chain_key", "seq", "occurred_at", "action", "actor_type", "actor",
                    "target", "short_hash"]  # fmt: skip
    list_filter = ["actor_type", "occurred_at"]
    search_fields = ["=chain_key", "action", "=target_id", "=request_id", "=hash", "=ip"]
    date_hierarchy = "occurred_at"
    list_select_related = ["actor"]
    ordering = ["-id"]
    fields = ["chain_key", "seq", "occurred_at", "actor_type", "actor", "on_behalf_of", "action",
              "target_type", "target_id", "pretty_data", "ip", "user_agent", "request_id",
              "prev_hash", "hash"]  # fmt: skip

    @admin.display(description=_("cible"))
    def target(self, obj):
        return f"{obj.target_type} {obj.target_id}".strip()

    @admin.display(description=_("empreinte"))
    def short_hash(self, obj):
        return _short(obj.hash)

    @admin.display(description=_("données"))
    def pretty_data(self, obj):
        return _pretty_json(obj.data)


@admin.register(Chain)
class ChainAdmin(ReadOnlyAdmin):
    list_display = ["key", "length", "head_hash", "updated_at"]
    search_fields = ["=key"]
    ordering = ["key"]
    fields = ["key", "length", "head_hash", "updated_at"]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tree_size", "root_hash", "key_id", "signature_valid"]
    list_filter = ["key_id", "created_at"]
    search_fields = ["=root_hash"]
    date_hierarchy = "created_at"
    fields = ["created_at", "tree_size", "root_hash", "key_id", "public_key", "signature",
              "signature_valid", "pretty_heads"]  # fmt: skip

    @admin.display(description=_("signature valide"), boolean=True)
    def signature_valid(self, obj):
        message = signing.checkpoint_message(
            created_at=format_timestamp(obj.created_at),
            tree_size=obj.tree_size,
            root_hash=obj.root_hash,
            key_id=obj.key_id,
        )
        trusted = signing.trusted_public_keys().get(obj.key_id)
        return trusted == obj.public_key and signing.verify(obj.public_key, obj.signature, message)

    @admin.display(description=_("têtes de chaînes"))
    def pretty_heads(self, obj):
        return _pretty_json(obj.heads)


class RawEmailAdmin(ReadOnlyAdmin):
    """Lists never load ``raw``: its size is computed by the database."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request).annotate(raw_size=Length("raw"))
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("raw")
        return queryset

    @admin.display(description=_("taille (octets)"), ordering="raw_size")
    def size(self, obj):
        return obj.raw_size

    @admin.display(description=_("SHA-256"))
    def short_sha256(self, obj):
        return _short(obj.sha256)

    @admin.display(description=_("empreinte vérifiée"), boolean=True)
    def hash_ok(self, obj):
        return hashlib.sha256(bytes(obj.raw)).hexdigest() == obj.sha256

    @admin.display(description=_("message décodé"))
    def decoded(self, obj):
        message = email.message_from_bytes(bytes(obj.raw), policy=email.policy.default)
        headers = "\n".join(f"{name}: {value}" for name, value in message.items())
        parts = []
        for part in message.walk():
            if part.get_content_maintype() == "text":
                try:
                    parts.append(f"--- {part.get_content_type()} ---\n{part.get_content()}")
                except (LookupError, UnicodeDecodeError):
                    parts.append(f"--- {part.get_content_type()} ({_g('illisible')}) ---")
            elif not part.is_multipart():
                name = part.get_filename() or ""
                parts.append(f"--- {part.get_content_type()} {name} ({_g('pièce jointe')}) ---")
        return format_html("<pre>{}\n\n{}</pre>", headers, "\n\n".join(parts))


@admin.register(OutboundEmail)
class OutboundEmailAdmin(RawEmailAdmin):
    list_display = ["created_at", "subject", "recipients", "template", "status", "attempts",
                    "size", "short_sha256", "customer"]  # fmt: skip
    list_filter = ["status", "template", "created_at"]
    search_fields = ["subject", "=message_id", "=customer__email", "=related_id"]
    date_hierarchy = "created_at"
    list_select_related = ["customer"]
    fields = ["created_at", "updated_at", "customer", "related_type", "related_id", "template",
              "from_email", "to", "subject", "message_id", "status", "attempts", "last_error",
              "sent_at", "size", "sha256", "hash_ok", "decoded"]  # fmt: skip

    @admin.display(description=_("destinataires"))
    def recipients(self, obj):
        return ", ".join(obj.to)


@admin.register(InboundEmail)
class InboundEmailAdmin(RawEmailAdmin):
    list_display = ["received_at", "subject", "from_email", "envelope_to", "size",
                    "short_sha256", "customer"]  # fmt: skip
    search_fields = ["subject", "=from_email", "=message_id", "=customer__email"]
    list_filter = ["received_at"]
    date_hierarchy = "received_at"
    list_select_related = ["customer"]
    fields = ["received_at", "customer", "related_type", "related_id", "envelope_to",
              "from_email", "subject", "message_id", "size", "sha256", "hash_ok",
              "decoded"]  # fmt: skip


@admin.register(ContentVersion)
class ContentVersionAdmin(ReadOnlyAdmin):
    list_display = ["key", "language", "version", "title", "published_at", "published_by",
                    "short_sha256"]  # fmt: skip
    list_filter = ["language", "key"]
    search_fields = ["key", "title"]
    list_select_related = ["published_by"]
    fields = ["key", "language", "version", "title", "summary", "body", "published_at",
              "published_by", "sha256", "hash_ok"]  # fmt: skip

    @admin.display(description=_("SHA-256"))
    def short_sha256(self, obj):
        return _short(obj.sha256)

    @admin.display(description=_("empreinte vérifiée"), boolean=True)
    def hash_ok(self, obj):
        return content_hash(obj) == obj.sha256
