"""The vault in a real browser: activate, upload a PDF, see it classified, download it
byte-identical, share it, open the link logged out, see the access in the trail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.accounts.factories import PASSWORD, UserFactory, accept_current_texts
from tests.browser.steps import log_in
from tests.vault.access_helpers import publish_vault_texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vault_files(settings, tmp_path):
    """Blobs in a private directory (never var/), like every vault test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "vault": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "vault")},
        },
    }


@pytest.fixture
def tax_notice(tmp_path) -> Path:
    import weasyprint

    html = (
        "<h1>Avis d'impôt 2025 sur les revenus de l'année 2024</h1>"
        "<p>Direction générale des finances publiques. Impôt sur le revenu.</p>"
        "<p>Revenu fiscal de référence : 24 000 €. Numéro fiscal : 12 34 567 890 123.</p>"
    )
    path = tmp_path / "avis-impot-2025.pdf"
    path.write_bytes(weasyprint.HTML(string=html).write_pdf())
    return path


def test_vault_journey(page, browser, live_server, settings, clamd_url, vault_files, tax_notice):
    settings.CLAMD_URL = clamd_url
    publish_vault_texts()
    customer = UserFactory(verified_email=True)
    accept_current_texts(customer)
    original = tax_notice.read_bytes()

    # Activate the vault: the information first, classification consent alongside.
    log_in(page, customer.email)
    page.goto("/coffre/")
    page.wait_for_url("**/coffre/activer/**")
    page.locator("input[type=checkbox][name=accept]").check()
    page.locator("input[type=checkbox][name=classification]").check()
    page.get_by_role("button", name="Activer mon coffre").click()
    page.wait_for_url(re.compile(r".*/coffre/.*"))

    # Upload the PDF; the detail page follows, the document scanned clean by clamd.
    page.goto("/coffre/deposer/")
    page.locator("input[type=file]").set_input_files(str(tax_notice))
    page.get_by_role("button", name="Déposer").click()
    page.wait_for_url(re.compile(r".*/coffre/[0-9a-f-]{36}/$"))
    from vault.models import Document

    document = Document.objects.get(owner=customer)
    assert document.scan_status == "clean"
    assert document.sha256 and document.size == len(original)

    # Classified (consent given above): the classifier runs once the scan clears the
    # document; its suggestion is the tax notice and the detail page shows it.
    document.refresh_from_db()
    assert document.suggested_at is not None
    assert document.suggested_doc_type == "tax_notice"
    page.reload()
    assert "Avis d'imposition" in page.locator("main").inner_text()

    # Download it (the password is asked again first): the same bytes.
    page.locator("main").get_by_role("link", name="Télécharger", exact=True).click()
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.locator("#id_password").fill(PASSWORD)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Confirmer").click()
    downloaded = Path(download_info.value.path()).read_bytes()
    assert downloaded == original

    # Share it.
    page.goto(f"/coffre/{document.uuid}/")
    page.locator("main").get_by_role("link", name="Partager").click()
    page.wait_for_url("**/partager/")
    page.get_by_role("button", name="Créer le lien de partage").click()
    share_url = page.locator("#share-url").input_value()
    assert "/partage/" in share_url

    # Open the link logged out, in a fresh browser context, and download.
    visitor = browser.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        stranger = visitor.new_page()
        stranger.goto(share_url)
        assert document.title in stranger.locator("main").inner_text()
        with stranger.expect_download() as shared_info:
            stranger.get_by_role("button", name="Télécharger le document").click()
        assert Path(shared_info.value.path()).read_bytes() == original
    finally:
        visitor.close()

    # The owner sees both accesses in the vault trail.
    page.goto("/coffre/journal/")
    trail = page.locator("main").inner_text()
    assert "Quelqu'un a ouvert votre lien de partage" in trail
    assert "a été téléchargé par votre lien de partage" in trail
