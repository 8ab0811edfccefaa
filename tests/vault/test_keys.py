"""The key hierarchy: user keys wrapped by the master key, data keys by the user key,
crypto-shredding, and the deploy checks on the master key."""

from __future__ import annotations

import base64
import os
import re
import uuid

import pytest
from django.db import IntegrityError, transaction

from audit.models import Event
from mynetspace.core import keyring
from tests.core.envs import manage, production_env
from vault import blobs, keys, services
from vault.crypto import BlobIntegrityError
from vault.models import Document, UserKey

from .factories import UserFactory, document_store, pieces, read_back

pytestmark = pytest.mark.django_db


def events(user, action):
    return list(Event.objects.filter(chain_key=f"user:{user.pk}", action=action))


# --- User keys ----------------------------------------------------------------------


def test_a_user_key_is_created_on_first_use_and_recorded():
    owner = UserFactory()

    user_key = services.user_key_get_or_create(user=owner)

    assert services.user_key_get_or_create(user=owner).pk == user_key.pk
    assert user_key.provider == "keyring" and user_key.version == 1
    assert user_key.wrapped_key.startswith(f"mns1.{user_key.master_key_id}.")
    (created,) = events(owner, "vault.key.created")
    assert created.data == {
        "version": 1,
        "provider": "keyring",
        "master_key_id": keyring.keyring().current_id,
    }
    material = keys.user_key_material(user_key, version=1)
    assert len(material) == 32
    assert base64.b64encode(material).decode() not in user_key.wrapped_key


def test_a_wrapped_user_key_copied_to_another_customer_does_not_open():
    """The master key wraps a user key *for* its user: a row copied between customers
    (a bug, or an attacker with database write access) yields nothing."""
    alice, mallory = UserFactory(), UserFactory()
    alice_key = services.user_key_get_or_create(user=alice)
    mallory_key = services.user_key_get_or_create(user=mallory)
    UserKey.objects.filter(pk=mallory_key.pk).update(wrapped_key=alice_key.wrapped_key)

    with pytest.raises(keys.MasterKeyError):
        keys.user_key_material(UserKey.objects.get(pk=mallory_key.pk), version=1)


def test_a_data_key_is_bound_to_its_document_owner_and_version():
    user_key = os.urandom(32)
    data_key = os.urandom(32)
    doc = uuid.uuid4()
    wrapped = keys.wrap_data_key(
        data_key, user_key=user_key, owner_id=7, document_uuid=doc, key_version=1
    )
    assert len(wrapped) == keys.WRAPPED_DATA_KEY_SIZE
    assert (
        keys.unwrap_data_key(
            wrapped, user_key=user_key, owner_id=7, document_uuid=doc, key_version=1
        )
        == data_key
    )
    for changed in (
        {"owner_id": 8, "document_uuid": doc, "key_version": 1},
        {"owner_id": 7, "document_uuid": uuid.uuid4(), "key_version": 1},
        {"owner_id": 7, "document_uuid": doc, "key_version": 2},
    ):
        with pytest.raises(BlobIntegrityError):
            keys.unwrap_data_key(wrapped, user_key=user_key, **changed)


def test_a_wrapped_data_key_moved_to_another_document_does_not_open():
    owner = UserFactory()
    first = document_store(owner=owner, content=b"premier")
    second = document_store(owner=owner, content=b"second")
    Document.objects.filter(pk=second.pk).update(wrapped_key=first.wrapped_key)

    check = blobs.blob_verify(document=Document.objects.get(pk=second.pk))

    assert check.reason == "bad_wrapped_key"


def test_the_database_refuses_a_live_key_without_material():
    owner = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        UserKey.objects.create(user=owner, provider="keyring", master_key_id="k1", wrapped_key="")


# --- Crypto-shredding ---------------------------------------------------------------------


def test_after_user_key_destruction_no_document_of_that_user_decrypts():
    """GIVEN two customers with documents
    WHEN the first one's key is destroyed (account closure)
    THEN none of their documents opens any more, with the key error, while the other
    customer's documents are untouched; the event says how many documents it hit."""
    alice, bob = UserFactory(), UserFactory()
    alice_docs = [document_store(owner=alice, content=os.urandom(70_000)) for _ in range(3)]
    bob_doc = document_store(owner=bob, content=b"bulletin de salaire")

    services.user_key_destroy(user=alice, reason="account_closed")

    for document in alice_docs:
        with pytest.raises(keys.KeyDestroyed) as caught:
            blobs.blob_open(document=Document.objects.get(pk=document.pk))
        assert caught.value.code == "vault_key_destroyed"
        assert blobs.blob_verify(document=document).reason == "vault_key_destroyed"
    assert read_back(bob_doc) == b"bulletin de salaire"
    row = UserKey.objects.get(user=alice)
    assert row.wrapped_key == "" and row.previous_wrapped_key == "" and row.destroyed_at
    (event,) = events(alice, "vault.key.destroyed")
    assert event.data == {"version": 1, "reason": "account_closed", "documents": 3}


def test_destruction_erases_the_previous_version_of_a_rotation_in_progress():
    owner = UserFactory()
    document = document_store(owner=owner)
    services.user_key_rotation_start(user_key_id=owner.vault_key.pk)

    services.user_key_destroy(user=owner)

    with pytest.raises(keys.KeyDestroyed):
        blobs.blob_open(document=Document.objects.get(pk=document.pk))
    assert UserKey.objects.get(user=owner).previous_wrapped_key == ""


def test_destruction_is_idempotent_and_a_closed_vault_gets_no_new_key():
    owner = UserFactory()
    services.user_key_destroy(user=owner)  # never had a key
    services.user_key_destroy(user=owner)

    with pytest.raises(keys.KeyDestroyed):
        blobs.blob_write(owner=owner, chunks=pieces(b"nouveau"))
    assert len(events(owner, "vault.key.destroyed")) == 1
    assert UserKey.objects.get(user=owner).is_destroyed


# --- check --deploy -------------------------------------------------------------------------


def reported_ids(output: str) -> set[str]:
    return set(re.findall(r"\(([a-z_]+\.[EW]\d{3})\)", output))


@pytest.mark.django_db(False)
def test_check_deploy_refuses_a_generated_master_key_unless_kms_wraps_the_vault(tmp_path):
    generated = production_env(tmp_path, ENCRYPTION_KEYS=None)
    assert "vault.E002" in reported_ids(manage("check", "--deploy", env=generated).stderr)

    with_kms = production_env(
        tmp_path,
        ENCRYPTION_KEYS=None,
        VAULT_KMS_KEY_ID="arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    ids = reported_ids(manage("check", "--deploy", env=with_kms).stderr)
    assert "vault.E002" not in ids and "vault.E003" not in ids


def test_a_kms_key_without_a_known_region_is_refused(settings):
    from vault.checks import vault_kms_region_known

    settings.VAULT_KMS_KEY_ID = "alias/coffre"
    settings.VAULT_KMS_REGION = ""
    assert vault_kms_region_known()
    settings.VAULT_KMS_REGION = "eu-west-3"
    assert vault_kms_region_known() is None
