"""Export of the whole vault (/coffre/export/) and retrieval after closure.

``/coffre/export/``: the explanation page, then a POST that streams the ZIP; both
behind allauth's reauthentication (like the account data export). Free, unlimited.

``/coffre/recuperation/<token>/``: for a former customer during the export window
after closure (vault/export.py): the link from the closure email plus the former
password. An unknown or ended window gives the same 404 page.
"""

from __future__ import annotations

import logging

from allauth.account.decorators import reauthentication_required
from django import forms
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from mynetspace.core.errors import DomainError

from .. import export, keys
from ..models import Document
from .access import vault_view

logger = logging.getLogger(__name__)


def _zip_response(generated_at, stream) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="application/zip")
    filename = export.export_filename(generated_at=generated_at)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
@reauthentication_required(allow_get=True)
def export_view(request):
    if request.method == "POST":
        try:
            generated_at, stream = export.vault_export_start(
                user=request.user, acting_user=request.user, meta=request.audit_meta
            )
        except keys.KeyDestroyed as exc:
            return render(request, "vault/export.html", {"error": exc.message}, status=409)
        return _zip_response(generated_at, stream)
    documents = Document.objects.filter(owner=request.user).not_destroyed()
    context = {
        "count": documents.count(),
        "total_size": sum(documents.values_list("size", flat=True)),
        "months": export.window_months(),
    }
    return render(request, "vault/export.html", context)


class RetrievalForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Le mot de passe de votre ancien compte"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    action = forms.ChoiceField(
        choices=[("export", "export"), ("destroy", "destroy")],
        widget=forms.HiddenInput,
        initial="export",
    )
    understood = forms.BooleanField(
        required=False,
        label=gettext_lazy(
            "Je comprends que mes documents seront détruits tout de suite et définitivement."
        ),
    )


def _retrieval_page(request, context, status=200):
    response = render(request, "vault/export_retrieval.html", context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def retrieval_view(request, token):
    try:
        window = export.export_window_resolve(token=token)
    except export.WindowNotFound:
        response = render(request, "vault/export_retrieval_gone.html", status=404)
        response["Referrer-Policy"] = "same-origin"
        return response
    form = RetrievalForm(request.POST or None)
    context = {"window": window, "form": form, "ended": False}
    if request.method != "POST":
        return _retrieval_page(request, context)
    if not form.is_valid():
        return _retrieval_page(request, context, status=400)
    try:
        export.export_window_check_password(
            window=window, password=form.cleaned_data["password"], meta=request.audit_meta
        )
    except export.WindowNotFound:
        response = render(request, "vault/export_retrieval_gone.html", status=404)
        return response
    except DomainError as exc:
        form.add_error("password", exc.message)
        return _retrieval_page(request, context, status=403)
    if form.cleaned_data["action"] == "destroy":
        if not form.cleaned_data["understood"]:
            form.add_error("understood", gettext_lazy("Cochez cette case pour confirmer."))
            return _retrieval_page(request, context, status=400)
        export.export_window_end(window=window, reason="customer_request", meta=request.audit_meta)
        context["ended"] = True
        return _retrieval_page(request, context)
    generated_at, stream = export.export_window_export_start(window=window, meta=request.audit_meta)
    return _zip_response(generated_at, stream)
