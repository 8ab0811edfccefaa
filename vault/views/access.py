"""The gate of every vault page: logged in, vault activated (information accepted).

Like the terms gate of accounts, but only inside /coffre/: a customer who has not
accepted the vault information, or not its latest published version, is sent to
/coffre/activer/ with the page they asked for in ``next``.
"""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Consent
from accounts.selectors import has_accepted_current

from ..selectors import document_get_for


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


def vault_document_view(
    view=None, *, trashed: bool | None = False, include_destroyed: bool = False
):
    """Decorate a view of one document (URL argument ``pk``, its UUID).

    Anyone but the owner gets 404, checked first: an anonymous visitor, staff (who
    read documents only through a grant) and another customer cannot even learn that
    the document exists. Then the activation gate applies, and the view is called
    with the ``document`` instead of ``pk``. ``trashed`` and ``include_destroyed`` as
    in :func:`vault.selectors.document_get_for`.
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(request, pk, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                raise Http404
            document = document_get_for(
                user, pk, trashed=trashed, include_destroyed=include_destroyed
            )
            if not vault_activated(user):
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('vault:activate')}?{query}")
            return func(request, document, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
