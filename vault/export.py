"""Export of the whole vault in one request, and the export window after closure.

CPCE L103 5° (DESIGN §2 vault): the customer retrieves everything in one request, in
the original format with open structured metadata, free and unlimited, and for 12
months after the end of the contract. Format: ``docs/vault-export.md``.

**The archive** (:func:`vault_export_stream`) is a ZIP written as it is sent:
``documents/<name>`` (and ``corbeille/<name>`` for documents in the trash), each the
verified plaintext of one document under a safe, de-duplicated name;
``journal-coffre.jsonl``, the vault events of the customer's chain with their hashes;
``manifest.json`` last, so that it can say which files are complete. ``zipfile``
writes to a non-seekable sink here (data descriptors after each entry), so nothing
touches the disk and memory holds a few 64 KiB records whatever the vault's size.

**The window after closure.** "End of the contract" is the closure of the account
(docs/retention.md). Closure (vault/registrations.py) opens an :class:`ExportWindow`
of :data:`accounts.retention.VAULT_EXPORT_WINDOW_MONTHS` months: the former address
receives a retrieval link; the retrieval page asks for the former password (its
verifier is copied at closure, the account's own being made unusable), then serves
the same archive. :func:`export_windows_end_due` (daily) ends windows that are due:
the user key is destroyed (crypto-shredding), the blobs deleted and the documents
marked destroyed. The former customer may also end it at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import mimetypes
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib.auth.hashers import check_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.context import RequestMeta
from audit.models import Event
from audit.services import chain_key_for, record
from mynetspace.core.errors import DomainError

from . import crypto, keys
from .blobs import DocumentDestroyed, blob_open
from .filenames import clean_filename, ensure_extension, extension_of
from .models import Document, ExportWindow, ScanStatus, UserKey

logger = logging.getLogger(__name__)

FORMAT_NAME = "mynetspace-vault-export"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TRAIL_NAME = "journal-coffre.jsonl"
README_NAME = "LISEZMOI.txt"
FOLDER_ACTIVE = "documents"
FOLDER_TRASH = "corbeille"

#: Scan states whose plaintext the archive carries (the owner may download them).
EXPORTABLE = frozenset({ScanStatus.CLEAN, ScanStatus.UNSCANNED})

#: Wrong passwords in a row on the retrieval page before a pause, and its length.
WINDOW_LOCK_AFTER = 5
WINDOW_LOCK_MINUTES = 15
TOKEN_BYTES = 32


# --- Names in the archive ------------------------------------------------------------------


def _extension_for(document: Document) -> str:
    guessed = mimetypes.guess_extension(document.content_type or "") or ""
    return guessed.lstrip(".").lower()


def archive_name(document: Document, taken: set[str]) -> str:
    """A safe file name for ``document``, unique (case-insensitively) among ``taken``."""
    base = document.original_name or document.title or ""
    try:
        name = clean_filename(base)
    except DomainError:
        name = f"document-{document.uuid.hex[:12]}"
    name = ensure_extension(name, _extension_for(document))
    candidate = name
    number = 2
    while candidate.lower() in taken:
        extension = extension_of(name)
        stem = name[: -(len(extension) + 1)] if extension else name
        suffix = f" ({number})"
        candidate = f"{stem}{suffix}.{extension}" if extension else f"{stem}{suffix}"
        number += 1
    taken.add(candidate.lower())
    return candidate


# --- Manifest ----------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def document_metadata(document: Document, *, tags: list[str]) -> dict:
    """One document's open metadata (the manifest entry without the archive fields)."""
    return {
        "id": document.pk,
        "uuid": str(document.uuid),
        "title": document.title,
        "type": document.doc_type,
        "type_label": str(document.get_doc_type_display()),
        "tags": tags,
        "original_name": document.original_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "source": document.source,
        "scan_status": document.scan_status,
        "scanned_at": _iso(document.scanned_at),
        "issued_on": _iso(document.issued_on),
        "expires_on": _iso(document.expires_on),
        "created_at": _iso(document.created_at),
        "updated_at": _iso(document.updated_at),
        "trashed_at": _iso(document.trashed_at),
        "destroyed_at": _iso(document.destroyed_at),
    }


def _documents_of(user):
    return Document.objects.filter(owner=user).prefetch_related("tags").order_by("created_at", "pk")


def metadata_manifest(user) -> dict:
    """Metadata of every document (no files): the "vault" section of the account export."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "documents": [
            document_metadata(d, tags=sorted(t.name for t in d.tags.all()))
            for d in _documents_of(user)
        ],
    }


def _not_included_reason(document: Document) -> str:
    if document.destroyed_at is not None:
        return "destroyed"
    if document.scan_status not in EXPORTABLE:
        return document.scan_status
    return ""


# --- Streaming ZIP ------------------------------------------------------------------------


class _Sink:
    """A write-only, non-seekable file for ``zipfile``: what is written is taken out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _zip_info(name: str, moment: dt.datetime, size: int = 0) -> zipfile.ZipInfo:
    local = timezone.localtime(moment)
    info = zipfile.ZipInfo(name, date_time=(max(local.year, 1980), *local.timetuple()[1:6]))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    # Known in advance, so zipfile writes ZIP64 fields for files over 4 GiB.
    info.file_size = size
    return info


@dataclass
class _Progress:
    entries: list[dict] = field(default_factory=list)
    errors: int = 0


def vault_export_stream(user, *, generated_at: dt.datetime) -> Iterator[bytes]:
    """The archive of ``user``'s vault, as pieces of bytes (see the module docstring).

    A document whose blob fails verification mid-way is cut short in the archive and
    flagged ``complete: false`` with the reason in the manifest; nothing unverified is
    ever written (decryption releases a record only after its tag checks).
    """
    sink = _Sink()
    progress = _Progress()
    taken = {FOLDER_ACTIVE: set(), FOLDER_TRASH: set()}
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for document in _documents_of(user).iterator(chunk_size=200):
            entry = document_metadata(document, tags=sorted(t.name for t in document.tags.all()))
            reason = _not_included_reason(document)
            entry.update({"path": None, "complete": False, "note": reason})
            progress.entries.append(entry)
            if reason:
                continue
            folder = FOLDER_TRASH if document.trashed_at is not None else FOLDER_ACTIVE
            path = f"{folder}/{archive_name(document, taken[folder])}"
            try:
                stream = blob_open(document=document)
            except (keys.KeyDestroyed, keys.KeyVersionGone, DocumentDestroyed) as exc:
                entry["note"] = exc.code
                progress.errors += 1
                continue
            except crypto.BlobIntegrityError as exc:
                entry["note"] = f"integrity:{exc.reason}"
                progress.errors += 1
                continue
            entry["path"] = path
            digest = hashlib.sha256()
            with stream, zf.open(_zip_info(path, document.created_at, document.size), "w") as out:
                try:
                    for chunk in stream:
                        digest.update(chunk)
                        out.write(chunk)
                        yield sink.take()
                except crypto.BlobIntegrityError as exc:
                    logger.error("vault export: document %s failed: %s", document.pk, exc)
                    entry["note"] = f"integrity:{exc.reason}"
                    progress.errors += 1
            if not entry["note"]:
                entry["complete"] = digest.hexdigest() == document.sha256
                if not entry["complete"]:
                    entry["note"] = "integrity:sha256_mismatch"
                    progress.errors += 1
            yield sink.take()

        events = 0
        chain_key = chain_key_for(user)
        with zf.open(_zip_info(TRAIL_NAME, generated_at), "w") as out:
            for event in (
                Event.objects.filter(chain_key=chain_key, action__startswith="vault.")
                .order_by("seq")
                .iterator(chunk_size=500)
            ):
                out.write(_event_line(event))
                events += 1
                if events % 100 == 0:
                    yield sink.take()
        yield sink.take()

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "generated_at": generated_at.isoformat(),
            "account": {"id": user.pk, "chain": chain_key},
            "documents": progress.entries,
            "trail": {"path": TRAIL_NAME, "events": events},
            "complete": progress.errors == 0,
        }
        with zf.open(_zip_info(MANIFEST_NAME, generated_at), "w") as out:
            out.write(
                json.dumps(manifest, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()
            )
        with zf.open(_zip_info(README_NAME, generated_at), "w") as out:
            out.write(str(_readme()).encode())
    yield sink.take()


def _event_line(event: Event) -> bytes:
    row = {
        "chain": event.chain_key,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "on_behalf_of_id": event.on_behalf_of_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": event.data,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    return json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def _readme():
    return _(
        "Export de votre coffre numérique MyNetSpace\n\n"
        "documents/ : vos documents, dans leur format d'origine.\n"
        "corbeille/ : les documents de votre corbeille qui n'ont pas encore été détruits.\n"
        "manifest.json : la description de chaque document (titre, type, étiquettes, nom "
        "d'origine, type de contenu, taille, empreinte SHA-256, dates, origine, analyse "
        "antivirus) et son chemin dans cette archive.\n"
        "journal-coffre.jsonl : les opérations sur votre coffre, une par ligne, avec leur "
        "empreinte dans votre journal de preuves.\n\n"
        "Vérifiez un document : son empreinte SHA-256 doit être celle du manifeste "
        "(par exemple : sha256sum documents/<nom>).\n"
    )


def export_filename(*, generated_at: dt.datetime) -> str:
    local = timezone.localtime(generated_at)
    return f"coffre-mynetspace-{local:%Y-%m-%d-%H%M}.zip"


def vault_export_start(
    *, user, acting_user, meta: RequestMeta | None = None, via: str = "account"
) -> tuple[dt.datetime, Iterator[bytes]]:
    """Record ``vault.export_downloaded`` and return (time, the archive stream).

    Raises :class:`keys.KeyDestroyed` for a crypto-shredded vault, before anything
    is recorded. Free and unlimited: no counter, no quota.
    """
    key = UserKey.objects.filter(user=user).first()
    if key is not None and key.is_destroyed:
        raise keys.KeyDestroyed()
    generated_at = timezone.now()
    with transaction.atomic():
        documents = Document.objects.filter(owner=user).not_destroyed()
        record(
            action="vault.export_downloaded",
            subject=user,
            actor=acting_user,
            data={
                "documents": documents.count(),
                "format_version": FORMAT_VERSION,
                "via": via,
            },
            meta=meta,
        )
    return generated_at, vault_export_stream(user, generated_at=generated_at)


# --- The export window after closure --------------------------------------------------------


class WindowNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("Ce lien de récupération n'existe pas ou n'est plus valable."),
            "vault.window_not_found",
        )


class WindowPasswordWrong(DomainError):
    def __init__(self) -> None:
        super().__init__(_("Ce mot de passe est incorrect."), "vault.window_password_wrong")


class WindowLocked(DomainError):
    def __init__(self) -> None:
        super().__init__(
            _("Trop d'essais : réessayez dans %(minutes)d minutes.")
            % {"minutes": WINDOW_LOCK_MINUTES},
            "vault.window_locked",
        )


def window_months() -> int:
    from accounts.retention import VAULT_EXPORT_WINDOW_MONTHS

    return VAULT_EXPORT_WINDOW_MONTHS


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def export_window_open(*, user, meta: RequestMeta | None = None) -> tuple[ExportWindow, str]:
    """Open the retrieval window of a customer being closed; returns it and the token.

    Call inside the closure transaction, before the personal data are erased (the
    password verifier is copied from the account). Idempotent per user: a second call
    gives the existing window a new token.
    """
    now = timezone.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    window, created = ExportWindow.objects.get_or_create(
        user=user,
        defaults={
            "opened_at": now,
            "ends_at": add_months(now, window_months()),
            "token_sha256": _digest(token),
            "password_hash": user.password if user.has_usable_password() else "",
        },
    )
    if not created:
        window.token_sha256 = _digest(token)
        window.save(update_fields=["token_sha256"])
    record(
        action="vault.export_window_opened",
        subject=user,
        target=window,
        data={
            "ends_at": window.ends_at.isoformat(),
            "documents": Document.objects.filter(owner=user).not_destroyed().count(),
        },
        meta=meta,
    )
    return window, token


def export_window_resolve(*, token: str) -> ExportWindow:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise WindowNotFound()
    window = ExportWindow.objects.select_related("user").filter(token_sha256=_digest(token)).first()
    if window is None or not window.is_open:
        raise WindowNotFound()
    return window


def export_window_check_password(
    *, window: ExportWindow, password: str, meta: RequestMeta | None = None
) -> None:
    """Check the former password; raises ``WindowPasswordWrong`` / ``WindowLocked``.

    A window whose account had no usable password accepts none: the former customer
    writes to support, who check their identity (docs/decisions.md).
    """
    password = password or ""
    matches = (
        bool(password)
        and bool(window.password_hash)
        and len(password) <= 4096
        and check_password(password, window.password_hash)
    )
    with transaction.atomic():
        locked = ExportWindow.objects.select_for_update().get(pk=window.pk)
        now = timezone.now()
        if not locked.is_open:
            raise WindowNotFound()
        if locked.locked_until is not None and locked.locked_until > now:
            raise WindowLocked()
        if matches:
            if locked.failed_attempts:
                locked.failed_attempts = 0
                locked.save(update_fields=["failed_attempts"])
            return
        locked.failed_attempts += 1
        fields = ["failed_attempts"]
        if locked.failed_attempts % WINDOW_LOCK_AFTER == 0:
            locked.locked_until = now + dt.timedelta(minutes=WINDOW_LOCK_MINUTES)
            fields.append("locked_until")
        locked.save(update_fields=fields)
        record(
            action="vault.export_window_password_failed",
            subject=locked.user,
            target=locked,
            data={"failures": locked.failed_attempts},
            meta=meta,
        )
    raise WindowPasswordWrong()


def export_window_export_start(
    *, window: ExportWindow, meta: RequestMeta | None = None
) -> tuple[dt.datetime, Iterator[bytes]]:
    """The archive for a former customer whose password was just checked."""
    with transaction.atomic():
        locked = ExportWindow.objects.select_for_update().get(pk=window.pk)
        if not locked.is_open:
            raise WindowNotFound()
        locked.exports += 1
        locked.save(update_fields=["exports"])
    return vault_export_start(user=locked.user, acting_user=None, meta=meta, via="after_closure")


def export_window_end(
    *, window: ExportWindow, reason: str, meta: RequestMeta | None = None
) -> ExportWindow:
    """Close the window: crypto-shred the vault, delete the blobs. Idempotent.

    ``reason``: ``window_ended`` (the daily job) or ``customer_request``.
    """
    from .services import documents_destroy_all, user_key_destroy

    with transaction.atomic():
        locked = ExportWindow.objects.select_for_update().select_related("user").get(pk=window.pk)
        if locked.ended_at is not None:
            return locked
        user_key_destroy(user=locked.user, reason=f"export_window:{reason}", meta=meta)
        destroyed = documents_destroy_all(user=locked.user)
        locked.ended_at = timezone.now()
        locked.password_hash = ""
        locked.save(update_fields=["ended_at", "password_hash"])
        record(
            action="vault.export_window_ended",
            subject=locked.user,
            target=locked,
            data={"reason": reason, "documents_destroyed": destroyed, "exports": locked.exports},
            meta=meta,
        )
    return locked


def export_windows_end_due(*, now: dt.datetime | None = None) -> int:
    """The daily job: end every window whose time has come. Returns how many."""
    now = now or timezone.now()
    ended = 0
    for pk in ExportWindow.objects.filter(ended_at__isnull=True, ends_at__lte=now).values_list(
        "pk", flat=True
    ):
        export_window_end(
            window=ExportWindow(pk=pk), reason="window_ended", meta=RequestMeta.system()
        )
        ended += 1
    return ended


__all__ = [
    "FORMAT_VERSION",
    "WindowLocked",
    "WindowNotFound",
    "WindowPasswordWrong",
    "archive_name",
    "export_window_check_password",
    "export_window_end",
    "export_window_export_start",
    "export_window_open",
    "export_window_resolve",
    "export_windows_end_due",
    "metadata_manifest",
    "vault_export_start",
    "vault_export_stream",
]
