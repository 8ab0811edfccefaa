"""Encrypted blobs in the vault storage: what the pipeline, downloads and export rely on."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest
from django.db import transaction

from vault import blobs, keys
from vault.blobs import BlobTooLarge, blob_destroy, blob_open, blob_verify, blob_write
from vault.crypto import (
    CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    BlobIntegrityError,
    ciphertext_size,
    encrypt_stream,
)
from vault.models import Document

from .factories import UserFactory, document_store, pieces, read_back

pytestmark = pytest.mark.django_db

CANARY = b"CANARY-plaintext-7f3a9c"


def generated(total: int, piece: int = 64 * 1024):
    """``total`` bytes of a deterministic, incompressible stream, produced lazily."""
    block = hashlib.sha256(b"seed").digest() * (piece // 32 + 1)
    sent = 0
    counter = 0
    while sent < total:
        size = min(piece, total - sent)
        counter += 1
        yield (counter.to_bytes(8, "big") + block)[:size]
        sent += size


def stored_files(location):
    return [p for p in location.rglob("*") if p.is_file()]


def test_round_trip_through_the_storage(vault_storage):
    owner = UserFactory()
    content = os.urandom(200_000)

    document = document_store(owner=owner, content=content)

    assert read_back(document) == content
    assert document.size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    (blob_file,) = stored_files(vault_storage)
    assert blob_file.stat().st_size == ciphertext_size(len(content))
    assert blob_file.stat().st_mode & 0o077 == 0, "blobs are readable by the owner only"
    assert blob_verify(document=document).ok


def test_empty_file_round_trip():
    document = document_store(owner=UserFactory(), content=b"")
    assert read_back(document) == b""
    assert document.sha256 == hashlib.sha256(b"").hexdigest()


def test_the_stored_object_never_contains_the_plaintext(vault_storage):
    """GIVEN a file full of a recognisable canary, WHEN stored, THEN no byte sequence of
    it appears in what the storage holds, and the object name says nothing about it."""
    owner = UserFactory()
    document = document_store(owner=owner, content=CANARY * 20_000, original_name="canari.pdf")

    (blob_file,) = stored_files(vault_storage)
    raw = blob_file.read_bytes()
    assert CANARY[:12] not in raw
    # The object's name is random: neither the file name nor the owner shows.
    assert document.storage_key == blobs.storage_key_for(document.uuid)


def test_each_document_has_its_own_data_key():
    owner = UserFactory()
    first = document_store(owner=owner, content=b"same")
    second = document_store(owner=owner, content=b"same")
    assert bytes(first.wrapped_key) != bytes(second.wrapped_key)
    assert first.storage_key != second.storage_key


def test_a_file_over_the_limit_is_refused_and_nothing_is_left(vault_storage):
    owner = UserFactory()

    with pytest.raises(BlobTooLarge) as caught:
        blob_write(owner=owner, chunks=pieces(b"x" * 300_001), max_size=300_000)

    assert caught.value.code == "vault_file_too_large"
    assert stored_files(vault_storage) == []
    info = blob_write(owner=owner, chunks=pieces(b"x" * 300_000), max_size=300_000)
    assert info.size == 300_000


def test_a_failing_source_leaves_no_partial_blob(vault_storage):
    def broken():
        yield b"a" * 100_000
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        blob_write(owner=UserFactory(), chunks=broken())

    assert stored_files(vault_storage) == []


def test_damage_is_detected_when_reading(vault_storage):
    document = document_store(owner=UserFactory(), content=os.urandom(2 * CHUNK_SIZE + 5_000))
    (blob_file,) = stored_files(vault_storage)
    raw = bytearray(blob_file.read_bytes())
    raw[HEADER_SIZE + CHUNK_SIZE + TAG_SIZE + 100] ^= 0x01  # inside the second record
    blob_file.write_bytes(bytes(raw))

    received = []
    with pytest.raises(BlobIntegrityError) as caught, blob_open(document=document) as stream:
        for chunk in stream:
            received.append(chunk)

    assert caught.value.record == 1
    assert len(received) == 1, "the intact first record only"
    assert blob_verify(document=document).reason == "bad_tag"


def test_a_document_stored_with_64_kib_records_reads_back_and_verifies(vault_storage):
    """GIVEN a document whose blob was written with the 64 KiB chunks of the first
    writers (the chunk size is in each blob's header)
    THEN it still reads back whole and passes the integrity check."""
    content = os.urandom(3 * 65_536 + 123)
    document = document_store(owner=UserFactory(), content=content)
    data_key = blobs.document_data_key(document)
    (blob_file,) = stored_files(vault_storage)
    old_blob = b"".join(
        encrypt_stream(
            key=data_key, chunks=pieces(content), document_id=document.uuid, chunk_size=65_536
        )
    )
    blob_file.write_bytes(old_blob)

    with blob_open(document=document) as stream:
        chunks = list(stream)
    assert [len(chunk) for chunk in chunks] == [65_536, 65_536, 65_536, 123]
    assert b"".join(chunks) == content
    assert blob_verify(document=document).ok


def test_the_digest_is_of_the_bytes_handed_over_even_from_a_reused_buffer():
    """GIVEN a source that refills one bytearray for every piece (the digest is
    computed in a helper thread, after the piece was handed over)
    THEN the recorded SHA-256 and the stored content are those of the pieces as given."""
    buffer = bytearray(100_000)
    expected = hashlib.sha256()

    def refilled():
        for value in range(20):
            buffer[:] = bytes([value]) * len(buffer)
            expected.update(buffer)
            yield buffer

    info = blob_write(owner=UserFactory(), chunks=refilled())
    assert info.sha256 == expected.hexdigest()
    assert info.size == 20 * len(buffer)


@pytest.mark.parametrize(
    "sizes",
    [
        [10],
        [70_000],
        [1, 2, 3] * 10,
        [100, 70_000, 5, 65_536, 65_535, 300_000, 3],
        [60_000, 60_000, 1, 200_000, 40_000, 40_000],
    ],
)
def test_the_digest_covers_small_and_large_pieces_in_order(sizes):
    content = os.urandom(sum(sizes))
    cut, start = [], 0
    for size in sizes:
        cut.append(content[start : start + size])
        start += size

    owner = UserFactory()
    info = blob_write(owner=owner, chunks=iter(cut))
    document = Document.objects.create(
        uuid=info.document_uuid,
        owner=owner,
        title="Morceaux",
        source="upload",
        content_type="application/octet-stream",
        **info.fields(),
    )

    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert read_back(document) == content


def test_missing_blob_raises_before_streaming(vault_storage):
    document = document_store(owner=UserFactory())
    for path in stored_files(vault_storage):
        path.unlink()

    with pytest.raises(BlobIntegrityError) as caught:
        blob_open(document=document)
    assert caught.value.reason == "missing_blob"


def test_a_document_row_pointing_at_another_blob_is_refused():
    owner = UserFactory()
    first = document_store(owner=owner, content=b"premier")
    second = document_store(owner=owner, content=b"second")
    Document.objects.filter(pk=first.pk).update(storage_key=second.storage_key + ".x")
    Document.objects.filter(pk=second.pk).delete()
    os.rename(
        blobs.vault_storage().path(second.storage_key),
        blobs.vault_storage().path(second.storage_key + ".x"),
    )

    assert blob_verify(document=Document.objects.get(pk=first.pk)).reason == "wrong_document"


def test_blob_destroy_deletes_the_object_and_is_idempotent(vault_storage):
    document = document_store(owner=UserFactory())
    blob_destroy(document=document)
    blob_destroy(document=document)
    assert stored_files(vault_storage) == []


def test_a_destroyed_document_cannot_be_opened():
    document = document_store(owner=UserFactory())
    Document.objects.filter(pk=document.pk).update(
        destroyed_at=document.created_at, wrapped_key=None
    )
    with pytest.raises(blobs.DocumentDestroyed):
        blob_open(document=Document.objects.get(pk=document.pk))


def test_blob_key_check_refuses_a_version_retired_during_the_upload():
    """GIVEN a blob written under user-key version 1, WHEN a rotation to version 2
    finishes before the row is created, THEN the creation is refused (retry), rather
    than storing a document nobody can read."""
    from vault import services

    owner = UserFactory()
    info = blob_write(owner=owner, chunks=[b"fiche de paie"])
    services.user_key_rotation_start(user_key_id=owner.vault_key.pk)
    with transaction.atomic():
        blobs.blob_key_check(owner=owner, info=info)  # version 1 is still there
    assert services.user_key_rotation_finish(user_key_id=owner.vault_key.pk)

    with pytest.raises(keys.KeyVersionGone), transaction.atomic():
        blobs.blob_key_check(owner=owner, info=info)


def test_memory_does_not_grow_with_the_file_size(vault_storage):
    """32 MiB go through encryption, the storage, and decryption, while the traced
    Python memory stays within a few records' worth."""
    owner = UserFactory()
    blob_write(owner=owner, chunks=[b"warm-up"])  # user key, imports, storage
    total = 32 * 1024 * 1024

    tracemalloc.start()
    try:
        info = blob_write(owner=owner, chunks=generated(total))
        _current, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        document = Document.objects.create(
            uuid=info.document_uuid,
            owner=owner,
            title="Gros fichier",
            source="upload",
            content_type="application/octet-stream",
            **info.fields(),
        )
        digest = hashlib.sha256()
        with blob_open(document=document) as stream:
            for chunk in stream:
                digest.update(chunk)
        _current, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    expected = hashlib.sha256()
    for piece in generated(total):
        expected.update(piece)
    assert info.size == total and info.sha256 == expected.hexdigest()
    assert digest.hexdigest() == info.sha256
    assert write_peak < 2 * 1024 * 1024, f"write peak {write_peak} bytes"
    assert read_peak < 2 * 1024 * 1024, f"read peak {read_peak} bytes"


def test_healthz_reports_the_vault_storage(client, settings, tmp_path, vault_storage):
    from mynetspace.core.health import run_health_checks

    found = {c.name: c for c in run_health_checks()}
    assert found["vault_storage"].ok, found["vault_storage"].detail
    assert stored_files(vault_storage) == [], "the probe is deleted"

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "vault": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "vault")},
        },
    }
    found = {c.name: c for c in run_health_checks()}
    assert found["vault_storage"].ok is False
