"""Export of the whole vault: /coffre/export/, the archive, its manifest and trail."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from tests.accounts.privacy_helpers import login_recently_reauthenticated
from tests.vault.access_helpers import activated_customer
from tests.vault.factories import document_store
from vault import export, sharing
from vault.models import Document, ScanStatus, Tag
from vault.services import user_key_destroy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner():
    return activated_customer()


def archive(user) -> zipfile.ZipFile:
    data = b"".join(export.vault_export_stream(user, generated_at=timezone.now()))
    return zipfile.ZipFile(io.BytesIO(data))


def test_archive_holds_originals_manifest_and_trail(owner):
    pdf = document_store(owner=owner, content=b"%PDF-1.4 avis", original_name="avis.pdf")
    pdf.tags.add(Tag.objects.create(owner=owner, name="Impôts"))
    twin = document_store(owner=owner, content=b"%PDF-1.4 autre", original_name="AVIS.pdf")
    trashed = document_store(owner=owner, content="jeté".encode(), original_name="vieux.txt")
    Document.objects.filter(pk=trashed.pk).update(trashed_at=timezone.now())
    pending = document_store(
        owner=owner, original_name="attente.pdf", scan_status=ScanStatus.PENDING_SCAN
    )
    sharing.share_create(document=pdf, acting_user=owner)

    zf = archive(owner)
    assert zf.testzip() is None
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "mynetspace-vault-export"
    assert manifest["format_version"] == export.FORMAT_VERSION
    assert manifest["complete"] is True
    entries = {entry["uuid"]: entry for entry in manifest["documents"]}
    assert set(entries) == {str(d.uuid) for d in (pdf, twin, trashed, pending)}
    # Names stay safe and unique, case-insensitively.
    assert entries[str(pdf.uuid)]["path"] == "documents/avis.pdf"
    assert entries[str(twin.uuid)]["path"] == "documents/AVIS (2).pdf"
    assert entries[str(trashed.uuid)]["path"] == "corbeille/vieux.txt"
    assert entries[str(pending.uuid)]["path"] is None
    assert entries[str(pending.uuid)]["note"] == "pending_scan"
    entry = entries[str(pdf.uuid)]
    assert entry["tags"] == ["Impôts"]
    assert entry["sha256"] == hashlib.sha256(b"%PDF-1.4 avis").hexdigest()
    for key in (
        "id",
        "title",
        "type",
        "original_name",
        "content_type",
        "size",
        "created_at",
        "source",
        "scan_status",
        "complete",
    ):
        assert key in entry
    for item in manifest["documents"]:
        if item["path"]:
            content = zf.read(item["path"])
            assert hashlib.sha256(content).hexdigest() == item["sha256"]
    trail = [json.loads(line) for line in zf.read("journal-coffre.jsonl").splitlines()]
    assert {"vault.share_created"} <= {row["action"] for row in trail}
    assert all(row["action"].startswith("vault.") for row in trail)
    chain = {e.seq: e.hash for e in Event.objects.filter(chain_key=f"user:{owner.pk}")}
    assert all(chain[row["seq"]] == row["hash"] for row in trail)
    assert "LISEZMOI.txt" in zf.namelist()


def test_another_customer_s_documents_never_appear(owner):
    other = activated_customer()
    document_store(owner=other, content=b"secret d'un autre", original_name="autre.pdf")
    mine = document_store(owner=owner, content=b"le mien", original_name="mien.pdf")
    zf = archive(owner)
    manifest = json.loads(zf.read("manifest.json"))
    assert [e["uuid"] for e in manifest["documents"]] == [str(mine.uuid)]
    assert all(b"secret d'un autre" not in zf.read(n) for n in zf.namelist())


def test_memory_stays_bounded_while_exporting_several_megabytes(owner):
    """GIVEN 12 MB of documents
    WHEN the archive is streamed
    THEN the pieces are small and Python's peak allocation stays far below the total."""
    size = 4 * 1024 * 1024
    for n in range(3):
        document_store(owner=owner, content=os.urandom(size), original_name=f"gros-{n}.bin")
    total = 0
    biggest = 0
    tracemalloc.start()
    try:
        for piece in export.vault_export_stream(owner, generated_at=timezone.now()):
            total += len(piece)
            biggest = max(biggest, len(piece))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 3 * size
    assert biggest < 1024 * 1024
    assert peak < 3 * 1024 * 1024, peak


def test_export_view_requires_reauthentication_then_streams_a_zip(client, owner):
    document_store(owner=owner, content=b"%PDF-1.4 x", original_name="x.pdf")
    client.force_login(owner)
    # The page explains; the export itself asks for the password again first.
    assert client.get(reverse("vault:export")).status_code == 200
    response = client.post(reverse("vault:export"))
    assert response.status_code == 302
    assert "/accounts/reauthenticate/" in response["Location"]
    assert not Event.objects.filter(action="vault.export_downloaded").exists()
    login_recently_reauthenticated(client, owner)
    response = client.post(reverse("vault:export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    zf = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "documents/x.pdf" in zf.namelist()
    event = Event.objects.get(chain_key=f"user:{owner.pk}", action="vault.export_downloaded")
    assert event.data["documents"] == 1
    # Free and unlimited: a second export works just as well.
    assert client.post(reverse("vault:export")).status_code == 200


def test_export_of_a_shredded_vault_is_refused_clearly(client, owner):
    document_store(owner=owner)
    user_key_destroy(user=owner, reason="test")
    login_recently_reauthenticated(client, owner)
    response = client.post(reverse("vault:export"))
    assert response.status_code == 409
    assert not Event.objects.filter(action="vault.export_downloaded").exists()


def test_metadata_section_of_the_account_export(owner):
    from vault.registrations import vault_export_section

    document = document_store(owner=owner, original_name="avis.pdf")
    link, token = sharing.share_create(document=document, acting_user=owner)
    section = vault_export_section(owner)
    assert section["documents"][0]["uuid"] == str(document.uuid)
    assert "/coffre/export/" in section["note"]
    assert section["share_links"][0]["id"] == link.pk
    assert "token_sha256" not in section["share_links"][0]
    assert token not in json.dumps(section, default=str)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("", "document-"),
        ("rapport\u202egpj.exe", "document-"),
    ],
)
def test_archive_names_are_safe(owner, name, expected):
    document = document_store(owner=owner, original_name=name, title="x")
    if not name:
        Document.objects.filter(pk=document.pk).update(title="x")
    got = export.archive_name(Document.objects.get(pk=document.pk), set())
    assert "/" not in got and "\\" not in got and "\u202e" not in got
    assert got.startswith(expected) or (not name and got.startswith("x"))
