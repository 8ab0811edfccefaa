"""Reads of the vault shared by views, exports and other apps.

Access rule: a customer reaches only their own documents. :func:`document_get_for`
answers 404 (``Http404``) for a document that is not the user's, whoever asks
(another customer, staff, anonymous): staff read documents only through a grant
(vault/grants.py), never through these selectors. Query counts are fixed: a page of
documents costs the same number of queries whatever its length.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from audit.models import Event
from audit.services import chain_key_for

from .models import Document, ScanStatus, Tag
from .scanning import scanner_configured

#: Documents per page of the list.
PAGE_SIZE = 25

#: Sort keys of the list: value -> ORDER BY (stable with a final tie-breaker).
SORTS = {
    "-date": ("-created_at", "-pk"),
    "date": ("created_at", "pk"),
    "title": ("title", "pk"),
    "-title": ("-title", "-pk"),
    "expiry": ("expires_on", "pk"),  # the soonest expiry first; none last (see below)
}
DEFAULT_SORT = "-date"


def _owned(user) -> QuerySet[Document]:
    if user is None or not user.is_authenticated:
        return Document.objects.none()
    return Document.objects.filter(owner=user)


def document_get_for(
    user, pk, *, trashed: bool | None = False, include_destroyed: bool = False
) -> Document:
    """The document ``pk`` (its UUID, or the UUID string) if it is ``user``'s, else 404.

    ``trashed``: False (default) only outside the trash, True only in the trash, None
    both. A destroyed document is 404 too, unless ``include_destroyed`` (its detail
    page: the trace of what was held, and why an infected file was refused). Tags are
    prefetched.
    """
    try:
        document_uuid = pk if isinstance(pk, uuid_module.UUID) else uuid_module.UUID(str(pk))
    except ValueError:
        raise Http404 from None
    queryset = _owned(user).filter(uuid=document_uuid)
    if not include_destroyed:
        queryset = queryset.filter(destroyed_at__isnull=True)
    if trashed is True:
        queryset = queryset.filter(trashed_at__isnull=False)
    elif trashed is False:
        queryset = queryset.filter(trashed_at__isnull=True)
    document = queryset.prefetch_related("tags").first()
    if document is None:
        raise Http404
    return document


@dataclass(frozen=True)
class DocumentFilters:
    """What the list shows: ``q`` searches the title and the original name."""

    q: str = ""
    doc_type: str = ""
    tag: str = ""
    sort: str = DEFAULT_SORT
    trashed: bool = False


def document_list_for(user, filters: DocumentFilters | None = None) -> QuerySet[Document]:
    """The user's documents (not destroyed), filtered and sorted; tags prefetched.

    Evaluating it costs two queries (documents, their tags) whatever their number.
    """
    filters = filters or DocumentFilters()
    queryset = _owned(user).filter(destroyed_at__isnull=True)
    if filters.trashed:
        queryset = queryset.filter(trashed_at__isnull=False)
    else:
        queryset = queryset.filter(trashed_at__isnull=True)
    q = " ".join(filters.q.split())
    if q:
        queryset = queryset.filter(Q(title__icontains=q) | Q(original_name__icontains=q))
    if filters.doc_type:
        queryset = queryset.filter(doc_type=filters.doc_type)
    if filters.tag:
        queryset = queryset.filter(tags__owner=user, tags__name__iexact=filters.tag)
    order = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    if filters.sort == "expiry":
        from django.db.models import F

        order = (F("expires_on").asc(nulls_last=True), "pk")
    return queryset.order_by(*order).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name"))
    )


def document_page_for(user, filters: DocumentFilters, page_number) -> Page:
    """One page of :func:`document_list_for` (count, documents, tags: three queries)."""
    paginator = Paginator(document_list_for(user, filters), PAGE_SIZE)
    return paginator.get_page(page_number)


def tag_list_for(user) -> list[Tag]:
    """The user's tags that label at least one of their documents, by name."""
    if user is None or not user.is_authenticated:
        return []
    return list(
        Tag.objects.filter(owner=user, documents__destroyed_at__isnull=True)
        .distinct()
        .order_by("name")
    )


def document_is_servable(document: Document) -> bool:
    """Fail closed: only a clean document (or, with no scanner configured at all, an
    unscanned one) may be downloaded, viewed or shared; never a trashed or destroyed one."""
    if document.is_destroyed or document.is_trashed:
        return False
    if document.scan_status == ScanStatus.CLEAN:
        return True
    return document.scan_status == ScanStatus.UNSCANNED and not scanner_configured()


def document_trail(document: Document, *, limit: int = 200) -> list[Event]:
    """The events about ``document`` in its owner's chain, oldest first (one query).

    An event belongs to the document when it targets it, or names its UUID in
    ``data["document"]`` (shares, grants and other engines recording on related rows).
    """
    return list(
        Event.objects.filter(chain_key=chain_key_for(document.owner))
        .filter(
            Q(target_type="vault.document", target_id=str(document.pk))
            | Q(data__document=str(document.uuid))
        )
        .order_by("seq")[:limit]
    )


@dataclass(frozen=True)
class VaultUsage:
    documents: int
    used_bytes: int
    quota_bytes: int

    @property
    def percent(self) -> int:
        if self.quota_bytes <= 0:
            return 100 if self.used_bytes else 0
        return min(100, round(100 * self.used_bytes / self.quota_bytes))


def vault_usage_for(user) -> VaultUsage:
    """Active documents, bytes held (trash included) and the quota."""
    from django.db.models import Count, Sum

    from .quota import quota_bytes_for

    totals = (
        _owned(user)
        .filter(destroyed_at__isnull=True)
        .aggregate(documents=Count("pk", filter=Q(trashed_at__isnull=True)), used=Sum("size"))
    )
    return VaultUsage(
        documents=totals["documents"] or 0,
        used_bytes=int(totals["used"] or 0),
        quota_bytes=quota_bytes_for(user),
    )
