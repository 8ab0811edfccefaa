"""The admin login goes through allauth's login (same rate limits, same MFA)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def admin_login(request):
    """``/admin/login/?next=...`` -> the allauth login page with the same ``next``.

    A logged-in customer who is not staff gets a 403: sending them back to the login
    page, which would send them back to the admin, would loop.
    """
    if request.user.is_authenticated and not request.user.is_staff:
        raise PermissionDenied
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': target or '/admin/'})}")
