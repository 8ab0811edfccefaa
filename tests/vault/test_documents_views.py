"""The customer's document pages: list, detail, edit, download and view, trash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from tests.vault import corpus
from tests.vault.factories import document_store as stored_document
from tests.vault.pipeline_helpers import upload, vault_customer
from vault import services
from vault.models import Document, ScanStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(client):
    return vault_customer(client)


def make(owner, title="Avis d'imposition 2024", **fields) -> Document:
    return stored_document(owner=owner, content=corpus.pdf_from_pypdf(), title=title, **fields)


# --- List ----------------------------------------------------------------------------------


def test_the_list_searches_title_and_original_name(client, customer):
    make(customer, "Mon passeport Xq", original_name="scan-001.pdf")
    make(customer, "Bulletin de mars", original_name="paie-mars.pdf")

    by_title = client.get(reverse("vault:documents"), {"q": "PASSEPORT x"}).content.decode()
    by_name = client.get(reverse("vault:documents"), {"q": "paie-"}).content.decode()

    assert "Mon passeport Xq" in by_title and "Bulletin de mars" not in by_title
    assert "Bulletin de mars" in by_name and "Mon passeport Xq" not in by_name


def test_the_list_filters_by_type_and_tag_and_sorts(client, customer):
    passport = make(customer, "B passeport", doc_type="passport")
    payslip = make(customer, "A bulletin", doc_type="payslip")
    services.document_tags_set(document=payslip, names=["Travail"], actor=customer)
    services.document_dates_set(
        document=passport,
        issued_on=None,
        expires_on=timezone.localdate() + timedelta(days=10),
        actor=customer,
    )

    typed = client.get(reverse("vault:documents"), {"type": "passport"}).content.decode()
    tagged = client.get(reverse("vault:documents"), {"tag": "travail"}).content.decode()
    by_title = client.get(reverse("vault:documents"), {"sort": "title"}).content.decode()
    by_expiry = client.get(reverse("vault:documents"), {"sort": "expiry"}).content.decode()

    assert "B passeport" in typed and "A bulletin" not in typed
    assert "A bulletin" in tagged and "B passeport" not in tagged
    assert by_title.index("A bulletin") < by_title.index("B passeport")
    assert by_expiry.index("B passeport") < by_expiry.index("A bulletin")


def test_unknown_filter_values_fall_back_instead_of_failing(client, customer):
    make(customer, "Mon passeport Xq")

    response = client.get(
        reverse("vault:documents"), {"type": "nope", "sort": "'; DROP", "page": "x"}
    )

    assert response.status_code == 200
    assert "Mon passeport Xq" in response.content.decode()


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("vault:documents"))
    assert response.status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_1_and_50_documents(client, customer):
    make(customer, "Premier")
    services.document_tags_set(document=Document.objects.get(), names=["Impôts"], actor=customer)
    one = _list_queries(client)
    for index in range(49):
        document = make(customer, f"Document {index}")
        services.document_tags_set(document=document, names=[f"T{index}", "Impôts"], actor=customer)

    fifty = _list_queries(client)

    assert one == fifty


def test_the_list_hides_trashed_and_other_customers_documents(client, customer):
    trashed = make(customer, "À la corbeille")
    services.document_trash(document=trashed, actor=customer)
    make(vault_customer(), "Pas à moi")
    make(customer, "Le mien")

    page = client.get(reverse("vault:documents")).content.decode()

    assert "Le mien" in page
    assert "À la corbeille" not in page and "Pas à moi" not in page


# --- Detail and edit -----------------------------------------------------------------------


def test_the_detail_shows_metadata_digest_status_and_trail(client, customer):
    response = upload(client, "avis.pdf", corpus.pdf_from_pypdf(), title="Mon avis")
    document = Document.objects.get()

    page = client.get(response["Location"]).content.decode()

    assert "Mon avis" in page
    assert document.sha256 in page
    assert "Document « Mon avis » ajouté à votre coffre" in page


def test_editing_records_one_event_per_change(client, customer):
    document = make(customer, "Avis")
    url = reverse("vault:document_edit", args=[document.uuid])

    response = client.post(
        url,
        {
            "title": "Avis 2024",
            "doc_type": "tax_notice",
            "tags": "Impôts, famille, impôts",
            "issued_on": "2024-08-01",
            "expires_on": "",
        },
    )

    assert response.status_code == 302
    document.refresh_from_db()
    assert document.title == "Avis 2024"
    assert document.doc_type == "tax_notice"
    assert sorted(tag.name for tag in document.tags.all()) == ["Impôts", "famille"]
    assert str(document.issued_on) == "2024-08-01"
    actions = set(Event.objects.filter(target_id=str(document.pk)).values_list("action", flat=True))
    assert {
        "vault.document_renamed",
        "vault.document_retyped",
        "vault.document_tagged",
        "vault.document_dates_set",
    } <= actions


def test_edit_errors_are_clear_and_change_nothing(client, customer):
    document = make(customer, "Avis")

    response = client.post(
        reverse("vault:document_edit", args=[document.uuid]),
        {
            "title": "  ",
            "doc_type": "passport",
            "tags": "x" * 51,
            "issued_on": "2024-13-45",
            "expires_on": "2020-01-01",
        },
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Donnez un titre à ce document." in page
    assert "50 caractères" in page
    assert 'aria-invalid="true"' in page
    document.refresh_from_db()
    assert document.title == "Avis" and document.doc_type == "other"


def test_expiry_before_issue_is_a_form_error(client, customer):
    document = make(customer, "Passeport")

    response = client.post(
        reverse("vault:document_edit", args=[document.uuid]),
        {
            "title": "Passeport",
            "doc_type": "passport",
            "issued_on": "2024-05-01",
            "expires_on": "2024-04-01",
        },
    )

    assert response.status_code == 400
    assert "ne peut pas précéder" in response.content.decode()


# --- Download and view ---------------------------------------------------------------------


def test_a_download_is_byte_identical_with_the_safe_headers(client, customer):
    data = corpus.pdf_from_pypdf()
    upload(client, "Relevé d'impôt.pdf", data, title="Impôts « 2024 »")
    document = Document.objects.get()

    response = client.get(reverse("vault:download", args=[document.uuid]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(data))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''Imp%C3%B4ts%20%C2%AB%202024%20%C2%BB.pdf" in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Cache-Control"] == "no-store"
    assert Event.objects.filter(action="vault.document_downloaded").count() == 1


def test_images_are_viewed_inline_in_a_sandbox(client, customer):
    png = corpus.image_bytes("PNG")
    upload(client, "photo.png", png)
    document = Document.objects.get()

    response = client.get(reverse("vault:view", args=[document.uuid]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Security-Policy"] == "sandbox"
    assert b"".join(response.streaming_content) == png
    assert Event.objects.filter(action="vault.document_viewed").count() == 1


def test_pdfs_are_viewed_inline_under_a_strict_policy(client, customer):
    upload(client, "avis.pdf", corpus.pdf_from_pypdf())
    document = Document.objects.get()

    response = client.get(reverse("vault:view", args=[document.uuid]))

    assert response["Content-Disposition"].startswith("inline;")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_text_file_is_never_shown_inline(client, customer):
    upload(client, "notes.txt", "Relevé de compte\n".encode())
    document = Document.objects.get()

    response = client.get(reverse("vault:view", args=[document.uuid]))

    assert response.status_code == 302
    assert response["Location"] == reverse("vault:download", args=[document.uuid])


def test_a_download_needs_a_recent_authentication(client):
    customer = vault_customer()
    client.force_login(customer)
    document = make(customer)

    response = client.get(reverse("vault:download", args=[document.uuid]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not Event.objects.filter(action="vault.document_downloaded").exists()


@pytest.mark.parametrize(
    "status", [ScanStatus.PENDING_SCAN, ScanStatus.UNSCANNED], ids=["pending", "unscanned"]
)
def test_a_document_not_yet_clean_cannot_be_downloaded(client, customer, settings, status):
    settings.CLAMD_URL = "tcp://127.0.0.1:1"
    document = make(customer, scan_status=status)

    response = client.get(reverse("vault:download", args=[document.uuid]))
    view = client.get(reverse("vault:view", args=[document.uuid]))

    assert response.status_code == view.status_code == 409
    assert "antivirus" in response.content.decode()
    assert not Event.objects.filter(action="vault.document_downloaded").exists()


def test_a_damaged_blob_is_never_served(client, customer, vault_storage):
    document = make(customer)
    (blob,) = [path for path in vault_storage.rglob("*") if path.is_file()]
    raw = bytearray(blob.read_bytes())
    raw[40] ^= 1
    blob.write_bytes(bytes(raw))

    response = client.get(reverse("vault:download", args=[document.uuid]))

    # The first record fails before any byte is sent; later ones cut the response.
    if response.status_code == 200:
        with pytest.raises(Exception):  # noqa: B017 - any integrity error ends the stream
            b"".join(response.streaming_content)
    else:
        assert response.status_code == 409


# --- Trash ---------------------------------------------------------------------------------


def test_trash_restore_and_destroy_on_demand(
    client, customer, vault_storage, django_capture_on_commit_callbacks
):
    document = make(customer, "Vieux relevé")

    client.post(reverse("vault:document_trash", args=[document.uuid]))
    trash = client.get(reverse("vault:trash")).content.decode()
    assert "Vieux relevé" in trash
    assert client.get(reverse("vault:download", args=[document.uuid])).status_code == 404

    client.post(reverse("vault:document_restore", args=[document.uuid]))
    assert client.get(reverse("vault:download", args=[document.uuid])).status_code == 200

    client.post(reverse("vault:document_trash", args=[document.uuid]))
    confirm = client.get(reverse("vault:document_destroy", args=[document.uuid]))
    assert "définitivement" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("vault:document_destroy", args=[document.uuid]))

    document.refresh_from_db()
    assert document.is_destroyed and document.wrapped_key is None
    assert [path for path in vault_storage.rglob("*") if path.is_file()] == []
    assert client.get(reverse("vault:download", args=[document.uuid])).status_code == 404


def test_only_a_trashed_document_can_be_destroyed_on_demand(client, customer):
    document = make(customer)

    response = client.post(reverse("vault:document_destroy", args=[document.uuid]))

    assert response.status_code == 404
    document.refresh_from_db()
    assert not document.is_destroyed


def test_the_purge_command_destroys_what_waited_30_days(customer):
    from django.core.management import call_command

    document = make(customer)
    services.document_trash(document=document, actor=customer)
    Document.objects.filter(pk=document.pk).update(
        trashed_at=timezone.now() - timedelta(days=30, minutes=1)
    )

    call_command("vault_purge_trash")

    document.refresh_from_db()
    assert document.is_destroyed


def test_the_dashboard_panel_shows_documents_and_space(client, customer):
    make(customer)

    page = client.get(reverse("dashboard")).content.decode()

    assert "Mon coffre" in page
    assert "1 document dans votre coffre." in page
    assert "Espace utilisé" in page
