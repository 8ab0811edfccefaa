"""``manage.py vault_rotate_keys``: re-wrap without touching blobs, resumable, idempotent."""

from __future__ import annotations

import base64
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import Event
from vault import blobs, services
from vault.models import Document, UserKey

from .factories import UserFactory, document_store, read_back

pytestmark = pytest.mark.django_db


def new_ring_key(key_id: str) -> str:
    return f"{key_id}:" + base64.b64encode(os.urandom(32)).decode()


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("vault_rotate_keys", *args, stdout=out)
    return out.getvalue()


def blob_bytes(document: Document) -> bytes:
    with blobs.vault_storage().open(document.storage_key, "rb") as stored:
        return stored.read()


@pytest.fixture
def old_ring(settings):
    settings.ENCRYPTION_KEYS = new_ring_key("old")
    return settings.ENCRYPTION_KEYS


@pytest.fixture
def vaults(old_ring):
    """Three customers with two documents each, every key under the "old" master key."""
    contents = {}
    for _ in range(3):
        owner = UserFactory()
        for _ in range(2):
            content = os.urandom(80_000)
            contents[document_store(owner=owner, content=content).pk] = content
    return contents


def assert_all_readable(contents: dict[int, bytes]) -> None:
    for pk, content in contents.items():
        assert read_back(Document.objects.get(pk=pk)) == content


def test_master_key_rotation_rewraps_user_keys_and_leaves_blobs_alone(settings, vaults, old_ring):
    """GIVEN keys wrapped under master key "old"
    WHEN a new key "new" is put first in the ring and the command runs
    THEN every user key is wrapped under "new", the blobs are byte-identical, and once
    "old" is removed from the ring every document still opens."""
    blobs_before = {pk: blob_bytes(Document.objects.get(pk=pk)) for pk in vaults}
    settings.ENCRYPTION_KEYS = new_ring_key("new") + "," + old_ring

    output = rotate()

    assert "3 user key(s) re-wrapped under keyring new" in output
    assert set(UserKey.objects.values_list("master_key_id", flat=True)) == {"new"}
    assert {pk: blob_bytes(Document.objects.get(pk=pk)) for pk in vaults} == blobs_before
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS.split(",")[0]
    assert_all_readable(vaults)
    assert "0 user key(s) re-wrapped" in rotate(), "a second run has nothing to do"
    assert Event.objects.filter(action="vault.key.rewrapped").count() == 3


def test_an_interrupted_master_key_rotation_resumes_on_rerun(
    settings, vaults, old_ring, monkeypatch
):
    """GIVEN a rotation that crashes after re-wrapping one user key
    WHEN it is run again
    THEN it re-wraps the rest only, and every document opens with the new key alone."""
    settings.ENCRYPTION_KEYS = new_ring_key("new") + "," + old_ring
    real = services.user_key_rewrap
    calls = {"n": 0}

    def crash_after_one(**kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt("operator pressed Ctrl-C")
        calls["n"] += 1
        return real(**kwargs)

    monkeypatch.setattr(services, "user_key_rewrap", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        rotate()
    assert sorted(UserKey.objects.values_list("master_key_id", flat=True)) == [
        "new",
        "old",
        "old",
    ]
    assert_all_readable(vaults)  # halfway: both keys still in the ring, all readable
    monkeypatch.setattr(services, "user_key_rewrap", real)

    assert "2 user key(s) re-wrapped" in rotate()

    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS.split(",")[0]
    assert_all_readable(vaults)


def test_user_key_rotation_rewraps_every_data_key_in_batches(vaults):
    cutoff = timezone.now().isoformat()
    blobs_before = {pk: blob_bytes(Document.objects.get(pk=pk)) for pk in vaults}

    output = rotate("--new-user-keys-before", cutoff, "--batch-size", "1")

    assert "3 user key rotation(s) started" in output
    assert "6 document key(s) re-wrapped; 3 rotation(s) finished." in output
    for user_key in UserKey.objects.all():
        assert user_key.version == 2 and not user_key.rotation_in_progress
        assert user_key.previous_wrapped_key == ""
    assert set(Document.objects.values_list("key_version", flat=True)) == {2}
    assert {pk: blob_bytes(Document.objects.get(pk=pk)) for pk in vaults} == blobs_before
    assert_all_readable(vaults)
    again = rotate("--new-user-keys-before", cutoff)
    assert "0 user key rotation(s) started" in again, "same cutoff: nothing to redo"


def test_an_interrupted_user_key_rotation_leaves_everything_readable_and_resumes(
    vaults, monkeypatch
):
    """GIVEN a user-key rotation that crashes after two batches of one document
    THEN every document still opens (old and new versions coexist), and a rerun with
    the same cutoff finishes the work without starting new rotations."""
    cutoff = timezone.now().isoformat()
    real = services.document_keys_rewrap
    calls = {"n": 0}

    def crash_after_two_batches(**kwargs):
        if calls["n"] == 2:
            raise ConnectionError("database connection lost")
        calls["n"] += 1
        return real(**kwargs)

    monkeypatch.setattr(services, "document_keys_rewrap", crash_after_two_batches)
    with pytest.raises(ConnectionError):
        rotate("--new-user-keys-before", cutoff, "--batch-size", "1")
    versions = sorted(Document.objects.values_list("key_version", flat=True))
    assert versions == [1, 1, 1, 1, 2, 2]
    assert_all_readable(vaults)
    monkeypatch.setattr(services, "document_keys_rewrap", real)

    output = rotate("--new-user-keys-before", cutoff, "--batch-size", "1")

    assert "0 user key rotation(s) started" in output
    assert "4 document key(s) re-wrapped; 3 rotation(s) finished." in output
    assert set(UserKey.objects.values_list("version", flat=True)) == {2}
    assert_all_readable(vaults)


def test_a_document_added_during_a_rotation_is_rewrapped_too(vaults):
    owner = UserKey.objects.first().user
    services.user_key_rotation_start(user_key_id=owner.vault_key.pk)
    late = document_store(owner=owner, content=b"arrive pendant la rotation")
    assert late.key_version == 2

    rotate()

    assert read_back(late) == b"arrive pendant la rotation"
    assert not UserKey.objects.get(user=owner).rotation_in_progress


def test_destroyed_keys_are_skipped(settings, vaults, old_ring):
    owner = UserKey.objects.first().user
    services.user_key_destroy(user=owner)
    settings.ENCRYPTION_KEYS = new_ring_key("new") + "," + old_ring

    assert "2 user key(s) re-wrapped" in rotate()
    assert UserKey.objects.get(user=owner).wrapped_key == ""


def test_a_bad_cutoff_is_refused(vaults):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="ISO 8601"):
        rotate("--new-user-keys-before", "hier")
