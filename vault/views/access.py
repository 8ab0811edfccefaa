"""The gate of every vault page: logged in, vault activated (information accepted).

Like the terms gate of accounts, but only inside /coffre/: a customer who has not
accepted the vault information, or not its latest published version, is sent to
/coffre/activer/ with the page they asked for in ``next``.
"""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Consent
from accounts.selectors import has_accepted_current


def vault_activated(user) -> bool:
    """Whether ``user`` accepted the vault information in its current published version."""
    return has_accepted_current(user, Consent.Purpose.VAULT_INFORMATION)


def vault_view(view=None, *, require_activation: bool = True):
    """Decorate a vault view: login required, then (by default) the activation gate."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if require_activation and not vault_activated(user):
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('vault:activate')}?{query}")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
