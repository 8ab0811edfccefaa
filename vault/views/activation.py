"""Activation of the vault and its settings page.

``/coffre/activer/``: before first use, the customer reads the vault information (the
legal text ``information-coffre`` in force, rendered as on the legal pages) and
accepts it; that acceptance is a consent recorded with the version's hash
(``Consent.Purpose.VAULT_INFORMATION``). On the same page, and separately, they may
consent to server-side classification (``CLASSIFICATION``), which they can withdraw
later from ``/coffre/reglages/``. When a new version of the information is published,
every vault page sends them here again (``vault_view``).
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Consent
from guides import selectors as guide_selectors
from guides.models import LegalDocument

from ..classification import classification_consent_set
from ..forms import ActivationForm, ClassificationConsentForm
from .access import vault_activated, vault_view

KIND = LegalDocument.Kind.VAULT_INFORMATION


def _language() -> str:
    return (get_language() or guide_selectors.REFERENCE_LANGUAGE).split("-")[0]


def _safe_next(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url.startswith("/coffre/") and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def classification_granted(user) -> bool:
    return account_selectors.has_accepted_current(user, Consent.Purpose.CLASSIFICATION)


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view(require_activation=False)
def activate(request):
    user = request.user
    next_url = _safe_next(request)
    if vault_activated(user):
        return redirect(next_url or reverse("vault:documents"))
    language = _language()
    version = guide_selectors.legal_version_current(kind=KIND, language=language)
    if version is None:
        return render(request, "vault/activation_unavailable.html", status=503)
    previous = account_selectors.current_consent(user, Consent.Purpose.VAULT_INFORMATION)
    accepted_before = previous is not None and previous.granted
    # The classification question is asked once; afterwards it lives in the settings.
    ask_classification = (
        account_selectors.current_consent(user, Consent.Purpose.CLASSIFICATION) is None
    )
    form = ActivationForm(request.POST if request.method == "POST" else None)
    if not ask_classification:
        del form.fields["classification"]
    if request.method == "POST" and form.is_valid():
        shown = request.POST.get("version", "")
        if shown != str(version.version):
            # A new version was published while the page was open: show that one.
            messages.warning(
                request,
                _(
                    "L'information sur le coffre vient d'être mise à jour : "
                    "lisez la nouvelle version."
                ),
            )
            return redirect(request.get_full_path())
        content_version = account_selectors.legal_version_in_force(
            Consent.Purpose.VAULT_INFORMATION, language=language
        )
        with transaction.atomic():
            account_services.consent_record(
                user=user,
                purpose=Consent.Purpose.VAULT_INFORMATION,
                granted=True,
                content_version=content_version,
                wording=str(form.fields["accept"].label),
                meta=request.audit_meta,
            )
            if ask_classification and form.cleaned_data.get("classification"):
                classification_consent_set(
                    user=user,
                    granted=True,
                    wording=str(form.fields["classification"].label),
                    meta=request.audit_meta,
                )
        messages.success(request, _("Votre coffre est activé."))
        return redirect(next_url or reverse("vault:documents"))
    context = {
        "form": form,
        "version": version,
        "kind": KIND,
        "next_url": next_url,
        "accepted_before": accepted_before,
        "previous_version": previous.version if accepted_before else None,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "vault/activation.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def settings_page(request):
    """The vault's settings: the information accepted, classification consent."""
    user = request.user
    granted = classification_granted(user)
    form = ClassificationConsentForm(
        request.POST if request.method == "POST" else None, initial={"classification": granted}
    )
    if request.method == "POST" and form.is_valid():
        wanted = form.cleaned_data["classification"]
        if wanted != granted:
            wording = str(form.fields["classification"].label)
            classification_consent_set(
                user=user, granted=wanted, wording=wording, meta=request.audit_meta
            )
            messages.success(
                request,
                _("Classement automatique activé.")
                if wanted
                else _("Classement automatique désactivé : nous n'analyserons plus vos documents."),
            )
        return redirect("vault:settings")
    context = {
        "form": form,
        "classification": granted,
        "information": account_selectors.current_consent(user, Consent.Purpose.VAULT_INFORMATION),
        "kind": KIND,
    }
    return render(request, "vault/activation_settings.html", context)
