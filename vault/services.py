"""Vault state changes. Each runs in one transaction and writes its audit event there.

This module holds the key services (user keys, rotation, crypto-shredding); the
upload pipeline, sharing and export services build on them and on vault/blobs.py.
Key material only ever lives in local variables; rows hold wrapped keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.context import RequestMeta
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState
from mynetspace.core.tasks import enqueue_on_commit

from . import keys
from .filenames import clean_filename
from .models import Document, DocumentSource, DocumentType, ScanStatus, UserKey
from .quota import quota_bytes_for, usage_bytes_for
from .scanning import scanner_configured
from .sniffing import ContentCheck, FileType, check_size, file_too_large

if TYPE_CHECKING:
    from .blobs import BlobInfo

logger = logging.getLogger(__name__)


def user_key_get_or_create(*, user) -> UserKey:
    """The customer's live vault key, created (and recorded) on first use.

    Raises :class:`keys.KeyDestroyed` once the key was destroyed: a closed account
    gets no new key. Safe under concurrency: a losing creator reads the winner's row.
    """
    existing = UserKey.objects.filter(user=user).first()
    if existing is None:
        material = keys.new_user_key()
        # Wrapping may call KMS: done before the transaction opens.
        wrapped = keys.wrap_user_key(material, user_id=user.pk)
        try:
            with transaction.atomic():
                existing = UserKey.objects.create(
                    user=user,
                    provider=wrapped.provider,
                    master_key_id=wrapped.master_key_id,
                    wrapped_key=wrapped.wrapped,
                )
                record(
                    action="vault.key.created",
                    subject=user,
                    target=existing,
                    data={
                        "version": existing.version,
                        "provider": wrapped.provider,
                        "master_key_id": wrapped.master_key_id,
                    },
                )
        except IntegrityError:
            existing = UserKey.objects.get(user=user)
    if existing.is_destroyed:
        raise keys.KeyDestroyed()
    return existing


def user_key_lock(*, user) -> UserKey:
    """Lock the customer's key row for the enclosing transaction (``select_for_update``).

    Rotation takes this lock too, so a service that stores a document written with
    :func:`vault.blobs.blob_write` calls it (through ``blob_key_check``) in the
    transaction that creates the row.
    """
    return UserKey.objects.select_for_update().get(user=user)


def user_key_destroy(
    *,
    user,
    actor=None,
    reason: str = "",
    meta: RequestMeta | None = None,
) -> UserKey:
    """Crypto-shred the customer's vault: erase every wrapped copy of their key.

    After this, no document of theirs can be decrypted, here or from any backup of
    blobs and rows taken later. Idempotent; a customer who never had a key gets a
    destroyed row, so none is created afterwards. Account closure calls this.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().filter(user=user).first()
        if user_key is not None and user_key.is_destroyed:
            return user_key
        now = timezone.now()
        if user_key is None:
            user_key = UserKey(
                user=user,
                provider=keys.current_provider().name,
                master_key_id="",
                created_at=now,
                version_created_at=now,
            )
        version = user_key.version
        user_key.wrapped_key = ""
        user_key.previous_version = None
        user_key.previous_provider = ""
        user_key.previous_master_key_id = ""
        user_key.previous_wrapped_key = ""
        user_key.destroyed_at = now
        user_key.save()
        record(
            action="vault.key.destroyed",
            subject=user,
            actor=actor,
            target=user_key,
            data={
                "version": version,
                "reason": reason,
                "documents": Document.objects.filter(owner=user).not_destroyed().count(),
            },
            meta=meta,
        )
    return user_key


def user_key_rewrap(*, user_key_id: int) -> bool:
    """Re-wrap one user key (and its previous version) under the current master key.

    Returns whether anything changed: a key already wrapped under the current master
    key, or destroyed, is left alone, which makes ``vault_rotate_keys`` rerunnable.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed:
            return False
        before = {"provider": user_key.provider, "master_key_id": user_key.master_key_id}
        fields = []
        if not keys.wrapped_under_current_master(user_key.provider, user_key.master_key_id):
            material = keys.user_key_material(user_key, version=user_key.version)
            wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
            user_key.provider = wrapped.provider
            user_key.master_key_id = wrapped.master_key_id
            user_key.wrapped_key = wrapped.wrapped
            fields += ["provider", "master_key_id", "wrapped_key"]
        if user_key.rotation_in_progress and not keys.wrapped_under_current_master(
            user_key.previous_provider, user_key.previous_master_key_id
        ):
            material = keys.user_key_material(user_key, version=user_key.previous_version)
            wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
            user_key.previous_provider = wrapped.provider
            user_key.previous_master_key_id = wrapped.master_key_id
            user_key.previous_wrapped_key = wrapped.wrapped
            fields += ["previous_provider", "previous_master_key_id", "previous_wrapped_key"]
        if not fields:
            return False
        user_key.save(update_fields=[*fields, "updated_at"])
        record(
            action="vault.key.rewrapped",
            subject=user_key.user,
            target=user_key,
            data={
                "version": user_key.version,
                "from": before,
                "to": {"provider": user_key.provider, "master_key_id": user_key.master_key_id},
            },
        )
    return True


def user_key_rotation_start(*, user_key_id: int) -> UserKey:
    """Give the customer a new user-key version; the former one stays until every
    document's data key is re-wrapped (:func:`document_keys_rewrap`)."""
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed:
            raise keys.KeyDestroyed()
        if user_key.rotation_in_progress:
            raise InvalidState(
                _("Un renouvellement de la clé de ce coffre est déjà en cours."),
                "vault_rotation_in_progress",
            )
        material = keys.new_user_key()
        wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
        user_key.previous_version = user_key.version
        user_key.previous_provider = user_key.provider
        user_key.previous_master_key_id = user_key.master_key_id
        user_key.previous_wrapped_key = user_key.wrapped_key
        user_key.version += 1
        user_key.version_created_at = timezone.now()
        user_key.provider = wrapped.provider
        user_key.master_key_id = wrapped.master_key_id
        user_key.wrapped_key = wrapped.wrapped
        user_key.save()
        record(
            action="vault.key.rotation_started",
            subject=user_key.user,
            target=user_key,
            data={"from_version": user_key.previous_version, "to_version": user_key.version},
        )
    return user_key


def document_keys_rewrap(*, user_key_id: int, batch_size: int = 100) -> int:
    """Re-wrap up to ``batch_size`` data keys still under the previous user-key version.

    One transaction per call; returns how many were re-wrapped (0: none left). Only
    the rows change, never the blobs. Not recorded per document: the rotation's start
    and finish are the customer-visible events.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed or not user_key.rotation_in_progress:
            return 0
        documents = list(
            Document.objects.select_for_update()
            .filter(
                owner_id=user_key.user_id,
                key_version=user_key.previous_version,
                destroyed_at__isnull=True,
            )
            .order_by("pk")[:batch_size]
        )
        if not documents:
            return 0
        old_key = keys.user_key_material(user_key, version=user_key.previous_version)
        new_key = keys.user_key_material(user_key, version=user_key.version)
        for document in documents:
            data_key = keys.unwrap_data_key(
                document.wrapped_key,
                user_key=old_key,
                owner_id=document.owner_id,
                document_uuid=document.uuid,
                key_version=document.key_version,
            )
            document.wrapped_key = keys.wrap_data_key(
                data_key,
                user_key=new_key,
                owner_id=document.owner_id,
                document_uuid=document.uuid,
                key_version=user_key.version,
            )
            document.key_version = user_key.version
            document.save(update_fields=["wrapped_key", "key_version", "updated_at"])
    return len(documents)


def user_key_rotation_finish(*, user_key_id: int) -> bool:
    """Erase the previous user-key version once no document needs it any more.

    Returns False (and changes nothing) while a document still uses it.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed or not user_key.rotation_in_progress:
            return False
        if Document.objects.filter(
            owner_id=user_key.user_id,
            key_version=user_key.previous_version,
            destroyed_at__isnull=True,
        ).exists():
            return False
        previous = user_key.previous_version
        user_key.previous_version = None
        user_key.previous_provider = ""
        user_key.previous_master_key_id = ""
        user_key.previous_wrapped_key = ""
        user_key.save()
        record(
            action="vault.key.rotation_finished",
            subject=user_key.user,
            target=user_key,
            data={"retired_version": previous, "version": user_key.version},
        )
    return True


# --- Documents: the upload pipeline ----------------------------------------------------------
#
# One entry point, document_store(), serves every way a document arrives: the upload
# page, other apps depositing what the service produced (source "service"), the intake
# address (source "email") and staff. It is a single streaming pass:
#
#   chunks -> size and quota count -> ContentCheck (type sniffed from the content,
#   deep check) -> SHA-256 and encryption (blob_write) -> storage
#
# then one transaction creates the row (pending_scan, or unscanned without a scanner),
# checks the key version (blob_key_check) and records "vault.document_stored"; the
# malware scan is enqueued on commit (queue "scan", tasks.document_scan_task). On any
# failure the blob is destroyed: nothing is half-stored.
#
# The upload view needs the form's other fields, which arrive after the file, so it
# uses the two halves: document_receive() (the streaming pass) then document_create()
# (the transaction), and received_discard() if the form turns out invalid.


@dataclass(frozen=True)
class ReceivedFile:
    """A blob written and checked by :func:`document_receive`, not yet a Document."""

    owner_id: int
    info: BlobInfo
    file_type: FileType
    filename: str
    source: str


def _quota_exceeded(*, quota: int, usage: int) -> DomainError:
    return DomainError(
        _(
            "Votre coffre est plein : ce fichier dépasse l'espace qu'il vous reste "
            "(%(left)s libres sur %(quota)s). Libérez de la place (videz la corbeille) "
            "ou choisissez une formule avec plus d'espace."
        )
        % {
            "left": filesizeformat(max(0, quota - usage)),
            "quota": filesizeformat(quota),
        },
        "vault.quota_exceeded",
    )


def _quota_applies(source: str) -> bool:
    # What the service produces for the customer is never refused for lack of space.
    return source in (DocumentSource.UPLOAD, DocumentSource.EMAIL)


def document_receive(
    *,
    owner,
    chunks: Iterable[bytes],
    filename: str,
    source: str,
    declared_size: int | None = None,
    meta: RequestMeta | None = None,
) -> ReceivedFile:
    """The streaming half of :func:`document_store`: check, hash, encrypt, store the blob.

    Raises :class:`DomainError` (translated message, stable code) for a bad name, an
    empty or oversized file, a full vault, a type not allowed or not matching the
    name, active PDF content, macros...; the refusal is recorded
    (``vault.upload_refused``) and no blob is left behind.
    """
    from .blobs import BlobTooLarge, blob_destroy_info, blob_write

    if source not in DocumentSource.values:
        raise ValueError(f"unknown document source {source!r}")
    clean_name = ""
    try:
        clean_name = clean_filename(filename)
        limit = settings.UPLOAD_MAX_BYTES
        quota = usage = None
        if _quota_applies(source):
            quota = quota_bytes_for(owner)
            usage = usage_bytes_for(owner)
        if declared_size is not None:
            check_size(declared_size, max_bytes=limit)
            if quota is not None and usage + declared_size > quota:
                raise _quota_exceeded(quota=quota, usage=usage)
        check = ContentCheck(filename=clean_name, max_bytes=limit)
        room = None if quota is None else quota - usage

        def checked() -> Iterator[bytes]:
            for chunk in chunks:
                if not chunk:
                    continue
                check.feed(chunk)  # raises as soon as the answer is no
                if room is not None and check.size > room:
                    raise _quota_exceeded(quota=quota, usage=usage)
                yield chunk

        try:
            info = blob_write(owner=owner, chunks=checked(), max_size=limit)
        except BlobTooLarge:
            raise file_too_large(limit) from None
        try:
            file_type = check.finish()
        except BaseException:
            blob_destroy_info(info)
            raise
    except DomainError as error:
        _record_refusal(owner=owner, error=error, filename=clean_name, source=source, meta=meta)
        raise
    return ReceivedFile(
        owner_id=owner.pk, info=info, file_type=file_type, filename=clean_name, source=source
    )


def _record_refusal(*, owner, error: DomainError, filename: str, source: str, meta) -> None:
    """Record a refused upload (DESIGN §4: rejections are audit events)."""
    try:
        with transaction.atomic():
            record(
                action="vault.upload_refused",
                subject=owner,
                actor=owner if source == DocumentSource.UPLOAD else None,
                data={"code": error.code, "name": filename, "source": source},
                meta=meta,
            )
    except Exception:
        # The customer must still get the refusal's message, not a server error.
        logger.exception("could not record the refused upload of user %s", owner.pk)


def received_discard(received: ReceivedFile) -> None:
    """Delete the blob of a received file that will not become a document."""
    from .blobs import blob_destroy_info

    blob_destroy_info(received.info)


def document_create(
    *,
    owner,
    received: ReceivedFile,
    title: str = "",
    doc_type: str = "",
    actor=None,
    meta: RequestMeta | None = None,
) -> Document:
    """The transactional half of :func:`document_store`: the row and its event.

    On failure the blob is destroyed (the caller has nothing to clean up). The quota
    is checked again under the key-row lock, so two uploads at once cannot both fill
    the last free space.
    """
    from .blobs import blob_key_check
    from .tasks import document_scan_task

    if received.owner_id != owner.pk:
        raise ValueError("the received file belongs to another customer")
    info = received.info
    title = (title or "").strip() or received.filename
    doc_type = doc_type or DocumentType.OTHER
    if doc_type not in DocumentType.values:
        received_discard(received)
        raise ValueError(f"unknown document type {doc_type!r}")
    status = ScanStatus.PENDING_SCAN if scanner_configured() else ScanStatus.UNSCANNED
    try:
        with transaction.atomic():
            blob_key_check(owner=owner, info=info)
            if _quota_applies(received.source):
                quota = quota_bytes_for(owner)
                usage = usage_bytes_for(owner)
                if usage + info.size > quota:
                    raise _quota_exceeded(quota=quota, usage=usage)
            document = Document(
                uuid=info.document_uuid,
                owner=owner,
                title=title[:200],
                doc_type=doc_type,
                source=received.source,
                original_name=received.filename,
                content_type=received.file_type.content_type,
                scan_status=status,
                scan_detail="" if status == ScanStatus.PENDING_SCAN else "no scanner configured",
                **info.fields(),
            )
            document.save()
            record(
                action="vault.document_stored",
                subject=owner,
                actor=actor,
                target=document,
                data={
                    "document": str(document.uuid),
                    "name": received.filename,
                    "title": document.title,
                    "doc_type": document.doc_type,
                    "source": document.source,
                    "content_type": document.content_type,
                    "size": document.size,
                    "sha256": document.sha256,
                    "scan_status": document.scan_status,
                },
                meta=meta,
            )
            if status == ScanStatus.PENDING_SCAN:
                enqueue_on_commit(document_scan_task, document.pk)
            else:
                _classify_on_commit(document)
    except BaseException as error:
        received_discard(received)
        if isinstance(error, DomainError):
            _record_refusal(
                owner=owner,
                error=error,
                filename=received.filename,
                source=received.source,
                meta=meta,
            )
        raise
    return document


def document_store(
    *,
    owner,
    chunks: Iterable[bytes],
    filename: str,
    source: str,
    title: str = "",
    doc_type: str = "",
    actor=None,
    declared_size: int | None = None,
    meta: RequestMeta | None = None,
) -> Document:
    """Store a new document of ``owner`` from plaintext ``chunks``: the one entry point.

    ``source`` is a :class:`DocumentSource` value; ``title`` defaults to the cleaned
    file name and ``doc_type`` to "other"; ``actor`` is who deposited it (the owner
    for an upload, a staff member, or None for the service itself). Streams: memory
    does not grow with the file and no plaintext is written to disk.

    Returns the document, ``pending_scan`` (the scan is enqueued on commit) or
    ``unscanned`` where no scanner is configured. Raises :class:`DomainError` with a
    translated message (codes ``vault.filename_*``, ``vault.file_empty``,
    ``vault.file_too_large``, ``vault.quota_exceeded``, ``vault.type_*``,
    ``vault.pdf_*``, ``vault.office_*``, ``vault.text_not_utf8``...) and then nothing is
    stored: no row, no blob.
    """
    received = document_receive(
        owner=owner,
        chunks=chunks,
        filename=filename,
        source=source,
        declared_size=declared_size,
        meta=meta,
    )
    return document_create(
        owner=owner, received=received, title=title, doc_type=doc_type, actor=actor, meta=meta
    )


# --- Documents: malware scan ---------------------------------------------------------------


def _document_destroy_in_transaction(document: Document, *, now) -> None:
    """Erase the data key (crypto-shredding) and delete the blob once committed."""
    from .blobs import blob_destroy

    document.wrapped_key = None
    document.destroyed_at = now
    transaction.on_commit(lambda: _blob_destroy_quietly(document, blob_destroy))


def _blob_destroy_quietly(document: Document, blob_destroy) -> None:
    try:
        blob_destroy(document=document)
    except Exception:
        # The key is gone already: the blob is unreadable; the purge job retries later.
        logger.exception("could not delete the blob of document %s", document.pk)


def document_scan(*, document_id: int, rescan: bool = False) -> Document | None:
    """Scan one document with the configured scanner and apply the verdict.

    Decrypts the stored blob on the fly into the scanner (nothing on disk). Applies
    only to a ``pending_scan`` document (or ``unscanned`` once a scanner is
    configured); with ``rescan`` also to a ``clean`` one (new signature database).
    Idempotent: a document already decided is left alone, so the sweeper may enqueue
    an id twice. The scan runs outside any transaction (it may take a while); the
    verdict is applied under a row lock, if the document has not changed meanwhile.

    - CLEAN: ``clean`` (``vault.document_scanned``);
    - INFECTED: ``infected``, data key erased and blob deleted
      (``vault.document_infected``);
    - REFUSED (too large or too complex for the scanner, scanner error) or a blob that
      does not decrypt: ``rejected``, destroyed the same way (``vault.document_rejected``);
    - UNAVAILABLE: stays ``pending_scan`` (the sweeper and ``vault_rescan`` retry);
    - UNSCANNED (no scanner configured any more): ``unscanned``.
    """
    from . import crypto
    from .blobs import blob_open
    from .scanning import ScanResult, Verdict, scan

    scannable = {ScanStatus.PENDING_SCAN, ScanStatus.UNSCANNED}
    if rescan:
        scannable.add(ScanStatus.CLEAN)
    document = Document.objects.filter(pk=document_id).first()
    if document is None or document.is_destroyed or document.scan_status not in scannable:
        return document
    if document.scan_status == ScanStatus.UNSCANNED and not scanner_configured():
        return document
    before = document.scan_status
    Document.objects.filter(pk=document.pk).update(
        scan_attempts=models.F("scan_attempts") + 1, updated_at=timezone.now()
    )
    try:
        with blob_open(document=document) as stream:
            result = scan(stream)
    except crypto.BlobIntegrityError as exc:
        result = ScanResult(Verdict.REFUSED, signature="", detail=f"blob unreadable: {exc}")
    except keys.KeyDestroyed:
        return document  # closed vault: nothing to scan, nothing to serve
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document_id)
        if document.is_destroyed or document.scan_status != before:
            return document
        now = timezone.now()
        data = {
            "document": str(document.uuid),
            "title": document.title,
            "name": document.original_name,
            "verdict": str(result.verdict),
            "signature": result.signature,
            "previous": before,
        }
        if result.verdict == Verdict.UNAVAILABLE:
            document.scan_detail = result.detail[:255]
            document.save(update_fields=["scan_detail", "updated_at"])
            return document
        if result.verdict == Verdict.CLEAN:
            document.scan_status = ScanStatus.CLEAN
            action = "vault.document_scanned"
        elif result.verdict == Verdict.UNSCANNED:
            document.scan_status = ScanStatus.UNSCANNED
            action = "vault.document_scanned"
        elif result.verdict == Verdict.INFECTED:
            document.scan_status = ScanStatus.INFECTED
            _document_destroy_in_transaction(document, now=now)
            action = "vault.document_infected"
        else:
            document.scan_status = ScanStatus.REJECTED
            _document_destroy_in_transaction(document, now=now)
            action = "vault.document_rejected"
        document.scan_detail = (result.signature or result.detail)[:255]
        document.scanned_at = now
        document.save()
        record(action=action, subject=document.owner, target=document, data=data)
        if document.scan_status in (ScanStatus.CLEAN, ScanStatus.UNSCANNED):
            _classify_on_commit(document)
    return document


def _classify_on_commit(document: Document) -> None:
    """Suggest a type once the document may be read (the task checks the consent)."""
    from .classification import classification_enqueue  # classification reads documents

    classification_enqueue(document)


def pending_scan_ids(older_than, limit: int) -> list[int]:
    """Documents still waiting for their scan, untouched since ``older_than`` (sweeper)."""
    return list(
        Document.objects.filter(
            scan_status=ScanStatus.PENDING_SCAN,
            destroyed_at__isnull=True,
            updated_at__lt=older_than,
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def pending_scan_touch(ids: list[int]) -> None:
    """Mark ids the sweeper enqueued, so the next sweep leaves them to the worker."""
    Document.objects.filter(pk__in=ids).update(updated_at=timezone.now())


# --- Documents: the customer's changes -------------------------------------------------------

#: Days a trashed document can be restored before it is destroyed.
TRASH_RETENTION_DAYS = 30


def _locked(document: Document) -> Document:
    locked = Document.objects.select_for_update().get(pk=document.pk)
    if locked.is_destroyed:
        raise InvalidState(_("Ce document a été détruit."), "vault.document_destroyed")
    return locked


def _changed(
    document: Document,
    *,
    action: str,
    actor,
    fields: list[str],
    data: dict,
    meta: RequestMeta | None,
) -> Document:
    document.save(update_fields=[*fields, "updated_at"])
    record(
        action=action,
        subject=document.owner,
        actor=actor,
        target=document,
        data={"document": str(document.uuid), "title": document.title, **data},
        meta=meta,
    )
    return document


def document_rename(
    *, document: Document, title: str, actor, meta: RequestMeta | None = None
) -> Document:
    """Give the document a new title (1 to 200 characters, no control characters)."""
    title = " ".join((title or "").split())
    if not title:
        raise DomainError(_("Donnez un titre à ce document."), "vault.title_empty")
    if len(title) > 200:
        raise DomainError(
            _("Le titre ne peut pas dépasser 200 caractères."), "vault.title_too_long"
        )
    with transaction.atomic():
        document = _locked(document)
        before = document.title
        if before == title:
            return document
        document.title = title
        return _changed(
            document,
            action="vault.document_renamed",
            actor=actor,
            fields=["title"],
            data={"before": before},
            meta=meta,
        )


def document_retype(
    *, document: Document, doc_type: str, actor, meta: RequestMeta | None = None
) -> Document:
    """Set the document's type (one of :class:`DocumentType`)."""
    if doc_type not in DocumentType.values:
        raise DomainError(_("Ce type de document n'existe pas."), "vault.type_unknown")
    with transaction.atomic():
        document = _locked(document)
        before = document.doc_type
        if before == doc_type:
            return document
        document.doc_type = doc_type
        return _changed(
            document,
            action="vault.document_retyped",
            actor=actor,
            fields=["doc_type"],
            data={"before": before, "doc_type": doc_type},
            meta=meta,
        )


#: Tags one document may carry, and the length of one tag.
MAX_TAGS = 20
MAX_TAG_LENGTH = 50


def tag_names_parse(text: str) -> list[str]:
    """« Impôts, famille , impôts » -> ["Impôts", "famille"] (comma-separated, deduplicated
    case-insensitively, spaces squeezed). Raises DomainError for too many or too long."""
    names: list[str] = []
    seen: set[str] = set()
    for raw in (text or "").split(","):
        name = " ".join(raw.split())
        if not name:
            continue
        if len(name) > MAX_TAG_LENGTH:
            raise DomainError(
                _("Une étiquette ne peut pas dépasser %(max)s caractères.")
                % {"max": MAX_TAG_LENGTH},
                "vault.tag_too_long",
            )
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    if len(names) > MAX_TAGS:
        raise DomainError(
            _("Un document peut porter au plus %(max)s étiquettes.") % {"max": MAX_TAGS},
            "vault.too_many_tags",
        )
    return names


def document_tags_set(
    *, document: Document, names: list[str], actor, meta: RequestMeta | None = None
) -> Document:
    """Replace the document's tags with ``names`` (created for the owner as needed;
    matched case-insensitively with the owner's existing tags)."""
    from .models import Tag

    names = tag_names_parse(", ".join(names))
    with transaction.atomic():
        document = _locked(document)
        before = sorted(tag.name for tag in document.tags.all())
        tags = []
        for name in names:
            tag = Tag.objects.filter(owner_id=document.owner_id, name__iexact=name).first()
            if tag is None:
                tag = Tag.objects.create(owner_id=document.owner_id, name=name)
            tags.append(tag)
        after = sorted(tag.name for tag in tags)
        if after == before:
            return document
        document.tags.set(tags)
        return _changed(
            document,
            action="vault.document_tagged",
            actor=actor,
            fields=[],
            data={"before": before, "tags": after},
            meta=meta,
        )


def document_dates_set(
    *,
    document: Document,
    issued_on,
    expires_on,
    actor,
    meta: RequestMeta | None = None,
) -> Document:
    """Set (or clear, with None) the issue and expiry dates; expiry not before issue."""
    if issued_on and expires_on and expires_on < issued_on:
        raise DomainError(
            _("La date d'expiration ne peut pas précéder la date de délivrance."),
            "vault.dates_order",
        )
    with transaction.atomic():
        document = _locked(document)
        before = {
            "issued_on": document.issued_on.isoformat() if document.issued_on else "",
            "expires_on": document.expires_on.isoformat() if document.expires_on else "",
        }
        document.issued_on = issued_on
        document.expires_on = expires_on
        after = {
            "issued_on": issued_on.isoformat() if issued_on else "",
            "expires_on": expires_on.isoformat() if expires_on else "",
        }
        if after == before:
            return document
        return _changed(
            document,
            action="vault.document_dates_set",
            actor=actor,
            fields=["issued_on", "expires_on"],
            data={"before": before, **after},
            meta=meta,
        )


def document_trash(*, document: Document, actor, meta: RequestMeta | None = None) -> Document:
    """Move the document to the trash: hidden, not shareable, restorable for 30 days."""
    with transaction.atomic():
        document = _locked(document)
        if document.is_trashed:
            return document
        document.trashed_at = timezone.now()
        return _changed(
            document,
            action="vault.document_trashed",
            actor=actor,
            fields=["trashed_at"],
            data={"restorable_days": TRASH_RETENTION_DAYS},
            meta=meta,
        )


def document_restore(*, document: Document, actor, meta: RequestMeta | None = None) -> Document:
    """Take the document out of the trash (until it is destroyed)."""
    with transaction.atomic():
        document = _locked(document)
        if not document.is_trashed:
            return document
        document.trashed_at = None
        return _changed(
            document,
            action="vault.document_restored",
            actor=actor,
            fields=["trashed_at"],
            data={},
            meta=meta,
        )


def document_destroy(
    *,
    document: Document,
    actor=None,
    reason: str = "customer",
    meta: RequestMeta | None = None,
) -> Document:
    """Destroy the document for good: its data key is erased (crypto-shredding) and its
    blob deleted once committed. The row stays as the trace of what was held.

    ``reason``: ``customer`` (deleted from the trash on demand) or ``trash_expired``.
    Idempotent on a destroyed document.
    """
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        if document.is_destroyed:
            return document
        _document_destroy_in_transaction(document, now=timezone.now())
        document.save(update_fields=["wrapped_key", "destroyed_at", "updated_at"])
        record(
            action="vault.document_destroyed",
            subject=document.owner,
            actor=actor,
            target=document,
            data={
                "document": str(document.uuid),
                "title": document.title,
                "sha256": document.sha256,
                "reason": reason,
            },
            meta=meta,
        )
    return document


def documents_destroy_all(*, user) -> int:
    """Destroy every document of ``user`` inside the caller's transaction; returns how many.

    For the end of a vault (the export window after account closure): the caller
    records one event for the whole vault, and has destroyed the user key already.
    """
    now = timezone.now()
    count = 0
    for document in Document.objects.select_for_update().filter(owner=user).not_destroyed():
        _document_destroy_in_transaction(document, now=now)
        document.save(update_fields=["wrapped_key", "destroyed_at", "updated_at"])
        count += 1
    return count


def trash_purge(*, now=None, limit: int = 1000) -> int:
    """Destroy documents trashed more than 30 days ago; returns how many (daily job)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=TRASH_RETENTION_DAYS)
    ids = list(
        Document.objects.filter(trashed_at__lt=cutoff, destroyed_at__isnull=True)
        .order_by("trashed_at")
        .values_list("pk", flat=True)[:limit]
    )
    for document_id in ids:
        document_destroy(document=Document(pk=document_id), reason="trash_expired")
    return len(ids)


def document_access_record(
    *, document: Document, actor, inline: bool, meta: RequestMeta | None = None
) -> None:
    """Record a download (``vault.document_downloaded``) or an in-browser view
    (``vault.document_viewed``) by the owner, before the content is streamed."""
    with transaction.atomic():
        record(
            action="vault.document_viewed" if inline else "vault.document_downloaded",
            subject=document.owner,
            actor=actor,
            target=document,
            data={
                "document": str(document.uuid),
                "title": document.title,
                "sha256": document.sha256,
            },
            meta=meta,
        )
