"""Back office for subscriptions.

Every field is read-only: evidence shows its hashes, never an editable value. Staff
act only through admin actions and small forms that call ``services.py`` (cancel a
contract, record a withdrawal received by post or email, decide a satisfaction
claim, retry a refund); each service writes its audit event, so every back-office
action is in the customer's evidence chain. Actions need the model's ``change``
permission (the Support group has it, migration ``0004``); the models themselves
are never changed through a form.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mynetspace.core.errors import DomainError

from . import services
from .exit_forms import ClaimDecisionForm, StaffReasonForm, StaffWithdrawalForm
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


def _require_perm(request, codename: str) -> None:
    if not request.user.has_perm(f"subscriptions.{codename}"):
        raise PermissionDenied


def _form_page(request, model_admin, *, title: str, form, intro: str = "", objects=(), extra=None):
    """A small admin page holding one staff form (the action's confirmation step)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "intro": intro,
        "objects": objects,
        "opts": model_admin.model._meta,
        **(extra or {}),
    }
    return TemplateResponse(request, "admin/subscriptions/staff_form.html", context)


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
    actions = ["cancel_at_period_end"]
    readonly_fields = ["staff_actions"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.record_withdrawal_view)
        return [
            path("<int:pk>/retractation/", view, name="subscriptions_subscription_withdrawal"),
            *super().get_urls(),
        ]

    @admin.display(description=_("actions de l'équipe"))
    def staff_actions(self, obj):
        if obj is None or not obj.can_become(Subscription.Status.WITHDRAWN):
            return "-"
        url = reverse("admin:subscriptions_subscription_withdrawal", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">{}</a>',
            url,
            gettext("Enregistrer une rétractation reçue par courrier ou e-mail"),
        )

    @admin.action(description=_("Résilier à la fin de la période payée (au nom du client)"))
    def cancel_at_period_end(self, request, queryset):
        _require_perm(request, "change_subscription")
        form = StaffReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for subscription in queryset:
                try:
                    services.subscription_cancel_by_staff(
                        subscription=subscription,
                        acting_user=request.user,
                        reason=form.cleaned_data["reason"],
                        meta=request.audit_meta,
                    )
                    done += 1
                except DomainError as error:
                    self.message_user(
                        request, f"{subscription.reference} : {error.message}", messages.ERROR
                    )
            if done:
                self.message_user(
                    request,
                    gettext(
                        "%(count)d contrat(s) résilié(s) ; le client reçoit l'accusé de réception."
                    )
                    % {"count": done},
                    messages.SUCCESS,
                )
            return None
        return _form_page(
            request,
            self,
            title=gettext("Résilier au nom du client"),
            form=form,
            intro=gettext(
                "Le contrat prend fin à la fin de la période payée et n'est plus renouvelé. "
                "Indiquez d'où vient la demande (appel, courrier...)."
            ),
            objects=list(queryset),
            extra={"action": "cancel_at_period_end"},
        )

    def record_withdrawal_view(self, request, pk: int):
        _require_perm(request, "change_subscription")
        subscription = get_object_or_404(Subscription.objects.select_related("customer"), pk=pk)
        form = StaffWithdrawalForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                declaration = services.withdrawal_record_by_staff(
                    subscription=subscription,
                    acting_user=request.user,
                    channel=data["channel"],
                    declared_at=data["declared_at"],
                    received_at=data["received_at"],
                    content=data["content"],
                    meta=request.audit_meta,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(
                    request,
                    gettext("Rétractation enregistrée ; à rembourser : %(amount)s.")
                    % {"amount": _euros(declaration.refund_cents)},
                    messages.SUCCESS,
                )
                return redirect("admin:subscriptions_withdrawaldeclaration_change", declaration.pk)
        deadline = subscription.withdrawal_deadline
        return _form_page(
            request,
            self,
            title=gettext("Enregistrer une rétractation (%(reference)s)")
            % {"reference": subscription.reference},
            form=form,
            intro=gettext(
                "Même effet qu'une rétractation en ligne : fin immédiate du contrat, "
                "remboursement calculé et envoyé, accusé de réception au client. "
                "Fin du délai : %(deadline)s (une déclaration envoyée avant compte)."
            )
            % {
                "deadline": timezone.localtime(deadline).strftime("%d/%m/%Y %H:%M")
                if deadline
                else "-"
            },
        )


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
    actions = ["retry"]

    @admin.display(description=_("montant"))
    def amount(self, obj):
        return _euros(obj.amount_cents)

    @admin.action(description=_("Relancer le remboursement (remboursements échoués)"))
    def retry(self, request, queryset):
        _require_perm(request, "change_refund")
        for refund in queryset:
            try:
                services.refund_retry(
                    refund=refund, acting_user=request.user, meta=request.audit_meta
                )
            except DomainError as error:
                self.message_user(request, f"{refund.pk} : {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("Remboursement n° %(id)d relancé.") % {"id": refund.pk},
                    messages.SUCCESS,
                )


class AwaitingRefundFilter(admin.SimpleListFilter):
    """Withdrawals whose refund has not succeeded yet (shown oldest first)."""

    title = _("remboursement")
    parameter_name = "remboursement"

    def lookups(self, request, model_admin):
        return [("attente", _("pas encore effectué"))]

    def queryset(self, request, queryset):
        if self.value() == "attente":
            return queryset.filter(pk__in=services.withdrawals_awaiting_refund().values("pk"))
        return queryset


@admin.register(WithdrawalDeclaration)
class WithdrawalDeclarationAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "customer", "channel", "declared_at", "refund_amount",
                    "refund_state", "refund_due_by", "recorded_by"]  # fmt: skip
    list_filter = [AwaitingRefundFilter, "channel"]
    search_fields = ["=subscription__reference", "customer__email"]
    list_select_related = ["subscription", "customer", "recorded_by", "refund"]
    ordering = ["-declared_at"]

    def get_ordering(self, request):
        # The refunds still to do are worked through oldest first (legal deadline).
        if request.GET.get(AwaitingRefundFilter.parameter_name) == "attente":
            return ["declared_at"]
        return super().get_ordering(request)

    @admin.display(description=_("à rembourser"))
    def refund_amount(self, obj):
        return _euros(obj.refund_cents)

    @admin.display(description=_("état du remboursement"))
    def refund_state(self, obj):
        refund = getattr(obj, "refund", None)
        return refund.get_status_display() if refund else "-"

    @admin.display(description=_("à rembourser avant le (L221-24)"))
    def refund_due_by(self, obj):
        refund = getattr(obj, "refund", None)
        if refund is None or refund.due_by is None:
            return "-"
        late = refund.status != Refund.Status.SUCCEEDED and refund.due_by <= timezone.now()
        text = timezone.localtime(refund.due_by).strftime("%d/%m/%Y %H:%M")
        return format_html("<strong>{} ⚠</strong>", text) if late else text


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
    readonly_fields = ["staff_actions"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decision/", view, name="subscriptions_satisfactionclaim_decide"),
            *super().get_urls(),
        ]

    @admin.display(description=_("actions de l'équipe"))
    def staff_actions(self, obj):
        if obj is None or obj.status != SatisfactionClaim.Status.REQUESTED:
            return "-"
        url = reverse("admin:subscriptions_satisfactionclaim_decide", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Décider"))

    def decide_view(self, request, pk: int):
        _require_perm(request, "change_satisfactionclaim")
        claim = get_object_or_404(
            SatisfactionClaim.objects.select_related("subscription", "payment"), pk=pk
        )
        form = ClaimDecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.satisfaction_claim_decide(
                    claim=claim,
                    acting_user=request.user,
                    accept=form.cleaned_data["decision"] == "accept",
                    reason=form.cleaned_data["reason"],
                    meta=request.audit_meta,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(
                    request, gettext("Décision enregistrée et envoyée au client."), messages.SUCCESS
                )
                return redirect("admin:subscriptions_satisfactionclaim_change", claim.pk)
        return _form_page(
            request,
            self,
            title=gettext("Décider la demande « satisfait ou remboursé » n° %(id)d")
            % {"id": claim.pk},
            form=form,
            intro=gettext(
                "Contrat %(reference)s, premier paiement de %(amount)s le %(paid)s. "
                "Motif du client : « %(reason)s »"
            )
            % {
                "reference": claim.subscription.reference,
                "amount": _euros(claim.payment.amount_cents),
                "paid": timezone.localtime(claim.payment.paid_at).strftime("%d/%m/%Y"),
                "reason": claim.reason,
            },
        )


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
