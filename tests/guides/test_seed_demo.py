"""``manage.py seed_demo``: idempotent legal texts and the development staff account."""

from __future__ import annotations

import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.models import ContentVersion, Event
from guides.legal_sources import load_source
from guides.models import LegalDocument
from guides.services import SyncOutcome, legal_document_sync_from_source

pytestmark = pytest.mark.django_db

STAFF_EMAIL = "staff@mynetspace.test"


@pytest.fixture
def dev(settings, tmp_path):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    return tmp_path


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_first_run_publishes_version_one_of_every_text(dev):
    seed()

    assert LegalDocument.objects.count() == 6
    assert ContentVersion.objects.count() == 12
    assert set(ContentVersion.objects.values_list("version", flat=True)) == {1}
    assert set(ContentVersion.objects.values_list("key", flat=True)) == {
        f"legal:{kind}" for kind in LegalDocument.Kind.values
    }
    assert Event.objects.filter(action="content.published").count() == 12
    # Version 1 says so, even when a source's summary describes its latest change.
    assert set(ContentVersion.objects.values_list("language", "summary")) == {
        ("fr", "Première publication."),
        ("en", "First publication."),
    }


def test_published_text_is_exactly_the_substituted_source(dev, settings):
    settings.COMPANY_NAME = "Exemple Services SAS"
    seed()

    version = ContentVersion.objects.get(key="legal:mentions-legales", language="fr")
    assert version.body == load_source("mentions-legales").texts["fr"].body
    assert "Exemple Services SAS" in version.body
    assert "{{" not in version.body


def test_running_twice_changes_nothing_and_keeps_the_same_staff_user(dev):
    first_output = seed()
    user = get_user_model().objects.get(email=STAFF_EMAIL)
    events = Event.objects.count()

    second_output = seed()

    assert ContentVersion.objects.count() == 12
    assert Event.objects.count() == events
    assert get_user_model().objects.filter(email=STAFF_EMAIL).get().pk == user.pk
    password = (dev / "keys" / "demo-staff-password").read_text().strip()
    assert password in first_output
    assert password in second_output


def test_demo_staff_credentials_are_printed_and_work(dev, client):
    output = seed()

    password_file = dev / "keys" / "demo-staff-password"
    password = password_file.read_text().strip()
    assert len(password) >= 20
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert STAFF_EMAIL in output
    assert f"Mot de passe   : {password}" in output
    user = get_user_model().objects.get(email=STAFF_EMAIL)
    assert user.is_staff and user.is_superuser
    assert client.login(email=STAFF_EMAIL, password=password)


def test_a_changed_password_is_put_back_to_the_printed_one(dev):
    seed()
    user = get_user_model().objects.get(email=STAFF_EMAIL)
    user.set_password("something else entirely")
    user.save()

    output = seed()

    password = (dev / "keys" / "demo-staff-password").read_text().strip()
    user.refresh_from_db()
    assert user.check_password(password)
    assert "réparé" in output


def test_no_demo_staff_without_debug(settings, tmp_path):
    settings.DEBUG = False
    settings.VAR_DIR = tmp_path

    output = seed()

    assert not get_user_model().objects.filter(email=STAFF_EMAIL).exists()
    assert not (tmp_path / "keys" / "demo-staff-password").exists()
    assert "DEBUG est désactivé" in output
    assert "Mot de passe" not in output
    assert ContentVersion.objects.count() == 12  # the legal texts are still loaded


def test_a_changed_source_is_published_once_as_the_next_version(dev, settings):
    """GIVEN published texts WHEN the company name changes (so the CGV source changes)
    THEN the CGV get version 2, once; texts that do not mention it stay at version 1."""
    seed()
    settings.COMPANY_NAME = "Nouvelle Raison Sociale SAS"

    seed()
    seed()

    cgv = ContentVersion.objects.filter(key="legal:cgv", language="fr").order_by("-version")
    assert list(cgv.values_list("version", flat=True)) == [2, 1]
    assert "Nouvelle Raison Sociale SAS" in cgv[0].body
    assert cgv[0].summary  # a summary is always given for the history
    assert cgv[0].summary != cgv[1].summary
    assert not ContentVersion.objects.filter(key="legal:charte", version=2).exists()


def test_staff_edits_are_never_overwritten_by_a_source(db, staff):
    """GIVEN staff edited the draft without publishing WHEN a changed source is loaded
    THEN the draft is kept and nothing is published."""
    source = load_source("charte")
    legal_document_sync_from_source(source=source)
    document = LegalDocument.objects.get(kind="charte")
    document.body_fr = "Brouillon de l'équipe."
    document.save()
    changed = type(source)(
        kind="charte",
        texts={**source.texts, "fr": type(source.texts["fr"])("Charte", "Changé.", "Autre.")},
    )

    result = legal_document_sync_from_source(source=changed)

    assert result.outcome == SyncOutcome.DRAFT_PENDING
    document.refresh_from_db()
    assert document.body_fr == "Brouillon de l'équipe."
    assert ContentVersion.objects.filter(key="legal:charte").count() == 2


def test_existing_versions_are_never_duplicated(db):
    """GIVEN versions already published but the document row lost its cache
    WHEN the same source is loaded THEN nothing new is published."""
    source = load_source("cgv")
    legal_document_sync_from_source(source=source)
    LegalDocument.objects.filter(kind="cgv").update(
        published_version=0, published_digest="", source_digest=""
    )

    result = legal_document_sync_from_source(source=source)

    assert result.outcome == SyncOutcome.UNCHANGED
    assert result.version == 1
    assert ContentVersion.objects.filter(key="legal:cgv").count() == 2
