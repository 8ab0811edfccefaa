"""The hostile corpus through the real upload page: refused or quarantined, never served.

Each hostile sample is posted as a browser would (multipart, streamed into the
pipeline by vault/uploads.py); the customer gets a clear message, no server error,
and nothing of it can be downloaded. The benign corpus is accepted.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.vault import corpus
from tests.vault.pipeline_helpers import upload, vault_customer
from vault.models import Document, ScanStatus

pytestmark = pytest.mark.django_db


def stored_blobs(location) -> list:
    return [path for path in location.rglob("*") if path.is_file()]


@pytest.fixture
def scanning(clamd_url, settings):
    settings.CLAMD_URL = clamd_url
    return clamd_url


@pytest.mark.parametrize("sample", corpus.HOSTILE, ids=lambda sample: sample.id)
def test_hostile_files_are_refused_with_a_clear_message(
    sample, client, scanning, vault_storage, django_capture_on_commit_callbacks
):
    vault_customer(client)

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, sample.filename, sample.data())

    assert response.status_code in (302, 400)
    if sample.refused_by in ("filename", "content"):
        # Refused while streaming: the page says why, nothing is kept.
        assert response.status_code == 400
        page = response.content.decode()
        assert 'id="id_file_error"' in page
        assert 'aria-invalid="true"' in page
        assert not Document.objects.exists()
        assert stored_blobs(vault_storage) == []
        return
    # Quarantined by the scanner after storage: destroyed, the page says so.
    document = Document.objects.get()
    assert document.scan_status in (ScanStatus.INFECTED, ScanStatus.REJECTED)
    assert document.is_destroyed
    assert stored_blobs(vault_storage) == []
    detail = client.get(response["Location"])
    assert "logiciel malveillant" in detail.content.decode()
    download = client.get(reverse("vault:download", args=[document.uuid]))
    assert download.status_code == 404


@pytest.mark.parametrize("sample", corpus.BENIGN, ids=lambda sample: sample.id)
def test_benign_files_are_accepted_and_downloaded_identical(
    sample, client, scanning, django_capture_on_commit_callbacks
):
    vault_customer(client)
    data = sample.data()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, sample.filename, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    document = Document.objects.get()
    assert document.scan_status == ScanStatus.CLEAN
    download = client.get(reverse("vault:download", args=[document.uuid]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data


def test_an_upload_without_a_file_asks_for_one(client):
    vault_customer(client)

    response = client.post(reverse("vault:upload"), {"title": "Rien"})

    assert response.status_code == 400
    assert "Choisissez le fichier" in response.content.decode()


def test_an_upload_without_the_csrf_token_is_refused_and_its_blob_destroyed(
    vault_storage, settings
):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    vault_customer(client)

    response = upload(client, "avis.pdf", corpus.pdf_from_pypdf())

    assert response.status_code == 403
    assert not Document.objects.exists()
    assert stored_blobs(vault_storage) == []


def test_an_invalid_form_field_destroys_the_received_blob(client, vault_storage):
    vault_customer(client)

    response = upload(client, "avis.pdf", corpus.pdf_from_pypdf(), doc_type="not-a-type")

    assert response.status_code == 400
    assert not Document.objects.exists()
    assert stored_blobs(vault_storage) == []


def test_the_plaintext_never_reaches_a_temporary_file(client, monkeypatch, settings):
    """GIVEN an upload far above Django's in-memory threshold WHEN it is posted THEN no
    temporary upload file is created: the pieces go straight into the pipeline."""
    from django.core.files import uploadedfile

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    created = []
    original = uploadedfile.TemporaryUploadedFile.__init__

    def spy(self, *args, **kwargs):
        created.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", spy)
    vault_customer(client)
    data = corpus.pdf_from_pypdf() + b"\n%" + b"x" * (3 * 1024 * 1024)

    response = upload(client, "gros.pdf", data)

    assert response.status_code == 302
    assert created == []
    document = Document.objects.get()
    download = client.get(reverse("vault:download", args=[document.uuid]))
    assert b"".join(download.streaming_content) == data
