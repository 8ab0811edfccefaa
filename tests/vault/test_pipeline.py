"""The upload pipeline (vault.services.document_store): checks, storage, scan, refusals.

Whatever goes wrong, nothing is half-stored: no Document row and no blob left in the
vault storage. Scans run against a real clamd (``clamd_url``, ``private_clamd``).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from mynetspace.core import tasks as core_tasks
from mynetspace.core.errors import DomainError
from tests.vault import corpus
from tests.vault.factories import UserFactory, pieces, read_back
from vault import keys, quota, services
from vault.models import Document, DocumentSource, ScanStatus
from vault.selectors import document_is_servable

pytestmark = pytest.mark.django_db


def stored_blobs(location) -> list:
    return [path for path in location.rglob("*") if path.is_file()]


def store(user, data: bytes, filename: str = "avis.pdf", **kwargs) -> Document:
    kwargs.setdefault("source", DocumentSource.UPLOAD)
    return services.document_store(owner=user, chunks=pieces(data), filename=filename, **kwargs)


def actions(user) -> list[str]:
    return list(
        Event.objects.filter(chain_key=f"user:{user.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )


# --- Accepted files ------------------------------------------------------------------------


@pytest.mark.parametrize("sample", corpus.BENIGN, ids=lambda sample: sample.id)
def test_benign_files_are_stored_encrypted_and_read_back_identical(sample, vault_storage):
    user = UserFactory()
    data = sample.data()

    document = store(user, data, sample.filename)

    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.size == len(data)
    assert document.original_name == (sample.clean_name or sample.filename)
    if sample.content_type:
        assert document.content_type == sample.content_type
    assert read_back(document) == data
    (blob,) = stored_blobs(vault_storage)
    assert data[:64] not in blob.read_bytes()


def test_a_stored_document_records_its_event_with_name_size_and_digest():
    user = UserFactory()
    data = corpus.pdf_from_pypdf()

    document = store(user, data, "Avis 2025.pdf", title="Mon avis", doc_type="tax_notice")

    event = Event.objects.get(action="vault.document_stored")
    assert event.chain_key == f"user:{user.pk}"
    assert event.target_id == str(document.pk)
    assert event.data["name"] == "Avis 2025.pdf"
    assert event.data["title"] == "Mon avis"
    assert event.data["sha256"] == document.sha256
    assert event.data["size"] == len(data)
    assert document.doc_type == "tax_notice"


def test_without_a_scanner_documents_are_unscanned_and_servable_only_then(settings):
    """GIVEN no CLAMD_URL (the embedded default) WHEN a document is stored THEN it is
    'unscanned', servable; once a scanner is configured it is not until scanned."""
    settings.CLAMD_URL = ""
    document = store(UserFactory(), corpus.pdf_from_pypdf())

    assert document.scan_status == ScanStatus.UNSCANNED
    assert document_is_servable(document)
    settings.CLAMD_URL = "tcp://127.0.0.1:1"
    assert not document_is_servable(document)


def test_the_title_defaults_to_the_clean_file_name():
    document = store(UserFactory(), corpus.pdf_from_pypdf(), "../../etc/relevé.pdf")

    assert document.title == "relevé.pdf"
    assert document.original_name == "relevé.pdf"


# --- Refusals: nothing half-stored --------------------------------------------------------


@pytest.mark.parametrize(
    "sample",
    [sample for sample in corpus.HOSTILE if sample.refused_by in ("filename", "content")],
    ids=lambda sample: sample.id,
)
def test_refused_files_leave_no_row_and_no_blob(sample, vault_storage):
    user = UserFactory()

    with pytest.raises(DomainError) as refused:
        services.document_store(
            owner=user, chunks=sample.chunks(), filename=sample.filename, source="upload"
        )

    assert refused.value.code == sample.code
    assert str(refused.value.message)
    assert not Document.objects.exists()
    assert stored_blobs(vault_storage) == []
    assert actions(user)[-1] == "vault.upload_refused"


def test_a_failing_transaction_destroys_the_blob_it_wrote(monkeypatch, vault_storage):
    """GIVEN a key rotation that finished during the upload WHEN the row is created
    THEN the transaction fails, and the blob already written is deleted."""
    from vault import blobs

    def rotated(**kwargs):
        raise keys.KeyVersionGone()

    monkeypatch.setattr(blobs, "blob_key_check", rotated)

    with pytest.raises(keys.KeyVersionGone):
        store(UserFactory(), corpus.pdf_from_pypdf())

    assert not Document.objects.exists()
    assert stored_blobs(vault_storage) == []


def test_a_declared_size_over_the_limit_is_refused_before_reading(settings):
    settings.UPLOAD_MAX_BYTES = 1000

    def never():
        raise AssertionError("the chunks must not be read")
        yield b""

    with pytest.raises(DomainError) as refused:
        services.document_store(
            owner=UserFactory(),
            chunks=never(),
            filename="a.pdf",
            source="upload",
            declared_size=1001,
        )
    assert refused.value.code == "vault.file_too_large"


# --- Quota ----------------------------------------------------------------------------------


def test_the_free_quota_applies_without_a_subscription(settings, vault_storage):
    settings.VAULT_FREE_QUOTA_MB = 0
    user = UserFactory()

    with pytest.raises(DomainError) as refused:
        store(user, corpus.pdf_from_pypdf())

    assert refused.value.code == "vault.quota_exceeded"
    assert "plein" in str(refused.value.message)
    assert stored_blobs(vault_storage) == []


def test_the_quota_counts_every_document_not_destroyed_trash_included(settings):
    data = corpus.pdf_from_pypdf()
    user = UserFactory()
    settings.VAULT_FREE_QUOTA_MB = 1
    first = store(user, data)
    services.document_trash(document=first, actor=user)
    assert quota.usage_bytes_for(user) == len(data)

    settings.VAULT_FREE_QUOTA_MB = 0
    with pytest.raises(DomainError):
        store(user, data)
    services.document_destroy(document=first, actor=user)
    assert quota.usage_bytes_for(user) == 0


def test_a_registered_quota_source_wins_over_the_free_quota(settings):
    settings.VAULT_FREE_QUOTA_MB = 0
    user = UserFactory()

    def plan_quota(customer):
        return 10 * 1024 * 1024 if customer.pk == user.pk else None

    quota.register_quota_source(plan_quota)
    try:
        document = store(user, corpus.pdf_from_pypdf())
        assert quota.quota_bytes_for(user) == 10 * 1024 * 1024
        assert quota.quota_bytes_for(UserFactory()) == 0
    finally:
        quota.unregister_quota_source(plan_quota)
    assert document.pk


def test_what_the_service_produces_is_never_refused_for_quota(settings):
    settings.VAULT_FREE_QUOTA_MB = 0
    user = UserFactory()

    document = store(user, corpus.pdf_from_pypdf(), source=DocumentSource.SERVICE)

    assert document.source == DocumentSource.SERVICE
    assert quota.usage_bytes_for(user) == document.size


def test_the_quota_is_checked_while_streaming(settings, vault_storage):
    """GIVEN 1 MiB free WHEN a 2 MiB upload arrives without a declared size THEN it is
    refused once the free space is passed, and the partial blob deleted."""
    settings.VAULT_FREE_QUOTA_MB = 1
    data = corpus.pdf_from_pypdf() + b"\n%" + b"0" * (2 * 1024 * 1024)

    with pytest.raises(DomainError) as refused:
        store(UserFactory(), data)

    assert refused.value.code == "vault.quota_exceeded"
    assert stored_blobs(vault_storage) == []


# --- Scanning -------------------------------------------------------------------------------


def test_eicar_is_found_by_clamd_refused_and_its_blob_destroyed(
    clamd_url, settings, vault_storage, django_capture_on_commit_callbacks
):
    settings.CLAMD_URL = clamd_url
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        document = store(user, corpus.eicar(), "eicar.txt")
        assert document.scan_status == ScanStatus.PENDING_SCAN

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.INFECTED
    assert "Eicar" in document.scan_detail
    assert document.wrapped_key is None
    assert document.destroyed_at is not None
    assert stored_blobs(vault_storage) == []
    assert not document_is_servable(document)
    event = Event.objects.get(action="vault.document_infected")
    assert event.data["signature"].startswith("Eicar")


def test_a_clean_file_becomes_clean_after_the_scan(
    clamd_url, settings, django_capture_on_commit_callbacks
):
    settings.CLAMD_URL = clamd_url
    with django_capture_on_commit_callbacks(execute=True):
        document = store(UserFactory(), corpus.pdf_from_pypdf())

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.CLEAN
    assert document.scanned_at is not None
    assert document_is_servable(document)


def test_a_file_too_large_for_the_scanner_is_rejected_never_clean(
    clamd_url, settings, vault_storage, django_capture_on_commit_callbacks
):
    settings.CLAMD_URL = clamd_url
    settings.VAULT_SCAN_MAX_BYTES = 100
    with django_capture_on_commit_callbacks(execute=True):
        document = store(UserFactory(), corpus.pdf_from_pypdf())

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.REJECTED
    assert document.is_destroyed
    assert stored_blobs(vault_storage) == []


def test_with_clamd_down_the_document_waits_then_is_scanned_when_clamd_is_back(
    private_clamd, settings, django_capture_on_commit_callbacks
):
    """GIVEN clamd stopped WHEN a document is stored THEN it stays pending_scan and not
    servable; the sweeper lists it; once clamd is back the task makes it clean."""
    server = private_clamd()
    settings.CLAMD_URL = server.url
    settings.CLAMD_CONNECT_TIMEOUT = 1
    server.stop()

    with django_capture_on_commit_callbacks(execute=True):
        document = store(UserFactory(), corpus.pdf_from_pypdf())

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.PENDING_SCAN
    assert document.scan_attempts == 1
    assert not document_is_servable(document)
    later = timezone.now() + timedelta(hours=1)
    kinds = {kind.name: kind for kind in core_tasks.pending_work_kinds()}
    assert document.pk in list(kinds["vault.document_scan"].find(later, 10))

    server.start()
    kinds["vault.document_scan"].task.apply(args=(document.pk,))

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.CLEAN
    assert document.pk not in list(kinds["vault.document_scan"].find(later, 10))


def test_a_scan_is_idempotent(clamd_url, settings, django_capture_on_commit_callbacks):
    settings.CLAMD_URL = clamd_url
    with django_capture_on_commit_callbacks(execute=True):
        document = store(UserFactory(), corpus.pdf_from_pypdf())

    services.document_scan(document_id=document.pk)
    services.document_scan(document_id=document.pk)

    assert Event.objects.filter(action="vault.document_scanned").count() == 1


def test_a_document_whose_blob_is_damaged_is_rejected_by_the_scan(
    clamd_url, settings, vault_storage
):
    settings.CLAMD_URL = clamd_url
    document = store(UserFactory(), corpus.pdf_from_pypdf())
    (blob,) = stored_blobs(vault_storage)
    raw = bytearray(blob.read_bytes())
    raw[-1] ^= 1
    blob.write_bytes(bytes(raw))

    document = services.document_scan(document_id=document.pk)

    assert document.scan_status == ScanStatus.REJECTED
    assert "blob unreadable" in document.scan_detail


# --- Trash ----------------------------------------------------------------------------------


def test_trash_restore_and_purge_after_thirty_days(
    vault_storage, django_capture_on_commit_callbacks
):
    user = UserFactory()
    kept = store(user, corpus.pdf_from_pypdf())
    old = store(user, corpus.pdf_from_pypdf())
    services.document_trash(document=kept, actor=user)
    services.document_restore(document=kept, actor=user)
    services.document_trash(document=old, actor=user)
    Document.objects.filter(pk=old.pk).update(trashed_at=timezone.now() - timedelta(days=31))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.trash_purge() == 1

    old.refresh_from_db()
    kept.refresh_from_db()
    assert old.is_destroyed and old.wrapped_key is None
    assert not kept.is_trashed and not kept.is_destroyed
    assert len(stored_blobs(vault_storage)) == 1
    destroyed = Event.objects.get(action="vault.document_destroyed")
    assert destroyed.data["reason"] == "trash_expired"
    assert services.trash_purge() == 0


def test_a_document_trashed_29_days_ago_is_kept():
    user = UserFactory()
    document = store(user, corpus.pdf_from_pypdf())
    services.document_trash(document=document, actor=user)
    Document.objects.filter(pk=document.pk).update(trashed_at=timezone.now() - timedelta(days=29))

    assert services.trash_purge() == 0


def test_changes_to_a_destroyed_document_are_refused():
    user = UserFactory()
    document = store(user, corpus.pdf_from_pypdf())
    services.document_destroy(document=document, actor=user)

    with pytest.raises(DomainError) as refused:
        services.document_rename(document=document, title="Autre", actor=user)
    assert refused.value.code == "vault.document_destroyed"


def test_dates_in_the_wrong_order_are_refused():
    user = UserFactory()
    document = store(user, corpus.pdf_from_pypdf())
    today = timezone.localdate()

    with pytest.raises(DomainError) as refused:
        services.document_dates_set(
            document=document, issued_on=today, expires_on=today - timedelta(days=1), actor=user
        )
    assert refused.value.code == "vault.dates_order"


def test_tags_are_shared_between_documents_case_insensitively():
    user = UserFactory()
    first = store(user, corpus.pdf_from_pypdf())
    second = store(user, corpus.pdf_from_pypdf())

    services.document_tags_set(document=first, names=["Impôts"], actor=user)
    services.document_tags_set(document=second, names=["impôts", "Famille"], actor=user)

    assert user.vault_tags.count() == 2
    assert sorted(t.name for t in second.tags.all()) == ["Famille", "Impôts"]
