"""``manage.py vault_rescan``: pending documents scanned once clamd is back; --all."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.vault import corpus
from tests.vault.factories import UserFactory
from tests.vault.factories import document_store as stored_document
from vault.models import ScanStatus

pytestmark = pytest.mark.django_db


def make(status, content=None):
    return stored_document(
        owner=UserFactory(), content=content or corpus.pdf_from_pypdf(), scan_status=status
    )


def test_pending_documents_stay_pending_while_clamd_is_down_then_become_clean(
    private_clamd, settings, capsys
):
    """GIVEN documents pending because clamd was down WHEN vault_rescan runs with clamd
    still down THEN they stay pending and the command fails; once clamd is back, a rerun
    makes them clean."""
    server = private_clamd()
    settings.CLAMD_URL = server.url
    settings.CLAMD_CONNECT_TIMEOUT = 1
    server.stop()
    pending = make(ScanStatus.PENDING_SCAN)

    with pytest.raises(CommandError, match="still pending"):
        call_command("vault_rescan")
    pending.refresh_from_db()
    assert pending.scan_status == ScanStatus.PENDING_SCAN

    server.start()
    call_command("vault_rescan")

    pending.refresh_from_db()
    assert pending.scan_status == ScanStatus.CLEAN
    assert "clean: 1" in capsys.readouterr().out


def test_all_rescans_clean_documents_and_destroys_one_now_known_infected(
    clamd_url, settings, django_capture_on_commit_callbacks
):
    settings.CLAMD_URL = clamd_url
    healthy = make(ScanStatus.CLEAN)
    # Stored as clean before the signature existed (simulated): EICAR in a text file.
    infected = make(ScanStatus.CLEAN, content=corpus.eicar())

    call_command("vault_rescan")  # without --all, clean documents are left alone
    infected.refresh_from_db()
    assert infected.scan_status == ScanStatus.CLEAN

    with django_capture_on_commit_callbacks(execute=True):
        call_command("vault_rescan", "--all")

    healthy.refresh_from_db()
    infected.refresh_from_db()
    assert healthy.scan_status == ScanStatus.CLEAN
    assert infected.scan_status == ScanStatus.INFECTED and infected.is_destroyed


def test_unscanned_documents_are_scanned_once_a_scanner_is_configured(clamd_url, settings):
    settings.CLAMD_URL = ""
    document = make(ScanStatus.UNSCANNED)
    settings.CLAMD_URL = clamd_url

    call_command("vault_rescan")

    document.refresh_from_db()
    assert document.scan_status == ScanStatus.CLEAN


def test_without_a_scanner_the_command_says_so(settings):
    settings.CLAMD_URL = ""

    with pytest.raises(CommandError, match="No scanner configured"):
        call_command("vault_rescan")
