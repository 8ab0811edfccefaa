"""Activation of the vault (placeholder, replaced below)."""

from django.http import HttpResponse

from .access import vault_view


@vault_view(require_activation=False)
def activate(request):
    return HttpResponse("")


@vault_view
def settings_page(request):
    return HttpResponse("")
