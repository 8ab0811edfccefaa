"""``/coffre/journal/``: every operation on the customer's vault, staff accesses first.

The events are those of the customer's own chain whose action starts with ``vault.``
(stores, scans, downloads, shares and their accesses, staff accesses, classification,
trash, export), in the sentences of the journal registry (accounts/journal.py). The
staff accesses are also listed apart at the top, all of them, so that none is lost
among the other operations.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts import journal
from audit.models import Event
from audit.services import chain_key_for

from .access import vault_view

#: Staff accesses listed at the top of the page (the newest).
STAFF_ACCESS_LIMIT = 100


@require_safe
@vault_view
def trail_view(request):
    page = journal.journal_page(
        user=request.user,
        kind="vault",
        before=request.GET.get("avant"),
        after=request.GET.get("apres"),
    )
    staff_events = list(
        Event.objects.filter(
            chain_key=chain_key_for(request.user), action="vault.staff_access"
        ).order_by("-seq")[:STAFF_ACCESS_LIMIT]
    )
    context = {
        "page": page,
        "staff_accesses": [(event, journal.describe(event)) for event in staff_events],
    }
    return render(request, "vault/trail.html", context)
