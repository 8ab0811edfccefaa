"""``manage.py vault_verify``: every document decrypted and checked, failures named."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.models import Event
from vault import blobs, services
from vault.crypto import CHUNK_SIZE
from vault.models import Document

from .factories import UserFactory, document_store

pytestmark = pytest.mark.django_db


def verify(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("vault_verify", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_a_healthy_vault_verifies():
    alice, bob = UserFactory(), UserFactory()
    for owner in (alice, bob):
        document_store(owner=owner, content=os.urandom(100_000))
        document_store(owner=owner, content=b"")

    code, out, err = verify()

    assert code == 0, err
    assert "4 document(s) of 2 customer(s) checked, 0 failed." in out
    event = Event.objects.get(action="vault.verify.completed")
    assert event.data == {"documents": 4, "customers": 2, "failed": 0}


def test_every_kind_of_damage_is_reported_precisely(settings):
    """GIVEN one intact document and four damaged ones (a flipped bit in the blob, a
    missing blob, a SHA-256 on the row that does not match, a destroyed owner key)
    THEN the command exits 1 and names each damaged document, its owner and the
    reason, and only those."""
    alice, bob = UserFactory(email="alice@example.test"), UserFactory()
    intact = document_store(owner=alice, content=b"intact")
    flipped = document_store(owner=alice, content=os.urandom(CHUNK_SIZE + 4_000))
    missing = document_store(owner=alice, content=b"disparu")
    wrong_hash = document_store(owner=alice, content=b"empreinte")
    shredded = document_store(owner=bob, content=b"client parti")

    path = Path(blobs.vault_storage().path(flipped.storage_key))
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x80
    path.write_bytes(bytes(raw))
    blobs.blob_destroy(document=missing)
    Document.objects.filter(pk=wrong_hash.pk).update(sha256="0" * 64)
    services.user_key_destroy(user=bob)

    code, _out, err = verify()

    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(lines) == 4
    report = "\n".join(lines)
    assert str(intact.uuid) not in report
    expectations = {
        flipped: "bad_tag at record 1",
        missing: "missing_blob",
        wrong_hash: "sha256_mismatch",
        shredded: "vault_key_destroyed",
    }
    for document, reason in expectations.items():
        (line,) = [line for line in lines if str(document.uuid) in line]
        assert f"id {document.pk}, owner {document.owner_id}" in line
        assert reason in line
    assert "<alice@example.test>" in report
    assert "5 document(s) of 2 customer(s) checked, 4 failed." in err


def test_user_filter_checks_one_customer():
    alice, bob = UserFactory(email="alice@example.test"), UserFactory()
    document_store(owner=alice)
    broken = document_store(owner=bob)
    blobs.blob_destroy(document=broken)

    code, out, _err = verify("--user", "ALICE@example.test")
    assert code == 0 and "1 document(s) of 1 customer(s) checked, 0 failed." in out

    code, _out, err = verify("--user", str(bob.pk))
    assert code == 1 and str(broken.uuid) in err


def test_destroyed_documents_are_not_expected_to_decrypt():
    document = document_store(owner=UserFactory())
    Document.objects.filter(pk=document.pk).update(
        destroyed_at=document.created_at, wrapped_key=None
    )
    blobs.blob_destroy(document=document)

    code, out, _err = verify()

    assert code == 0 and "0 document(s)" in out


def test_an_unknown_user_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no customer"):
        call_command("vault_verify", "--user", "personne@example.test")
