"""Classification and intake pages: the suggestion panel, the customer's rules and
consent (/coffre/classement/), the private intake address (/coffre/adresse-de-depot/).

The document detail page shows the suggestion through a panel it includes::

    {% include "vault/classification_panel.html" with panel=classification_panel %}

with ``classification_panel`` from :func:`classification_panel` (one query: the
consent; the document's tags are expected prefetched, as ``document_get_for`` does).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from mynetspace.core.errors import DomainError

from .. import classification, intake
from ..models import ClassificationRule, DocumentType, ScanStatus
from ..selectors import document_get_for
from .access import vault_view

# --- The panel on the document page -------------------------------------------------------


class SuggestionForm(forms.Form):
    doc_type = forms.ChoiceField(
        label=gettext_lazy("Type de document"), choices=DocumentType.choices
    )
    expires_on = forms.DateField(
        label=gettext_lazy("Date d'expiration"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy("Laissez vide si le document n'expire pas."),
    )


def _suggestion_form(document, data=None) -> SuggestionForm:
    initial = {
        "doc_type": document.suggested_doc_type or document.doc_type,
        "expires_on": document.suggested_expires_on or document.expires_on,
    }
    return SuggestionForm(data, initial=initial, prefix="classification")


def classification_panel(request, document, *, form: SuggestionForm | None = None) -> dict:
    """What ``vault/classification_panel.html`` needs for ``document`` (see the module)."""
    allowed = classification.classification_allowed(request.user)
    pending = allowed and classification.has_pending_suggestion(document)
    state = "none"
    if pending:
        state = "suggestion"
    elif not allowed:
        state = "off"
    elif document.classification_confirmed_at is None and document.suggested_at is None:
        if document.scan_status == ScanStatus.PENDING_SCAN:
            state = "waiting_scan"
        elif classification.is_classifiable(document):
            state = "running"
    return {
        "state": state,
        "document": document,
        "form": form or (_suggestion_form(document) if pending else None),
        "suggested_type": (
            DocumentType(document.suggested_doc_type).label if document.suggested_doc_type else ""
        ),
        "confidence": classification.confidence_label(document.suggestion_confidence),
        "reasons": classification.reason_lines(document.suggestion_reason) if pending else [],
    }


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def suggestion_answer(request, pk):
    """The customer confirms, corrects or ignores the suggestion of one document."""
    document = document_get_for(request.user, pk)
    if request.method != "POST":
        return redirect("vault:document", pk=document.uuid)
    if request.POST.get("action") == "dismiss":
        try:
            classification.suggestion_dismiss(
                document=document, acting_user=request.user, meta=request.audit_meta
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("La suggestion est ignorée."))
        return redirect("vault:document", pk=document.uuid)
    form = _suggestion_form(document, request.POST)
    if form.is_valid():
        try:
            classification.suggestion_confirm(
                document=document,
                acting_user=request.user,
                doc_type=form.cleaned_data["doc_type"],
                expires_on=form.cleaned_data["expires_on"],
                meta=request.audit_meta,
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Le classement du document est enregistré."))
            return redirect("vault:document", pk=document.uuid)
    panel = classification_panel(request, document, form=form)
    panel["state"] = "suggestion"
    return render(
        request,
        "vault/classification_answer.html",
        {"document": document, "classification_panel": panel},
        status=400,
    )


# --- Rules and consent ----------------------------------------------------------------------


class RuleForm(forms.Form):
    pattern = forms.CharField(
        label=gettext_lazy("Mots à reconnaître"),
        max_length=classification.PATTERN_MAX,
        help_text=gettext_lazy(
            "Dans le nom du fichier ou le texte du document, sans tenir compte des "
            "majuscules ni des accents. Exemple : « Mutuelle Horizon »."
        ),
    )
    doc_type = forms.ChoiceField(
        label=gettext_lazy("Type à suggérer"), choices=DocumentType.choices
    )
    tag = forms.CharField(
        label=gettext_lazy("Étiquette à ajouter (facultatif)"),
        max_length=classification.TAG_MAX,
        required=False,
    )


class ConsentForm(forms.Form):
    accept = forms.BooleanField(label=classification.CONSENT_WORDING, required=True)


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def classification_page(request):
    """Consent to classification, and the customer's own rules."""
    rule_form = RuleForm(prefix="rule")
    consent_form = ConsentForm(prefix="consent")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "grant":
            consent_form = ConsentForm(request.POST, prefix="consent")
            if consent_form.is_valid():
                classification.classification_consent_set(
                    user=request.user,
                    granted=True,
                    wording=str(classification.CONSENT_WORDING),
                    meta=request.audit_meta,
                )
                messages.success(
                    request,
                    _("Le classement automatique est activé pour vos documents."),
                )
                return redirect("vault:classification")
            status = 400
        elif action == "withdraw":
            classification.classification_consent_set(
                user=request.user,
                granted=False,
                wording=str(classification.WITHDRAWAL_WORDING),
                meta=request.audit_meta,
            )
            messages.success(
                request,
                _(
                    "Le classement automatique est désactivé ; les suggestions non "
                    "confirmées sont effacées."
                ),
            )
            return redirect("vault:classification")
        elif action == "rule":
            rule_form = RuleForm(request.POST, prefix="rule")
            if rule_form.is_valid():
                try:
                    classification.classification_rule_create(
                        owner=request.user,
                        pattern=rule_form.cleaned_data["pattern"],
                        doc_type=rule_form.cleaned_data["doc_type"],
                        tag=rule_form.cleaned_data["tag"],
                        meta=request.audit_meta,
                    )
                except DomainError as error:
                    rule_form.add_error("pattern", error.message)
                else:
                    messages.success(request, _("Votre règle est enregistrée."))
                    return redirect("vault:classification")
            status = 400
        else:
            status = 400
    return render(
        request,
        "vault/classification.html",
        {
            "allowed": classification.classification_allowed(request.user),
            "consent_form": consent_form,
            "rule_form": rule_form,
            "rules": ClassificationRule.objects.filter(owner=request.user),
            "max_rules": classification.MAX_RULES,
        },
        status=status,
    )


@require_POST
@vault_view
def rule_delete(request, rule_id):
    rule = get_object_or_404(ClassificationRule, pk=rule_id, owner=request.user)
    try:
        classification.classification_rule_delete(
            rule=rule, acting_user=request.user, meta=request.audit_meta
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("La règle est supprimée."))
    return redirect("vault:classification")


# --- Intake address ------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def intake_page(request):
    """The customer's private address for sending documents by email."""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                intake.intake_address_create(user=request.user, meta=request.audit_meta)
                messages.success(request, _("Votre adresse de dépôt est prête."))
            elif action == "regenerate":
                intake.intake_address_regenerate(user=request.user, meta=request.audit_meta)
                messages.success(
                    request,
                    _("Voici votre nouvelle adresse. L'ancienne ne fonctionne plus."),
                )
        except DomainError as error:
            messages.error(request, error.message)
        return redirect("vault:intake")
    address = intake.intake_address_get(request.user) if intake.intake_enabled() else None
    return render(
        request,
        "vault/intake.html",
        {
            "enabled": intake.intake_enabled(),
            "address": address,
            "address_text": intake.intake_address_text(address) if address else "",
            "max_attachments": intake.MAX_ATTACHMENTS,
            "max_total_mb": intake.MAX_ATTACHMENTS_BYTES // (1024 * 1024),
        },
    )
