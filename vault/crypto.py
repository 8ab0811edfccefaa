"""The vault's encrypted blob format: chunked AES-256-GCM (specified in docs/vault-format.md).

A blob is a 33-byte header followed by records. Each record is one plaintext chunk
(``chunk_size`` bytes, the last one shorter or empty) encrypted with AES-256-GCM and
followed by its 16-byte tag::

    header  = "MNSV" ‖ version (1) ‖ cipher (1) ‖ chunk_size (u32 BE) ‖ nonce_prefix (7)
              ‖ document id (16)
    nonce_i = nonce_prefix ‖ i (u32 BE) ‖ last (1 byte: 0x01 on the final record, else 0x00)
    aad_i   = SHA-256(header) ‖ i (u32 BE) ‖ last (1 byte)

Binding the header hash, the index and the last flag into each record makes
truncation, reordering, duplication, splicing between blobs and any bit flip fail a
tag. :func:`decrypt_stream` yields a chunk only after its tag has verified, so no
unverified plaintext ever leaves this module; any problem raises
:class:`BlobIntegrityError` naming the record.

Both directions stream: memory holds at most one input piece and two records.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"MNSV"
FORMAT_VERSION = 1
CIPHER_AES_256_GCM = 1
#: The chunk size new blobs are written with. The header records each blob's own, so
#: blobs written with another size (64 KiB before) stay readable.
CHUNK_SIZE = 256 * 1024
#: Chunk sizes a reader accepts; the upper bound keeps a forged header from making a
#: reader allocate without limit.
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 1024 * 1024
KEY_SIZE = 32
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_RECORDS = 2**32

_HEADER = struct.Struct(">4sBBI7s16s")
HEADER_SIZE = _HEADER.size  # 33
_INDEX_FLAG = struct.Struct(">IB")


class BlobIntegrityError(Exception):
    """The blob is not what was encrypted: altered, truncated, extended, or misplaced.

    ``reason`` is a stable code for reports (see docs/vault-format.md) and ``record``
    the index of the record where the problem was found (``None`` for the header).
    """

    def __init__(self, reason: str, message: str, *, record: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.record = record

    def __str__(self) -> str:
        where = "header" if self.record is None else f"record {self.record}"
        return f"{self.reason} at {where}: {self.args[0]}"


@dataclass(frozen=True)
class Header:
    version: int
    cipher: int
    chunk_size: int
    nonce_prefix: bytes
    document_id: uuid.UUID

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            self.version,
            self.cipher,
            self.chunk_size,
            self.nonce_prefix,
            self.document_id.bytes,
        )

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        if len(raw) < HEADER_SIZE:
            raise BlobIntegrityError("truncated_header", f"{len(raw)} bytes of header")
        magic, version, cipher, chunk_size, prefix, doc_id = _HEADER.unpack(raw[:HEADER_SIZE])
        if magic != MAGIC:
            raise BlobIntegrityError("bad_magic", "not a vault blob")
        if version != FORMAT_VERSION:
            raise BlobIntegrityError("unsupported_version", f"format version {version}")
        if cipher != CIPHER_AES_256_GCM:
            raise BlobIntegrityError("unsupported_cipher", f"cipher {cipher}")
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise BlobIntegrityError("bad_chunk_size", f"chunk size {chunk_size}")
        return cls(version, cipher, chunk_size, prefix, uuid.UUID(bytes=doc_id))


def _nonce_and_aad(
    prefix: bytes, header_hash: bytes, index: int, last: bool
) -> tuple[bytes, bytes]:
    index_flag = _INDEX_FLAG.pack(index, 1 if last else 0)
    return prefix + index_flag, header_hash + index_flag


def new_data_key() -> bytes:
    """A fresh random AES-256 key for one blob."""
    return AESGCM.generate_key(bit_length=256)


def encrypt_stream(
    *,
    key: bytes,
    chunks: Iterable[bytes],
    document_id: uuid.UUID,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield the header, then one record per ``chunk_size`` bytes of ``chunks``.

    ``chunks`` may yield pieces of any size (empty ones included); they are cut into
    records here. The last record is flagged once the input is exhausted, so a
    full-size record is held back until it is known whether more data follows.
    """
    if len(key) != KEY_SIZE:
        raise ValueError("the data key must be 32 bytes")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be within {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    prefix = os.urandom(NONCE_PREFIX_SIZE)
    header = Header(FORMAT_VERSION, CIPHER_AES_256_GCM, chunk_size, prefix, document_id).encode()
    header_hash = hashlib.sha256(header).digest()
    aead = AESGCM(key)
    yield header

    index = 0

    def seal(data, last: bool) -> bytes:
        if index >= MAX_RECORDS:
            raise ValueError("too many records for one blob")
        nonce, aad = _nonce_and_aad(prefix, header_hash, index, last)
        return aead.encrypt(nonce, data, aad)

    # A record of exactly chunk_size may turn out to be the last one, so a full chunk
    # is held back until more data arrives. Each plaintext byte is copied at most once
    # (into ``buffer``, when a chunk straddles pieces): a chunk lying whole inside a
    # piece is sealed from a view of that piece.
    held = None  # a full chunk not yet sealed: a view of a piece, or ``buffer`` itself
    buffer = bytearray(chunk_size)
    filled = 0
    for piece in chunks:
        if not piece:
            continue
        view = memoryview(piece).cast("B")
        if not isinstance(piece, bytes):
            # The caller may reuse a mutable buffer: the held view must not change.
            view = memoryview(bytes(view))
        offset, end = 0, len(view)
        while offset < end:
            if held is not None:
                yield seal(held, False)
                index += 1
                if held is buffer:
                    filled = 0
                held = None
            if filled == 0 and end - offset >= chunk_size:
                held = view[offset : offset + chunk_size]
                offset += chunk_size
                continue
            count = min(chunk_size - filled, end - offset)
            buffer[filled : filled + count] = view[offset : offset + count]
            filled += count
            offset += count
            if filled == chunk_size:
                held = buffer
    if held is None:
        held = memoryview(buffer)[:filled]
    yield seal(held, True)


def decrypt_stream(
    *,
    key: bytes,
    read: Callable[[int], bytes],
    document_id: uuid.UUID | None = None,
) -> Iterator[bytes]:
    """Yield the verified plaintext chunks of the blob read through ``read(n)``.

    Each chunk is yielded only after its tag verified. Raises
    :class:`BlobIntegrityError` on any problem: a header that is not ours or names
    another document, a record that fails (altered, moved, from another blob), a
    missing final record, or data after it.
    """
    if len(key) != KEY_SIZE:
        raise ValueError("the data key must be 32 bytes")
    raw_header = _read_exact(read, HEADER_SIZE)
    header = Header.decode(raw_header)
    if document_id is not None and header.document_id != document_id:
        raise BlobIntegrityError(
            "wrong_document", f"the blob belongs to document {header.document_id}"
        )
    header_hash = hashlib.sha256(raw_header).digest()
    aead = AESGCM(key)
    record_size = header.chunk_size + TAG_SIZE
    prefix = header.nonce_prefix

    def open_record(index: int, record: bytes, last: bool) -> bytes:
        nonce, aad = _nonce_and_aad(prefix, header_hash, index, last)
        try:
            return aead.decrypt(nonce, record, aad)
        except InvalidTag:
            pass
        # Name the problem precisely; the other flag is only tried to explain it.
        nonce, aad = _nonce_and_aad(prefix, header_hash, index, not last)
        try:
            aead.decrypt(nonce, record, aad)
        except InvalidTag:
            raise BlobIntegrityError(
                "bad_tag", "the record does not authenticate", record=index
            ) from None
        if last:
            raise BlobIntegrityError(
                "truncated", "the blob ends before its final record", record=index
            )
        raise BlobIntegrityError("trailing_data", "data follows the final record", record=index + 1)

    index = 0
    record = _read_exact(read, record_size)
    while True:
        if len(record) < TAG_SIZE:
            raise BlobIntegrityError(
                "truncated", "the blob ends before its final record", record=index
            )
        # A short record can only be the last: _read_exact fills records until the end.
        following = _read_exact(read, record_size) if len(record) == record_size else b""
        last = not following
        yield open_record(index, record, last)
        if last:
            return
        index += 1
        if index >= MAX_RECORDS:
            raise BlobIntegrityError(
                "too_long", "more records than the format allows", record=index
            )
        record = following


def _read_exact(read: Callable[[int], bytes], size: int) -> bytes:
    """Read ``size`` bytes, fewer only at the end of the stream."""
    data = read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def ciphertext_size(plaintext_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The size of the blob holding ``plaintext_size`` bytes."""
    records = max(1, -(-plaintext_size // chunk_size))
    return HEADER_SIZE + plaintext_size + records * TAG_SIZE


class IteratorReader(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of bytes, for storage backends.

    Django's storages read uploads with ``read(n)`` (``File.chunks()``, boto3's
    ``upload_fileobj``); this hands them the encrypted stream as it is produced.
    """

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset >= len(self._pending):
            try:
                self._pending = next(self._pieces)
            except StopIteration:
                return 0
            self._offset = 0
        count = min(len(buffer), len(self._pending) - self._offset)
        buffer[:count] = self._pending[self._offset : self._offset + count]
        self._offset += count
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            rest = b"".join([self._pending[self._offset :], *self._pieces])
            self._pending, self._offset = b"", 0
            return rest
        # Whole records at once where possible: one copy instead of many small reads.
        parts = []
        wanted = size
        while wanted > 0:
            if self._offset >= len(self._pending):
                try:
                    self._pending = next(self._pieces)
                except StopIteration:
                    break
                self._offset = 0
                if not self._pending:
                    continue
            if self._offset == 0 and len(self._pending) <= wanted:
                part = self._pending
            else:
                part = self._pending[self._offset : self._offset + wanted]
            parts.append(part)
            self._offset += len(part)
            wanted -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
