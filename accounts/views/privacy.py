"""Data export (``/espace/export/``) and account closure (``/espace/fermeture/``).

Both actions are POSTs behind allauth's reauthentication (password or MFA within
``ACCOUNT_REAUTHENTICATION_TIMEOUT``); the explanation pages themselves (GET) are
open to the logged-in person.
"""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from accounts import closure, exports, retention
from mynetspace.core.errors import DomainError


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@reauthentication_required(allow_get=True)
def export_view(request):
    if request.method == "POST":
        generated_at = timezone.now()
        stream = exports.account_export_start(
            user=request.user, acting_user=request.user, meta=request.audit_meta
        )
        response = StreamingHttpResponse(stream, content_type="application/zip")
        filename = exports.export_filename(generated_at=generated_at)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "accounts/export.html", {"sections": exports.export_sections()})


class ClosureConfirmForm(forms.Form):
    understood = forms.BooleanField(
        label=_(
            "J'ai compris que la fermeture est définitive et que je ne pourrai plus me connecter."
        ),
        error_messages={"required": _("Cochez cette case pour confirmer.")},
    )
    email = forms.CharField(
        label=_("Pour confirmer, saisissez l'adresse e-mail de votre compte"),
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self):
        typed = (self.cleaned_data.get("email") or "").strip()
        if typed.lower() != self.user.email.lower():
            raise forms.ValidationError(
                _("Ce n'est pas l'adresse e-mail de votre compte."), code="email_mismatch"
            )
        return typed


def _closure_context(request, form, *, refusal: DomainError | None = None) -> dict:
    return {
        "form": form,
        "blockers": closure.account_close_blockers(user=request.user),
        "refusal": refusal,
        "evidence_years": retention.EVIDENCE_YEARS,
        "invoice_years": retention.INVOICE_YEARS,
        "vault_months": retention.VAULT_EXPORT_WINDOW_MONTHS,
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@reauthentication_required(allow_get=True)
def close_view(request):
    if request.method != "POST":
        form = ClosureConfirmForm(user=request.user)
        return render(request, "accounts/closure.html", _closure_context(request, form))
    form = ClosureConfirmForm(request.POST, user=request.user)
    if not form.is_valid():
        return render(request, "accounts/closure.html", _closure_context(request, form), status=400)
    try:
        closure.account_close(user=request.user, acting_user=request.user, meta=request.audit_meta)
    except DomainError as exc:
        context = _closure_context(request, form, refusal=exc)
        return render(request, "accounts/closure.html", context, status=409)
    logout(request)
    return redirect("account_closed")


@require_safe
def closed_view(request):
    return render(request, "accounts/closure_done.html")
