"""Sharing one document with a third party through a link (DESIGN §2 vault, 4°).

The owner creates a link for one clean document (:func:`share_create`); the link
holds a long random token of which only the SHA-256 is stored, an expiry of at most
:data:`MAX_DAYS` days, an optional access code (a Django password hash) and an
optional download limit. The public page ``/partage/<token>/`` works logged out.

Every access is an event on the OWNER's chain, with the visitor's IP and user agent:
``vault.share_accessed`` (the page), ``vault.share_downloaded`` (each download),
``vault.share_code_failed`` (each wrong code). After :data:`CODE_LOCK_AFTER` wrong
codes in a row the link is locked for :data:`CODE_LOCK_MINUTES` minutes; after
:data:`CODE_REVOKE_AFTER` in all it is revoked. An expired, revoked, exhausted or
unknown link, or one whose document is no longer clean or is trashed, raises the
same :class:`ShareNotFound`: the visitor cannot tell them apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.context import RequestMeta
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed

from .blobs import PlaintextStream, blob_open
from .models import Document, ScanStatus, ShareLink

#: Longest life of a link, and the default.
MAX_DAYS = 30
DEFAULT_DAYS = 7
#: Largest download limit a link may have.
MAX_DOWNLOADS = 100
#: Shortest access code the owner may choose.
CODE_MIN_LENGTH = 6
CODE_MAX_LENGTH = 64
#: Wrong codes in a row before the link is locked for a while, and in total before it is revoked.
CODE_LOCK_AFTER = 5
CODE_LOCK_MINUTES = 15
CODE_REVOKE_AFTER = 20
#: Bytes of randomness in a token (43 URL-safe characters).
TOKEN_BYTES = 32


class ShareNotFound(DomainError):
    """Unknown, expired, revoked or exhausted link: one answer for all (no oracle)."""

    def __init__(self) -> None:
        super().__init__(
            _("Ce lien de partage n'existe pas ou n'est plus valable."), "vault.share_not_found"
        )


class ShareCodeRequired(DomainError):
    def __init__(self) -> None:
        super().__init__(_("Saisissez le code d'accès."), "vault.share_code_required")


class ShareCodeWrong(DomainError):
    def __init__(self) -> None:
        super().__init__(_("Ce code d'accès est incorrect."), "vault.share_code_wrong")


class ShareLocked(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("Trop de codes erronés : réessayez dans %(minutes)d minutes.")
            % {"minutes": CODE_LOCK_MINUTES},
            "vault.share_locked",
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_shareable(document: Document) -> bool:
    """Only a clean document still in the vault (not trashed, not destroyed) is shared."""
    return (
        document.scan_status == ScanStatus.CLEAN
        and document.trashed_at is None
        and document.destroyed_at is None
    )


def _link_data(link: ShareLink) -> dict:
    return {
        "share": link.pk,
        "document": str(link.document.uuid),
        "title": link.document.title,
    }


# --- Owner side ------------------------------------------------------------------------


def share_create(
    *,
    document: Document,
    acting_user,
    days: int = DEFAULT_DAYS,
    code: str = "",
    max_downloads: int | None = None,
    meta: RequestMeta | None = None,
) -> tuple[ShareLink, str]:
    """Create a link for ``document``; returns the row and the token (shown once).

    Raises ``NotAllowed`` when ``acting_user`` is not the owner, ``InvalidState``
    (``vault.share_not_shareable``) for a document that is not clean or is trashed,
    ``DomainError`` for an expiry, code or limit out of bounds.
    """
    if not 1 <= days <= MAX_DAYS:
        raise DomainError(
            _("La durée d'un lien va de 1 à %(max)d jours.") % {"max": MAX_DAYS},
            "vault.share_days_invalid",
        )
    if code and not CODE_MIN_LENGTH <= len(code) <= CODE_MAX_LENGTH:
        raise DomainError(
            _("Le code d'accès compte de %(min)d à %(max)d caractères.")
            % {"min": CODE_MIN_LENGTH, "max": CODE_MAX_LENGTH},
            "vault.share_code_invalid",
        )
    if max_downloads is not None and not 1 <= max_downloads <= MAX_DOWNLOADS:
        raise DomainError(
            _("Le nombre de téléchargements va de 1 à %(max)d.") % {"max": MAX_DOWNLOADS},
            "vault.share_limit_invalid",
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    # Hashing a code is deliberately slow: done before the transaction opens.
    code_hash = make_password(code) if code else ""
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        if locked.owner_id != acting_user.pk:
            raise NotAllowed(_("Ce document n'est pas le vôtre."), "vault.not_owner")
        if not is_shareable(locked):
            raise InvalidState(
                _("Seul un document analysé et sain, hors de la corbeille, peut être partagé."),
                "vault.share_not_shareable",
            )
        now = timezone.now()
        link = ShareLink.objects.create(
            document=locked,
            owner_id=locked.owner_id,
            token_sha256=token_digest(token),
            code_hash=code_hash,
            expires_at=now + dt.timedelta(days=days),
            max_downloads=max_downloads,
            created_at=now,
        )
        record(
            action="vault.share_created",
            subject=acting_user,
            actor=acting_user,
            target=link,
            data={
                **_link_data(link),
                "expires_at": link.expires_at.isoformat(),
                "with_code": bool(code),
                "max_downloads": max_downloads,
            },
            meta=meta,
        )
    return link, token


def share_revoke(
    *,
    link: ShareLink,
    acting_user=None,
    reason: str = ShareLink.RevokeReason.OWNER,
    meta: RequestMeta | None = None,
) -> ShareLink:
    """End a link now. Idempotent for a link already revoked.

    ``acting_user`` must be the owner (or ``None`` for the system: closure, trash).
    """
    with transaction.atomic():
        locked = ShareLink.objects.select_for_update().select_related("document").get(pk=link.pk)
        if acting_user is not None and locked.owner_id != acting_user.pk:
            raise NotAllowed(_("Ce lien n'est pas le vôtre."), "vault.not_owner")
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.revoke_reason = reason
        locked.save(update_fields=["revoked_at", "revoke_reason"])
        record(
            action="vault.share_revoked",
            subject=locked.owner,
            actor=acting_user,
            target=locked,
            data={**_link_data(locked), "reason": str(reason)},
            meta=meta,
        )
    return locked


def share_revoke_all(*, owner, reason: str, document=None, meta: RequestMeta | None = None) -> int:
    """Revoke every link of ``owner`` still usable (of one ``document`` if given)."""
    links = ShareLink.objects.filter(
        owner=owner, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    if document is not None:
        links = links.filter(document=document)
    count = 0
    for link in links:
        share_revoke(link=link, reason=reason, meta=meta)
        count += 1
    return count


# --- Visitor side ----------------------------------------------------------------------


def _usable(link: ShareLink | None, now) -> bool:
    return (
        link is not None
        and link.state(now) == "active"
        and link.owner.is_active
        and is_shareable(link.document)
    )


def share_resolve(*, token: str) -> ShareLink:
    """The usable link for ``token``, or :class:`ShareNotFound` (whatever the reason)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise ShareNotFound()
    link = (
        ShareLink.objects.select_related("document", "owner")
        .filter(token_sha256=token_digest(token))
        .first()
    )
    if not _usable(link, timezone.now()):
        raise ShareNotFound()
    return link


def share_access_record(*, link: ShareLink, meta: RequestMeta | None = None) -> None:
    """The visitor opened the page of ``link``: ``vault.share_accessed`` on the owner's chain."""
    with transaction.atomic():
        record(
            action="vault.share_accessed",
            subject=link.owner,
            target=link,
            data=_link_data(link),
            meta=meta,
        )


def share_code_check(*, link: ShareLink, code: str, meta: RequestMeta | None = None) -> None:
    """Check the visitor's access code; raises on a wrong one (and records it).

    ``ShareLocked`` while the link is locked (the code is not even compared),
    ``ShareCodeWrong`` for a wrong code (``vault.share_code_failed``), and
    ``ShareNotFound`` once the wrong codes revoked the link.
    """
    if not link.has_code:
        return
    code = code or ""
    # Compared before the lock is taken: hashing is slow and must not hold the row.
    matches = bool(code) and len(code) <= CODE_MAX_LENGTH and check_password(code, link.code_hash)
    revoked = False
    with transaction.atomic():
        locked = (
            ShareLink.objects.select_for_update()
            .select_related("document", "owner")
            .get(pk=link.pk)
        )
        now = timezone.now()
        if not _usable(locked, now):
            raise ShareNotFound()
        if locked.locked_until is not None and locked.locked_until > now:
            raise ShareLocked()
        if matches:
            if locked.failed_codes:
                locked.failed_codes = 0
                locked.save(update_fields=["failed_codes"])
            return
        locked.failed_codes += 1
        fields = ["failed_codes"]
        if locked.failed_codes % CODE_LOCK_AFTER == 0:
            locked.locked_until = now + dt.timedelta(minutes=CODE_LOCK_MINUTES)
            fields.append("locked_until")
        locked.save(update_fields=fields)
        record(
            action="vault.share_code_failed",
            subject=locked.owner,
            target=locked,
            data={**_link_data(locked), "failures": locked.failed_codes},
            meta=meta,
        )
        revoked = locked.failed_codes >= CODE_REVOKE_AFTER
    if revoked:
        share_revoke(link=locked, reason=ShareLink.RevokeReason.TOO_MANY_CODES, meta=meta)
        raise ShareNotFound()
    raise ShareCodeWrong()


def share_download_start(*, link: ShareLink, meta: RequestMeta | None = None) -> PlaintextStream:
    """Count one download of ``link`` and return the document's verified plaintext.

    The link and the document are checked again under lock (the limit cannot be
    exceeded by parallel requests); the blob is opened inside the transaction, so a
    failure to open it (destroyed key, missing blob) counts nothing.
    """
    with transaction.atomic():
        locked = (
            ShareLink.objects.select_for_update()
            .select_related("document", "owner")
            .get(pk=link.pk)
        )
        if not _usable(locked, timezone.now()):
            raise ShareNotFound()
        locked.download_count += 1
        locked.save(update_fields=["download_count"])
        record(
            action="vault.share_downloaded",
            subject=locked.owner,
            target=locked,
            data={
                **_link_data(locked),
                "download": locked.download_count,
                "max_downloads": locked.max_downloads,
            },
            meta=meta,
        )
        stream = blob_open(document=locked.document)
    return stream


__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "ShareCodeRequired",
    "ShareCodeWrong",
    "ShareLocked",
    "ShareNotFound",
    "is_shareable",
    "share_access_record",
    "share_code_check",
    "share_create",
    "share_download_start",
    "share_resolve",
    "share_revoke",
    "share_revoke_all",
]
