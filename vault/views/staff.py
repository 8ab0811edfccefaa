"""The staff's reading view: a customer's document, only through an active grant.

Paths under /coffre/equipe/ (outside /admin/, so this module enforces what the admin
middleware does there): a staff member, active, with a second factor enrolled and
used in this session. Anyone else (customer, anonymous) gets 404: the pages do not
reveal that they exist. A grant that is not active now, not meant for this staff
member, or that does not name the document gives 404 too (vault/grants.py). Every
reading is recorded on the customer's chain (``vault.staff_access``).
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import quote

from allauth.mfa.utils import is_mfa_enabled
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_safe

from accounts.middleware import STRONG_TYPES, session_used_mfa

from .. import crypto, grants, keys
from ..blobs import DocumentDestroyed
from .documents import INLINE_TYPES
from .sharing import file_response

logger = logging.getLogger(__name__)


def staff_view(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_staff and user.is_active):
            raise Http404
        if not is_mfa_enabled(user, STRONG_TYPES):
            return redirect("mfa_activate_totp")
        if not session_used_mfa(request, user):
            return redirect(
                f"{reverse('mfa_reauthenticate')}?next={quote(request.get_full_path())}"
            )
        return view(request, *args, **kwargs)

    return wrapper


@require_safe
@staff_view
def staff_grants(request):
    items = list(grants.grants_usable_by(request.user).prefetch_related("documents"))
    return render(request, "vault/grant_staff_list.html", {"grants": items})


@require_safe
@staff_view
def staff_grant(request, grant_id):
    try:
        grant = grants.grant_get_for_staff(staff=request.user, grant_id=grant_id)
    except grants.GrantNotFound:
        raise Http404 from None
    documents = grant.documents.filter(
        scan_status="clean", trashed_at__isnull=True, destroyed_at__isnull=True
    ).order_by("title", "pk")
    return render(
        request, "vault/grant_staff_detail.html", {"grant": grant, "documents": documents}
    )


@require_GET
@staff_view
def staff_document(request, grant_id, document_uuid):
    try:
        document, stream = grants.staff_document_open(
            staff=request.user,
            grant_id=grant_id,
            document_uuid=document_uuid,
            meta=request.audit_meta,
        )
    except grants.GrantNotFound:
        raise Http404 from None
    except (keys.KeyDestroyed, keys.KeyVersionGone, DocumentDestroyed, crypto.BlobIntegrityError):
        logger.warning("staff access to %s: document unreadable", document_uuid, exc_info=True)
        raise Http404 from None
    return file_response(stream, document, inline=document.content_type in INLINE_TYPES)
