"""The blob format (vault/crypto.py, docs/vault-format.md) under hostile changes.

Every test states the same guarantee: a blob decrypts to exactly what was encrypted,
and any change to it (bit flip, truncation, extension, reordering, duplication,
splice with another blob) raises ``BlobIntegrityError`` before a single byte of the
affected record is released. Small chunk sizes make many-record blobs cheap enough
to try every bit and every cut.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault import crypto
from vault.crypto import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, BlobIntegrityError

KEY = bytes(range(32))
DOC = uuid.UUID("00000000-0000-4000-8000-000000000001")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def seal(plaintext: bytes, *, chunk_size: int = CHUNK_SIZE, piece: int = 7_000, doc=DOC) -> bytes:
    pieces = [plaintext[i : i + piece] for i in range(0, len(plaintext), piece)]
    return b"".join(
        crypto.encrypt_stream(key=KEY, chunks=pieces, document_id=doc, chunk_size=chunk_size)
    )


def chunks_of(plaintext: bytes, chunk_size: int) -> list[bytes]:
    return [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]


def records_of(blob: bytes, chunk_size: int) -> list[bytes]:
    size = chunk_size + TAG_SIZE
    return [blob[i : i + size] for i in range(HEADER_SIZE, len(blob), size)]


def open_blob(blob: bytes, *, key: bytes = KEY, doc=DOC) -> tuple[list[bytes], Exception | None]:
    """Decrypt, keeping what was released before an error (the error, or None)."""
    released: list[bytes] = []
    try:
        for chunk in crypto.decrypt_stream(key=key, read=io.BytesIO(blob).read, document_id=doc):
            released.append(chunk)
    except BlobIntegrityError as exc:
        return released, exc
    return released, None


def first_changed_record(original: bytes, tampered: bytes, chunk_size: int) -> int:
    """Index of the record holding the first byte where the two blobs differ (-1: header)."""
    limit = min(len(original), len(tampered))
    at = next((i for i in range(limit) if original[i] != tampered[i]), limit)
    if at < HEADER_SIZE:
        return -1
    return (at - HEADER_SIZE) // (chunk_size + TAG_SIZE)


def assert_rejected_before_release(
    original: bytes, tampered: bytes, plaintext: bytes, chunk_size: int
):
    """The tampered blob fails, and only records before the first change were released."""
    released, error = open_blob(tampered)
    assert error is not None, "a modified blob was accepted"
    changed = first_changed_record(original, tampered, chunk_size)
    assert len(released) <= max(changed, 0)
    assert released == chunks_of(plaintext, chunk_size)[: len(released)]
    return released, error


# --- Round trips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17]
)
def test_round_trip_at_the_record_boundaries(size):
    plaintext = os.urandom(size)
    blob = seal(plaintext)

    released, error = open_blob(blob)

    assert error is None
    assert b"".join(released) == plaintext
    assert len(blob) == crypto.ciphertext_size(size)
    # One record per started chunk, and an empty file is one empty final record.
    assert len(records_of(blob, CHUNK_SIZE)) == max(1, -(-size // CHUNK_SIZE))


@PROPERTY
@given(
    plaintext=st.binary(max_size=2_000),
    chunk_size=st.sampled_from([16, 17, 64, 1000]),
    piece=st.integers(1, 3_000),
)
def test_round_trip_of_any_content_cut_in_any_pieces(plaintext, chunk_size, piece):
    blob = seal(plaintext, chunk_size=chunk_size, piece=piece)

    released, error = open_blob(blob)

    assert error is None
    assert released == chunks_of(plaintext, chunk_size)
    assert len(blob) == crypto.ciphertext_size(len(plaintext), chunk_size)


@PROPERTY
@given(
    chunk_size=st.sampled_from([16, 64]),
    sizes=st.lists(st.sampled_from([0, 1, 15, 16, 17, 63, 64, 65, 128]), max_size=12),
)
def test_round_trip_of_pieces_mixing_whole_chunks_and_fragments(chunk_size, sizes):
    pieces = [os.urandom(size) for size in sizes]
    blob = b"".join(
        crypto.encrypt_stream(key=KEY, chunks=pieces, document_id=DOC, chunk_size=chunk_size)
    )
    released, error = open_blob(blob)
    assert error is None
    assert released == chunks_of(b"".join(pieces), chunk_size)


@settings(max_examples=12, deadline=None)
@given(size=st.integers(0, 400_000), piece=st.sampled_from([1_000, 65_536, 100_003]))
def test_round_trip_of_random_sizes_with_the_real_chunk_size(size, piece):
    plaintext = random.Random(size).randbytes(size)
    released, error = open_blob(seal(plaintext, piece=piece))
    assert error is None and b"".join(released) == plaintext


def test_two_encryptions_of_the_same_content_differ():
    plaintext = b"Bulletin de salaire" * 100
    assert seal(plaintext) != seal(plaintext), "a fresh nonce prefix per blob"


# --- Bit flips -----------------------------------------------------------------------


@pytest.mark.parametrize(("size", "chunk_size"), [(0, 16), (5, 16), (100, 32), (64, 16)])
def test_every_single_bit_flip_is_rejected(size, chunk_size):
    """GIVEN a small blob of several records
    WHEN any one of its bits is flipped (every bit is tried)
    THEN decryption fails, and every record before the flipped one, and no other,
    was released."""
    plaintext = os.urandom(size)
    blob = seal(plaintext, chunk_size=chunk_size)
    for bit in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[bit // 8] ^= 1 << (bit % 8)
        released, _error = assert_rejected_before_release(
            blob, bytes(tampered), plaintext, chunk_size
        )
        # Streaming: the intact records before the flip did come out.
        assert len(released) == max(first_changed_record(blob, bytes(tampered), chunk_size), 0)


@settings(max_examples=40, deadline=None)
@given(bit=st.integers(min_value=0), size=st.sampled_from([70_000, 200_000]))
def test_bit_flips_in_large_blobs_are_rejected(bit, size):
    plaintext = random.Random(size).randbytes(size)
    blob = _large_blob(size, plaintext)
    bit %= len(blob) * 8
    tampered = bytearray(blob)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert_rejected_before_release(blob, bytes(tampered), plaintext, CHUNK_SIZE)


_LARGE: dict[int, bytes] = {}


def _large_blob(size: int, plaintext: bytes) -> bytes:
    if size not in _LARGE:
        _LARGE[size] = seal(plaintext)
    return _LARGE[size]


# --- Truncation and extension --------------------------------------------------------


@pytest.mark.parametrize(("size", "chunk_size"), [(0, 16), (100, 32), (96, 32)])
def test_every_truncation_is_rejected(size, chunk_size):
    """Every shorter length is tried: at record boundaries, mid-record, in the header."""
    plaintext = os.urandom(size)
    blob = seal(plaintext, chunk_size=chunk_size)
    for length in range(len(blob)):
        assert_rejected_before_release(blob, blob[:length], plaintext, chunk_size)


def test_truncation_at_a_record_boundary_is_named_truncated():
    plaintext = os.urandom(3 * CHUNK_SIZE + 10)
    blob = seal(plaintext)
    cut = HEADER_SIZE + 2 * (CHUNK_SIZE + TAG_SIZE)

    released, error = open_blob(blob[:cut])

    assert error.reason == "truncated"
    assert error.record == 1
    assert b"".join(released) == plaintext[:CHUNK_SIZE]


@PROPERTY
@given(extra=st.binary(min_size=1, max_size=200), size=st.sampled_from([0, 10, 32, 64, 70]))
def test_data_after_the_final_record_is_rejected(extra, size):
    plaintext = os.urandom(size)
    blob = seal(plaintext, chunk_size=32)
    assert_rejected_before_release(blob, blob + extra, plaintext, 32)


def test_a_whole_valid_record_appended_is_named_trailing_data():
    plaintext = os.urandom(64)
    blob = seal(plaintext, chunk_size=32)  # two full records, the second final
    final = records_of(blob, 32)[-1]

    _released, error = open_blob(blob + final)

    assert error.reason in {"trailing_data", "bad_tag"}
    assert error is not None


# --- Reordering, duplication, splicing ---------------------------------------------------


@PROPERTY
@given(data=st.data(), records=st.integers(2, 8))
def test_reordered_records_are_rejected(data, records):
    plaintext = os.urandom(records * 16 - data.draw(st.integers(0, 15)))
    blob = seal(plaintext, chunk_size=16)
    parts = records_of(blob, 16)
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(parts) - 1), min_size=2, max_size=2, unique=True))
    )
    parts[i], parts[j] = parts[j], parts[i]
    assert_rejected_before_release(blob, blob[:HEADER_SIZE] + b"".join(parts), plaintext, 16)


@PROPERTY
@given(data=st.data(), records=st.integers(1, 6))
def test_duplicated_or_dropped_records_are_rejected(data, records):
    plaintext = os.urandom(records * 16)
    blob = seal(plaintext, chunk_size=16)
    parts = records_of(blob, 16)
    i = data.draw(st.integers(0, len(parts) - 1))
    duplicated = [*parts[: i + 1], parts[i], *parts[i + 1 :]]
    assert_rejected_before_release(blob, blob[:HEADER_SIZE] + b"".join(duplicated), plaintext, 16)
    if len(parts) > 1:
        dropped = parts[:i] + parts[i + 1 :]
        assert_rejected_before_release(blob, blob[:HEADER_SIZE] + b"".join(dropped), plaintext, 16)


@PROPERTY
@given(data=st.data(), records=st.integers(1, 6))
def test_records_spliced_from_another_blob_under_the_same_key_are_rejected(data, records):
    """Even with the same data key and document id, two blobs differ by their nonce
    prefix, so a record moved from one to the other (same index) fails."""
    plaintext = os.urandom(records * 16)
    other_plaintext = os.urandom(records * 16)
    blob, other = seal(plaintext, chunk_size=16), seal(other_plaintext, chunk_size=16)
    parts, other_parts = records_of(blob, 16), records_of(other, 16)
    i = data.draw(st.integers(0, len(parts) - 1))
    parts[i] = other_parts[i]
    assert_rejected_before_release(blob, blob[:HEADER_SIZE] + b"".join(parts), plaintext, 16)


def test_a_header_from_another_blob_is_rejected():
    plaintext, other = os.urandom(50), os.urandom(50)
    blob, other_blob = seal(plaintext, chunk_size=16), seal(other, chunk_size=16)
    released, error = open_blob(other_blob[:HEADER_SIZE] + blob[HEADER_SIZE:])
    assert released == [] and error.reason == "bad_tag" and error.record == 0


def test_a_blob_of_another_document_is_refused_by_its_header():
    blob = seal(b"quittance", doc=uuid.uuid4())
    released, error = open_blob(blob, doc=DOC)
    assert released == [] and error.reason == "wrong_document"


def test_another_key_opens_nothing():
    released, error = open_blob(seal(b"RIB: FR76 ..."), key=os.urandom(32))
    assert released == [] and error.reason == "bad_tag"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: b"XXXX" + h[4:], "bad_magic"),
        (lambda h: h[:4] + b"\x02" + h[5:], "unsupported_version"),
        (lambda h: h[:5] + b"\x09" + h[6:], "unsupported_cipher"),
        (lambda h: h[:6] + struct.pack(">I", 2**31) + h[10:], "bad_chunk_size"),
        (lambda h: h[:6] + struct.pack(">I", 8) + h[10:], "bad_chunk_size"),
    ],
)
def test_header_problems_are_named_before_anything_is_read(mutate, reason):
    blob = seal(b"x" * 100)
    released, error = open_blob(mutate(blob[:HEADER_SIZE]) + blob[HEADER_SIZE:])
    assert released == [] and error.reason == reason


def test_a_blob_shorter_than_its_header_is_named_truncated_header():
    released, error = open_blob(seal(b"x" * 100)[:20])
    assert released == [] and error.reason == "truncated_header"


# --- The specification -----------------------------------------------------------------


def spec_decrypt(blob: bytes, key: bytes) -> bytes:
    """A decryptor written from docs/vault-format.md alone (whole blob in memory)."""
    magic, version, cipher, chunk_size = blob[:4], blob[4], blob[5], int.from_bytes(blob[6:10])
    assert (magic, version, cipher) == (b"MNSV", 1, 1)
    prefix, header = blob[10:17], blob[:33]
    header_hash = hashlib.sha256(header).digest()
    body = blob[33:]
    record_size = chunk_size + 16
    count = max(1, -(-len(body) // record_size))
    out = []
    for index in range(count):
        record = body[index * record_size : (index + 1) * record_size]
        flag = b"\x01" if index == count - 1 else b"\x00"
        tail = index.to_bytes(4, "big") + flag
        out.append(AESGCM(key).decrypt(prefix + tail, record, header_hash + tail))
    return b"".join(out)


@PROPERTY
@given(plaintext=st.binary(max_size=3_000), chunk_size=st.sampled_from([16, 100, CHUNK_SIZE]))
def test_an_independent_decryptor_following_the_spec_agrees(plaintext, chunk_size):
    assert spec_decrypt(seal(plaintext, chunk_size=chunk_size), KEY) == plaintext


# --- Chunk size: recorded per blob ------------------------------------------------------


def test_new_blobs_record_the_writers_chunk_size_in_their_header():
    blob = seal(os.urandom(CHUNK_SIZE + 10))
    assert CHUNK_SIZE == 256 * 1024
    assert int.from_bytes(blob[6:10], "big") == CHUNK_SIZE
    assert (
        len(blob) == crypto.ciphertext_size(CHUNK_SIZE + 10) == HEADER_SIZE + CHUNK_SIZE + 10 + 32
    )


@pytest.mark.parametrize("size", [0, 65_536, 65_537, 300_000])
def test_blobs_written_with_64_kib_chunks_stay_readable(size):
    """GIVEN a blob written with the 64 KiB chunks of the first writers
    THEN today's reader and the specification's both decrypt it, record by record."""
    plaintext = os.urandom(size)
    blob = seal(plaintext, chunk_size=65_536, piece=50_000)
    assert int.from_bytes(blob[6:10], "big") == 65_536
    released, error = open_blob(blob)
    assert error is None
    assert released == chunks_of(plaintext, 65_536)
    assert spec_decrypt(blob, KEY) == plaintext


def test_a_reused_input_buffer_does_not_change_what_is_sealed():
    """GIVEN a caller that refills one bytearray between pieces, a whole chunk each
    THEN every record holds the bytes the piece had when it was handed over."""
    buffer = bytearray(16)

    def refilled():
        for value in (1, 2, 3):
            buffer[:] = bytes([value]) * 16
            yield buffer

    blob = b"".join(
        crypto.encrypt_stream(key=KEY, chunks=refilled(), document_id=DOC, chunk_size=16)
    )
    assert spec_decrypt(blob, KEY) == b"\x01" * 16 + b"\x02" * 16 + b"\x03" * 16


# --- The file-like wrapper -------------------------------------------------------------


@PROPERTY
@given(
    pieces=st.lists(st.binary(max_size=300), max_size=20),
    sizes=st.lists(st.integers(1, 500), min_size=1, max_size=50),
)
def test_iterator_reader_returns_the_stream_in_order_whatever_the_read_sizes(pieces, sizes):
    reader = crypto.IteratorReader(iter(pieces))
    out = bytearray()
    for size in sizes:
        data = reader.read(size)
        assert len(data) <= size
        out += data
    out += reader.read()
    assert bytes(out) == b"".join(pieces)
    assert reader.read(10) == b""
