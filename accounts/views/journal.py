"""``/journal/``: the customer's own trail, newest first, with the state of its chain."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts import journal


@require_safe
@login_required
def journal_view(request):
    known = dict(journal.kinds())
    kind = request.GET.get("type", "")
    if kind and kind not in known:
        messages.warning(
            request, _("Ce type d'événement n'existe pas : tous les événements sont affichés.")
        )
        kind = ""
    page = journal.journal_page(
        user=request.user,
        kind=kind,
        before=request.GET.get("avant"),
        after=request.GET.get("apres"),
    )
    status = journal.chain_verify_incremental(user=request.user)
    context = {
        "page": page,
        "status": status,
        # A tuple, so that the filter is rendered once per language and kind.
        "kinds": tuple(known.items()),
        "kind": kind,
        "kind_label": known.get(kind, ""),
    }
    return render(request, "accounts/journal.html", context)
