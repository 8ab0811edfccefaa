"""The re-acceptance gate: a customer accepts the new terms before going on.

When a new version of the terms or the privacy policy is published, a logged-in
customer (staff are never gated) is sent to ``/espace/conditions/?next=<page>`` from
every page except those that must stay reachable without accepting: the acceptance
page itself, logging out and reauthenticating, the legal texts with their history
and comparisons, the cancellation of the contract (``/resilier/``, reachable from
every page by law), the withdrawal within 14 days (``/retractation/``), leaving
with one's data (export, account closure), the language switch, health checks and
static files.

Cost: nothing for anonymous visitors, staff and allowed pages; otherwise one indexed
query per request (``selectors.acceptance_status``), always fresh, so a publication
takes effect on the next page and an acceptance immediately.

It works in ``process_view`` so that the URL is resolved once, by Django.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from . import selectors

#: Path prefixes never gated (checked before anything is loaded).
ALLOWED_PREFIXES: tuple[str, ...] = (
    "/i18n/",
    "/healthz",
    "/favicon.ico",
    "/resilier/",
)
#: URL names (``namespace:name`` where namespaced) never gated.
ALLOWED_VIEW_NAMES: frozenset[str] = frozenset(
    {
        "consents",
        "cancel",
        # Withdrawal within 14 days is a legal right: new terms cannot stand in its way.
        "withdraw",
        "withdrawal_declaration",
        "account_logout",
        "account_reauthenticate",
        "mfa_reauthenticate",
        "account_export",
        "account_close",
        "account_closed",
        "guides:legal_current",
        "guides:legal_history",
        "guides:legal_version",
        "guides:legal_diff",
    }
)


def _static_prefixes() -> tuple[str, ...]:
    return tuple(p for p in (settings.STATIC_URL, settings.MEDIA_URL) if p and p != "/")


class ConsentGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.allowed_prefixes = ALLOWED_PREFIXES + _static_prefixes()

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(self.allowed_prefixes):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in ALLOWED_VIEW_NAMES:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_staff:
            return None
        if not any(status.pending for status in selectors.acceptance_status(user)):
            return None
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('consents')}?{query}")
