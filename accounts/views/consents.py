"""``/espace/conditions/``: accepting the new version of the terms, and past acceptances.

The re-acceptance gate (``accounts.consent_middleware``) sends customers here with
``?next=<page>``. For each text with a new version the page shows what changed since
the version the person accepted (the summaries given at publication and the
word-by-word comparison, as on the public comparison pages), then one box per text.
With nothing to accept, it lists what the person accepted and when.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import dashboard, selectors, services
from accounts.forms import TermsReacceptForm
from guides import selectors as guide_selectors
from guides.diff import TextDiff, diff_texts
from guides.models import LegalDocument


@dataclass(frozen=True)
class TextChange:
    """What changed in one text between the version accepted and the one in force."""

    purpose: str
    kind: str
    label: str
    accepted_version: int | None
    current: guide_selectors.LegalVersion | None
    summaries: list[guide_selectors.LegalVersion]
    title_diff: TextDiff | None = None
    body_diff: TextDiff | None = None
    is_fallback: bool = False


def _language() -> str:
    return (get_language() or guide_selectors.REFERENCE_LANGUAGE).split("-")[0]


def _safe_next(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _text_change(status: selectors.AcceptanceStatus, language: str) -> TextChange:
    kind = selectors.DOCUMENT_KIND_BY_PURPOSE[status.purpose]
    versions = guide_selectors.legal_version_list(kind=kind, language=language)
    accepted = status.accepted_version
    summaries = [v for v in versions if accepted is None or v.version > accepted]
    change = TextChange(
        purpose=status.purpose,
        kind=kind,
        label=str(LegalDocument.Kind(kind).label),
        accepted_version=accepted,
        current=versions[0] if versions else None,
        summaries=summaries,
    )
    if accepted is None or not versions or accepted >= versions[0].version:
        return change
    older, newer = guide_selectors.legal_version_pair(
        kind=kind, older=accepted, newer=versions[0].version, language=language
    )
    if older is None or newer is None:
        return change
    return replace(
        change,
        title_diff=diff_texts(older.title, newer.title) if older.title != newer.title else None,
        body_diff=diff_texts(older.body, newer.body),
        is_fallback=newer.is_fallback,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def consents_view(request):
    user = request.user
    next_url = _safe_next(request)
    pending = [status for status in selectors.acceptance_status(user) if status.pending]
    if not pending:
        if request.method == "POST" and next_url:
            return redirect(next_url)
        context = {
            "consents": selectors.consent_list(user),
            "next_url": next_url,
        }
        return render(request, "accounts/consents.html", context)

    form = TermsReacceptForm(
        request.POST if request.method == "POST" else None,
        purposes=[status.purpose for status in pending],
    )
    if request.method == "POST" and form.is_valid():
        services.terms_accept(user=user, acceptances=form.acceptances(), meta=request.audit_meta)
        messages.success(request, _("Merci : votre acceptation est enregistrée."))
        return redirect(next_url or reverse("dashboard"))
    language = _language()
    context = {
        "form": form,
        "changes": [_text_change(status, language) for status in pending],
        "next_url": next_url,
        "export_url": dashboard.url_or_empty("account_export"),
        "closure_url": dashboard.url_or_empty("account_close"),
    }
    status_code = 400 if request.method == "POST" else 200
    return render(request, "accounts/consents_review.html", context, status=status_code)
