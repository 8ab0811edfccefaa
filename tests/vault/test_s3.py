"""The vault against an S3 endpoint and AWS KMS, both served by a real moto server over
HTTP (the same boto3 and django-storages code paths as production)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from io import StringIO

import pytest
from django.core.management import call_command

from vault import blobs, keys, services
from vault.models import Document, UserKey

from .factories import UserFactory, document_store, read_back
from .fixtures import boto_client

pytestmark = pytest.mark.django_db

CANARY = b"CANARY-s3-plaintext-51e0"


def bucket_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto_client("s3", endpoint)
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }


def test_stored_objects_never_contain_the_plaintext(moto, s3_vault):
    """GIVEN documents full of a canary, one bigger than a multipart part
    THEN every object in the bucket is ciphertext (no canary), under the vault/ prefix,
    and each document reads back byte-identical through the body stream."""
    owner = UserFactory()
    small = CANARY * 100
    large = CANARY * (7 * 1024 * 1024 // len(CANARY))  # over the 5 MiB multipart threshold
    documents = [document_store(owner=owner, content=c) for c in (small, large, b"")]

    objects = bucket_objects(moto, s3_vault)

    assert len(objects) == 3
    for key, raw in objects.items():
        assert key.startswith("vault/") and key.endswith(".mnsv")
        assert CANARY[:10] not in raw
    assert [read_back(d) for d in documents] == [small, large, b""]
    assert all(blobs.blob_verify(document=d).ok for d in documents)


def test_s3_download_streams_without_buffering_the_object(moto, s3_vault):
    owner = UserFactory()
    content = os.urandom(12 * 1024 * 1024)
    document = document_store(owner=owner, content=content)

    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        with blobs.blob_open(document=document) as stream:
            for chunk in stream:
                digest.update(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a 12 MiB object"


def test_s3_upload_memory_is_bounded_by_the_multipart_buffers(moto, s3_vault):
    """A 48 MiB upload holds a few 5 MiB parts at a time, never the whole file."""
    owner = UserFactory()
    blobs.blob_write(owner=owner, chunks=[b"warm-up"])
    block = os.urandom(64 * 1024)

    tracemalloc.start()
    try:
        info = blobs.blob_write(owner=owner, chunks=(block for _ in range(48 * 16)))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.size == 48 * 1024 * 1024
    assert peak < 28 * 1024 * 1024, f"peak {peak} bytes for a 48 MiB upload"


def test_a_damaged_or_missing_object_is_reported(moto, s3_vault):
    owner = UserFactory()
    damaged = document_store(owner=owner, content=os.urandom(1000))
    missing = document_store(owner=owner, content=b"absent")
    s3 = boto_client("s3", moto)
    key = f"vault/{damaged.storage_key}"
    raw = bytearray(s3.get_object(Bucket=s3_vault, Key=key)["Body"].read())
    raw[40] ^= 1
    s3.put_object(Bucket=s3_vault, Key=key, Body=bytes(raw))
    blobs.blob_destroy(document=missing)

    assert blobs.blob_verify(document=damaged).reason == "bad_tag"
    assert blobs.blob_verify(document=missing).reason == "missing_blob"


def test_an_oversized_upload_leaves_no_object(moto, s3_vault):
    with pytest.raises(blobs.BlobTooLarge):
        blobs.blob_write(
            owner=UserFactory(), chunks=(b"x" * 65536 for _ in range(200)), max_size=10**6
        )
    assert bucket_objects(moto, s3_vault) == {}


# --- KMS -------------------------------------------------------------------------------


def test_user_keys_are_wrapped_by_kms_with_the_user_in_the_context(moto, kms_key):
    owner = UserFactory()
    document = document_store(owner=owner, content=b"avis d'imposition")

    user_key = UserKey.objects.get(user=owner)
    assert user_key.provider == "kms" and user_key.master_key_id == kms_key
    assert read_back(document) == b"avis d'imposition"

    # The wrapped key of one customer does not open as another's: the encryption
    # context names the user.
    other = services.user_key_get_or_create(user=UserFactory())
    UserKey.objects.filter(pk=other.pk).update(wrapped_key=user_key.wrapped_key)
    with pytest.raises(keys.MasterKeyError, match="KMS Decrypt refused"):
        keys.user_key_material(UserKey.objects.get(pk=other.pk), version=1)


def test_moving_from_the_key_ring_to_kms_and_between_kms_keys(settings, moto):
    """GIVEN documents whose keys are wrapped by the key ring
    WHEN KMS is configured and vault_rotate_keys runs, then again with a new KMS key
    THEN every user key ends under the new KMS key and every document reads back."""
    settings.VAULT_KMS_KEY_ID = ""
    owner = UserFactory()
    contents = {document_store(owner=owner, content=os.urandom(5000)).pk: None}
    contents = {pk: read_back(Document.objects.get(pk=pk)) for pk in contents}

    kms = boto_client("kms", moto)
    for _step in range(2):
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        settings.VAULT_KMS_KEY_ID = arn
        settings.VAULT_KMS_REGION = "eu-west-3"
        settings.VAULT_KMS_ENDPOINT_URL = moto
        settings.VAULT_KMS_ACCESS_KEY_ID = "testing"
        settings.VAULT_KMS_SECRET_ACCESS_KEY = "testing"
        out = StringIO()
        call_command("vault_rotate_keys", stdout=out)
        assert f"1 user key(s) re-wrapped under kms {arn}" in out.getvalue()
        assert UserKey.objects.get(user=owner).master_key_id == arn
        for pk, content in contents.items():
            assert read_back(Document.objects.get(pk=pk)) == content


def test_kms_unreachable_is_a_clear_error(settings, moto, kms_key):
    owner = UserFactory()
    document = document_store(owner=owner, content=b"x")
    settings.VAULT_KMS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(keys.MasterKeyError, match="KMS Decrypt failed"):
        blobs.blob_open(document=document)
    assert blobs.blob_verify(document=document).reason == "key_unavailable"


def test_after_destruction_kms_cannot_bring_anything_back(moto, kms_key, s3_vault):
    owner, other = UserFactory(), UserFactory()
    mine = [document_store(owner=owner, content=os.urandom(3000)) for _ in range(2)]
    theirs = document_store(owner=other, content=b"intact")

    services.user_key_destroy(user=owner)

    for document in mine:
        with pytest.raises(keys.KeyDestroyed):
            blobs.blob_open(document=document)
    assert read_back(theirs) == b"intact"
