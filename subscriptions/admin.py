"""Back office for subscriptions: read-only for now.

Staff actions (record a withdrawal received by post, decide a satisfaction claim,
retry a refund...) will be admin actions that call ``services.py``; no form here
writes a row directly. Evidence rows show their hashes, never editable fields.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import (
    CancellationRequest,
    CreditNote,
    DocumentCounter,
    Invoice,
    Payment,
    Plan,
    ProviderEvent,
    Refund,
    SatisfactionClaim,
    Subscription,
    WithdrawalDeclaration,
)
from .money import format_eur


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _euros(cents: int | None) -> str:
    return "" if cents is None else format_eur(cents)


def _pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2))


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ["code", "name_fr", "price", "interval", "requests_per_month",
                    "vault_quota_bytes", "is_active", "display_order"]  # fmt: skip
    list_filter = ["is_active", "interval"]

    @admin.display(description=_("prix TTC"))
    def price(self, obj):
        return _euros(obj.price_ttc_cents)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["reference", "customer", "plan", "status", "express_start", "concluded_at",
                    "withdrawal_deadline", "current_period_end", "cancel_at"]  # fmt: skip
    list_filter = ["status", "plan", "provider", "express_start"]
    search_fields = ["=reference", "customer__email", "=provider_subscription_id"]
    list_select_related = ["customer", "plan"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "subscription", "customer", "kind", "status", "amount", "paid_at"]
    list_filter = ["status", "kind", "provider"]
    search_fields = ["=subscription__reference", "customer__email", "=provider_payment_id"]
    list_select_related = ["subscription", "customer"]
    ordering = ["-created_at"]

    @admin.display(description=_("montant TTC"))
    def amount(self, obj):
        return _euros(obj.amount_cents)


class IssuedDocumentAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "issued_at", "total", "pdf_state"]
    search_fields = ["=number", "customer__email"]
    list_select_related = ["customer"]
    date_hierarchy = "issued_at"
    ordering = ["-issued_at"]
    exclude = ["customer_snapshot", "company_snapshot", "lines"]
    readonly_fields = ["customer_identity", "company_mentions", "document_lines"]

    @admin.display(description=_("total TTC"))
    def total(self, obj):
        return _euros(obj.total_ttc_cents)

    @admin.display(description=_("PDF"), boolean=True)
    def pdf_state(self, obj):
        return bool(obj.pdf_sha256)

    @admin.display(description=_("identité du client"))
    def customer_identity(self, obj):
        return _pretty_json(obj.customer_snapshot)

    @admin.display(description=_("mentions légales de l'entreprise"))
    def company_mentions(self, obj):
        return _pretty_json(obj.company_snapshot)

    @admin.display(description=_("lignes"))
    def document_lines(self, obj):
        return _pretty_json(obj.lines)


@admin.register(Invoice)
class InvoiceAdmin(IssuedDocumentAdmin):
    pass


@admin.register(CreditNote)
class CreditNoteAdmin(IssuedDocumentAdmin):
    list_display = [*IssuedDocumentAdmin.list_display, "invoice"]
    list_select_related = ["customer", "invoice"]


@admin.register(DocumentCounter)
class DocumentCounterAdmin(ReadOnlyAdmin):
    list_display = ["series", "year", "last_number"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "customer", "reason", "status", "amount", "requested_at", "due_by",
                    "succeeded_at"]  # fmt: skip
    list_filter = ["status", "reason"]
    search_fields = ["=subscription__reference", "customer__email", "=provider_refund_id"]
    list_select_related = ["customer"]
    ordering = ["-requested_at"]

    @admin.display(description=_("montant"))
    def amount(self, obj):
        return _euros(obj.amount_cents)


@admin.register(WithdrawalDeclaration)
class WithdrawalDeclarationAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "customer", "channel", "declared_at", "refund_amount",
                    "recorded_by"]  # fmt: skip
    list_filter = ["channel"]
    search_fields = ["=subscription__reference", "customer__email"]
    list_select_related = ["subscription", "customer", "recorded_by"]
    ordering = ["-declared_at"]

    @admin.display(description=_("à rembourser"))
    def refund_amount(self, obj):
        return _euros(obj.refund_cents)


@admin.register(CancellationRequest)
class CancellationRequestAdmin(ReadOnlyAdmin):
    list_display = ["contract_reference", "customer", "channel", "requested_at", "effective_end"]
    list_filter = ["channel"]
    search_fields = ["=contract_reference", "customer__email"]
    list_select_related = ["customer"]
    ordering = ["-requested_at"]


@admin.register(SatisfactionClaim)
class SatisfactionClaimAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "customer", "status", "created_at", "decided_at", "decided_by"]
    list_filter = ["status"]
    search_fields = ["=subscription__reference", "customer__email"]
    list_select_related = ["subscription", "customer", "decided_by"]
    ordering = ["-created_at"]


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "provider", "type", "received_at", "status", "attempts",
                    "subscription"]  # fmt: skip
    list_filter = ["provider", "status", "type"]
    search_fields = ["=event_id", "=sha256", "=subscription__reference"]
    list_select_related = ["subscription"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    exclude = ["raw_body"]
    readonly_fields = ["body"]

    def get_queryset(self, request):
        # The raw bodies are read on the detail page only.
        return super().get_queryset(request).defer("raw_body")

    @admin.display(description=_("corps brut"))
    def body(self, obj):
        return format_html("<pre>{}</pre>", bytes(obj.raw_body).decode("utf-8", errors="replace"))
