"""Encrypted blobs in the ``vault`` storage: write, read, verify, delete.

The API the upload pipeline, downloads, sharing and export build on::

    info = blob_write(owner=user, chunks=upload.chunks(), max_size=limit)
    with transaction.atomic():
        blob_key_check(owner=user, info=info)   # locks the user key row
        document = Document.objects.create(uuid=info.document_uuid, ..., **info.fields())
    for chunk in blob_open(document=document): ...   # verified plaintext only
    blob_destroy(document=document)             # deletes the stored object

Both directions stream through Django's storage API: plaintext is never written to
disk, and memory holds a few 256 KiB records (plus, on S3, the multipart buffers
bounded in settings), whatever the file size. On S3 the blob is read from the
object's body stream rather than through ``S3File``, which would first copy the
whole object into a temporary file.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.utils.translation import gettext_lazy as _

from mynetspace.core.errors import DomainError
from mynetspace.core.health import HealthCheckFailed

from . import app_settings, crypto, keys
from .models import Document, UserKey
from .services import user_key_get_or_create, user_key_lock

logger = logging.getLogger(__name__)

BLOB_SUFFIX = ".mnsv"


class BlobTooLarge(DomainError):
    def __init__(self, max_size: int) -> None:
        super().__init__(
            _("Ce fichier dépasse la taille maximale autorisée (%(mb)s Mo).")
            % {"mb": max(1, max_size // (1024 * 1024))},
            "vault_file_too_large",
        )
        self.max_size = max_size


class DocumentDestroyed(DomainError):
    def __init__(self) -> None:
        super().__init__(_("Ce document a été détruit."), "vault_document_destroyed")


@dataclass(frozen=True)
class BlobInfo:
    """What :func:`blob_write` stored; the caller copies it onto the Document row."""

    document_uuid: uuid.UUID
    storage_key: str
    wrapped_key: bytes
    key_version: int
    format_version: int
    sha256: str
    size: int

    def fields(self) -> dict:
        """The Document fields this blob determines (``uuid`` excepted)."""
        return {
            "storage_key": self.storage_key,
            "wrapped_key": self.wrapped_key,
            "key_version": self.key_version,
            "format_version": self.format_version,
            "sha256": self.sha256,
            "size": self.size,
        }


def vault_storage() -> Storage:
    return storages[app_settings.STORAGE_ALIAS]


def storage_key_for(document_uuid: uuid.UUID) -> str:
    """``ab/ab12...ef.mnsv``: random names spread over 256 directories, no owner in it."""
    name = document_uuid.hex
    return f"{name[:2]}/{name}{BLOB_SUFFIX}"


class _EncryptedUpload(File):
    """The encrypted stream as a Django ``File``: ``chunks()`` hands over whole records
    (FileSystemStorage), ``read(n)`` serves boto3's uploader (S3Storage)."""

    def __init__(self, pieces: Iterator[bytes], name: str) -> None:
        self._pieces = pieces
        super().__init__(crypto.IteratorReader(pieces), name=name)

    def chunks(self, chunk_size=None):
        yield from self._pieces


class _BackgroundSha256:
    """The SHA-256 of the pieces handed to :meth:`update`, computed in a helper thread.

    hashlib releases the GIL while it hashes a large piece, so the plaintext's digest
    is computed on another core while the calling thread sniffs, encrypts and writes
    the same pieces: without it, hashing was the largest cost of an upload. The pieces
    must be ``bytes`` (immutable: shared without a copy); at most ``max_pending`` of
    them wait for the helper. Pieces under ``HANDOFF_BYTES`` are gathered first, so
    that the helper is woken for large pieces only, and a small file is hashed here
    without a thread.
    """

    HANDOFF_BYTES = 64 * 1024

    def __init__(self, *, max_pending: int = 4) -> None:
        self._digest = hashlib.sha256()
        self._pieces: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._small = bytearray()

    def update(self, piece: bytes) -> None:
        if len(piece) < self.HANDOFF_BYTES:
            self._small += piece
            if len(self._small) < self.HANDOFF_BYTES:
                return
            piece, self._small = bytes(self._small), bytearray()
        elif self._small:
            self._hand_over(bytes(self._small))
            self._small = bytearray()
        self._hand_over(piece)

    def _hand_over(self, piece: bytes) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vault-sha256", daemon=True)
            self._thread.start()
        self._pieces.put(piece)

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            self._digest.update(piece)

    def close(self) -> None:
        """Stop the helper (after the last piece, or on failure)."""
        if self._thread is not None:
            self._pieces.put(None)
            self._thread.join()
            self._thread = None

    def hexdigest(self) -> str:
        self.close()
        self._digest.update(self._small)
        self._small = bytearray()
        return self._digest.hexdigest()


def blob_write(
    *,
    owner,
    chunks: Iterable[bytes],
    document_uuid: uuid.UUID | None = None,
    max_size: int | None = None,
) -> BlobInfo:
    """Encrypt ``chunks`` (plaintext pieces of any size) into a new blob of ``owner``.

    Computes the plaintext SHA-256 and size while streaming. Raises
    :class:`BlobTooLarge` as soon as more than ``max_size`` bytes arrived, and
    :class:`keys.KeyDestroyed` for a closed vault; on any failure the partial blob is
    deleted. No database row is written except the user key on first use.
    """
    user_key = user_key_get_or_create(user=owner)
    user_secret = keys.user_key_material(user_key, version=user_key.version)
    document_uuid = document_uuid or uuid.uuid4()
    data_key = crypto.new_data_key()
    wrapped_key = keys.wrap_data_key(
        data_key,
        user_key=user_secret,
        owner_id=owner.pk,
        document_uuid=document_uuid,
        key_version=user_key.version,
    )
    digest = _BackgroundSha256()
    size = 0

    def measured() -> Iterator[bytes]:
        nonlocal size
        for piece in chunks:
            if not isinstance(piece, bytes):
                piece = bytes(piece)  # the hashing thread must see what was encrypted
            size += len(piece)
            if max_size is not None and size > max_size:
                raise BlobTooLarge(max_size)
            digest.update(piece)
            yield piece

    name = storage_key_for(document_uuid)
    storage = vault_storage()
    encrypted = crypto.encrypt_stream(key=data_key, chunks=measured(), document_id=document_uuid)
    try:
        stored_name = storage.save(name, _EncryptedUpload(encrypted, name))
        sha256 = digest.hexdigest()
    except BaseException:
        digest.close()
        # The name is this blob's own (a fresh UUID): nothing else can be there.
        _delete_quietly(storage, name)
        raise
    return BlobInfo(
        document_uuid=document_uuid,
        storage_key=stored_name,
        wrapped_key=wrapped_key,
        key_version=user_key.version,
        format_version=crypto.FORMAT_VERSION,
        sha256=sha256,
        size=size,
    )


def blob_key_check(*, owner, info: BlobInfo) -> UserKey:
    """Call inside the transaction that creates the Document for ``info``.

    Locks the owner's key row (as rotation does) and checks that the user-key version
    the data key was wrapped with still exists: otherwise a rotation that finished
    during the upload could leave the new row unreadable. Raises
    :class:`keys.KeyVersionGone` (retry the upload) or :class:`keys.KeyDestroyed`.
    """
    user_key = user_key_lock(user=owner)
    keys.user_key_slot(user_key, version=info.key_version)
    return user_key


def _document_user_key(document: Document) -> UserKey:
    user_key = UserKey.objects.filter(user_id=document.owner_id).first()
    if user_key is None or user_key.is_destroyed:
        raise keys.KeyDestroyed()
    return user_key


def document_data_key(document: Document, *, user_secret: bytes | None = None) -> bytes:
    """Unwrap ``document``'s data key (``user_secret``: the owner's key, if at hand)."""
    if document.is_destroyed or document.wrapped_key is None:
        raise DocumentDestroyed()
    if user_secret is None:
        user_secret = keys.user_key_material(
            _document_user_key(document), version=document.key_version
        )
    return keys.unwrap_data_key(
        document.wrapped_key,
        user_key=user_secret,
        owner_id=document.owner_id,
        document_uuid=document.uuid,
        key_version=document.key_version,
    )


def _open_ciphertext(storage: Storage, name: str):
    """A readable stream of the stored object, without buffering it whole."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a dependency
        S3Storage = None
    if S3Storage is not None and isinstance(storage, S3Storage):
        from botocore.exceptions import ClientError
        from storages.utils import clean_name

        key = storage._normalize_name(clean_name(name))
        try:
            return storage.bucket.Object(key).get()["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise crypto.BlobIntegrityError("missing_blob", f"no object {name}") from exc
            raise
    try:
        return storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise crypto.BlobIntegrityError("missing_blob", f"no object {name}") from exc


class PlaintextStream:
    """An iterator of verified plaintext chunks that closes its source when done.

    Hand it to ``StreamingHttpResponse`` (which calls ``close()``) or use it in a
    ``with`` block. Raises :class:`crypto.BlobIntegrityError` mid-stream if the blob
    is damaged, and at the end if the size differs from the document's.
    """

    def __init__(self, source, chunks: Iterator[bytes], expected_size: int | None) -> None:
        self._source = source
        self._chunks = chunks
        self._expected_size = expected_size
        self._seen = 0

    def __iter__(self) -> PlaintextStream:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.close()
            if self._expected_size is not None and self._seen != self._expected_size:
                raise crypto.BlobIntegrityError(
                    "size_mismatch",
                    f"{self._seen} bytes decrypted, {self._expected_size} recorded",
                ) from None
            raise
        except BaseException:
            self.close()
            raise
        self._seen += len(chunk)
        return chunk

    def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def __enter__(self) -> PlaintextStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def blob_open(*, document: Document, user_secret: bytes | None = None) -> PlaintextStream:
    """The verified plaintext of ``document``, chunk by chunk.

    Keys are unwrapped and the object opened before this returns, so a destroyed key
    (:class:`keys.KeyDestroyed`), a destroyed document (:class:`DocumentDestroyed`) or
    a missing blob raise here, before a response starts. Access rules (owner, share,
    grant, scan status) are the caller's.
    """
    data_key = document_data_key(document, user_secret=user_secret)
    source = _open_ciphertext(vault_storage(), document.storage_key)
    try:
        chunks = crypto.decrypt_stream(key=data_key, read=source.read, document_id=document.uuid)
    except BaseException:
        source.close()
        raise
    return PlaintextStream(source, chunks, expected_size=document.size)


@dataclass(frozen=True)
class BlobCheck:
    ok: bool
    reason: str = ""
    detail: str = ""


def blob_verify(*, document: Document, user_secret: bytes | None = None) -> BlobCheck:
    """Decrypt ``document`` whole and compare its SHA-256 and size with the row.

    Never raises for a damaged document: the result names what failed (``reason``:
    a :class:`crypto.BlobIntegrityError` code, ``key_destroyed``, ``key_unavailable``,
    ``size_mismatch`` or ``sha256_mismatch``).
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with blob_open(document=document, user_secret=user_secret) as stream:
            for chunk in stream:
                digest.update(chunk)
                size += len(chunk)
    except crypto.BlobIntegrityError as exc:
        return BlobCheck(False, exc.reason, str(exc))
    except (keys.KeyDestroyed, keys.KeyVersionGone, DocumentDestroyed) as exc:
        return BlobCheck(False, exc.code, str(exc))
    except keys.MasterKeyError as exc:
        return BlobCheck(False, "key_unavailable", str(exc))
    if size != document.size:
        return BlobCheck(False, "size_mismatch", f"{size} bytes, {document.size} recorded")
    if digest.hexdigest() != document.sha256:
        return BlobCheck(False, "sha256_mismatch", f"SHA-256 {digest.hexdigest()}")
    return BlobCheck(True)


def blob_destroy(*, document: Document) -> None:
    """Delete the stored object (idempotent: a missing object is fine).

    The key row is the real destruction (crypto-shredding): the service that destroys
    a document erases ``wrapped_key`` in its transaction and calls this on commit.
    """
    vault_storage().delete(document.storage_key)


def blob_destroy_info(info: BlobInfo) -> None:
    """Delete a blob written by :func:`blob_write` that never became a Document row
    (the upload was refused after writing, or its transaction rolled back). Quiet:
    the caller is already handling the original error."""
    _delete_quietly(vault_storage(), info.storage_key)


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        # The original error matters more; an orphan ciphertext is unreadable anyway.
        logger.warning("Could not delete the partial blob %s", name, exc_info=True)


# --- Health ---------------------------------------------------------------------------


def check_vault_storage() -> str:
    """/healthz component: write, read back and delete a probe in the vault storage."""
    storage = vault_storage()
    payload = uuid.uuid4().hex.encode()
    name = storage.save(f"healthz/probe-{uuid.uuid4().hex}.txt", ContentFile(payload))
    try:
        with storage.open(name, "rb") as stored:
            if stored.read() != payload:
                raise HealthCheckFailed("file written was not read back")
    finally:
        storage.delete(name)
    return storage.__class__.__name__
