"""Publishing legal texts: immutable versions, their events, one transaction."""

from __future__ import annotations

import pytest

from audit import services as audit_services
from audit.hashing import content_hash
from audit.models import AppendOnlyError, ContentVersion, Event
from guides import services
from guides.models import LegalDocument
from mynetspace.core.errors import DomainError

pytestmark = pytest.mark.django_db


def _versions(document):
    return ContentVersion.objects.filter(key=document.content_key)


def test_publishing_creates_an_immutable_version_per_language(document, staff):
    publication = services.legal_document_publish(document=document, acting_user=staff)

    assert publication.version == 1
    rows = {row.language: row for row in _versions(document)}
    assert set(rows) == {"fr", "en"}
    french, english = rows["fr"], rows["en"]
    assert (french.version, english.version) == (1, 1)
    assert french.key == "legal:cgv"
    assert french.title == "Conditions générales de vente"
    assert english.body.startswith("# 1. Purpose")
    assert french.summary == "Première publication."
    assert english.summary == "First publication."
    for row in (french, english):
        assert row.published_by == staff
        assert row.published_at is not None
        assert row.sha256 == content_hash(row)
    french.body = "Texte falsifié"
    with pytest.raises(AppendOnlyError):
        french.save()


def test_publishing_records_one_content_event_per_language_version(document, staff):
    """GIVEN a complete draft WHEN it is published THEN one ``content.published`` event
    names each language version, with the staff member as actor."""
    publication = services.legal_document_publish(document=document, acting_user=staff)

    events = Event.objects.filter(action="content.published")
    assert events.count() == 2
    assert {e.target_id for e in events} == {
        str(publication.french.pk),
        str(publication.english.pk),
    }
    for event in events:
        assert event.actor == staff
        assert event.actor_type == Event.ActorType.STAFF
        assert event.data["key"] == "legal:cgv"
        assert event.data["version"] == 1


def test_publishing_updates_the_cache_and_clears_the_summary(document, staff):
    publication = services.legal_document_publish(document=document, acting_user=staff)

    document.refresh_from_db()
    assert document.published_version == 1
    assert document.published_at == publication.french.published_at
    assert not document.has_unpublished_changes
    assert document.change_summary == ""


def test_both_languages_share_the_version_number(document, publish):
    publish(document)
    publish(document, body_fr="# 1. Objet\n\nNouveau texte.", summary="Réécriture.")
    second = publish(document, body_en="# 1. Purpose\n\nNew text.", summary="Traduction.")

    assert second.version == 3
    assert sorted(_versions(document).values_list("language", "version")) == [
        ("en", 1),
        ("en", 2),
        ("en", 3),
        ("fr", 1),
        ("fr", 2),
        ("fr", 3),
    ]


def test_unchanged_text_cannot_be_republished(document, staff):
    services.legal_document_publish(document=document, acting_user=staff)
    document.change_summary = "Rien de neuf."
    document.save()

    with pytest.raises(DomainError) as caught:
        services.legal_document_publish(document=document, acting_user=staff)

    assert caught.value.code == "legal_unchanged"
    assert _versions(document).count() == 2
    assert Event.objects.filter(action="content.published").count() == 2


def test_changing_only_the_summary_is_still_unchanged(document, publish):
    publish(document)  # version 1

    with pytest.raises(DomainError) as caught:
        publish(document, summary="Autre résumé.")
    assert caught.value.code == "legal_unchanged"


def test_changing_only_the_english_text_publishes_both_languages(document, publish):
    publish(document)

    publication = publish(document, body_en="# 1. Purpose\n\nClearer wording.")

    assert publication.version == 2
    assert publication.french.body == publication.document.body_fr
    assert publication.english.body == "# 1. Purpose\n\nClearer wording."


@pytest.mark.parametrize(
    ("field", "missing"),
    [
        ("title_fr", "le titre en français"),
        ("body_fr", "le texte en français"),
        ("title_en", "le titre en anglais"),
        ("body_en", "le texte en anglais"),
    ],
)
def test_incomplete_draft_is_refused_and_nothing_is_stored(document, staff, field, missing):
    setattr(document, field, "   \n  ")
    document.save()

    with pytest.raises(DomainError) as caught:
        services.legal_document_publish(document=document, acting_user=staff)

    assert caught.value.code == "legal_incomplete"
    assert missing in caught.value.message
    assert not _versions(document).exists()
    assert not Event.objects.filter(action="content.published").exists()


def test_a_summary_is_required(document, staff):
    document.change_summary = ""
    document.save()

    with pytest.raises(DomainError) as caught:
        services.legal_document_publish(document=document, acting_user=staff)
    assert caught.value.code == "legal_summary_required"


def test_unstorable_characters_are_refused_with_a_clear_error(document, staff):
    with pytest.raises(DomainError) as caught:
        services.legal_document_draft_update(
            document=document,
            acting_user=staff,
            title_fr=document.title_fr,
            body_fr=document.body_fr,
            title_en=document.title_en,
            body_en="Text with a NUL \x00 character",
            change_summary="x",
        )
    assert caught.value.code == "legal_invalid_text"
    document.refresh_from_db()
    assert "\x00" not in document.body_en


def test_a_failure_half_way_leaves_nothing_stored(document, staff, monkeypatch):
    """GIVEN storing the English version fails after the French one was written
    WHEN publishing THEN the French version, both events and the cache are rolled back."""
    real_publish = audit_services.content_version_publish

    def failing_publish(**kwargs):
        if kwargs["language"] == "en":
            raise RuntimeError("storage failure")
        return real_publish(**kwargs)

    monkeypatch.setattr(audit_services, "content_version_publish", failing_publish)

    with pytest.raises(RuntimeError):
        services.legal_document_publish(document=document, acting_user=staff)

    assert not ContentVersion.objects.exists()
    assert not Event.objects.filter(action="content.published").exists()
    document.refresh_from_db()
    assert document.published_version == 0
    assert document.change_summary == "Première publication."


def test_misaligned_versions_are_refused(document, staff):
    """GIVEN a French version written outside the publishing service WHEN publishing
    THEN the languages would get different numbers: refused, nothing stored."""
    audit_services.content_version_publish(
        key=document.content_key, language="fr", title="Ancien", body="Ancien texte."
    )

    with pytest.raises(DomainError) as caught:
        services.legal_document_publish(document=document, acting_user=staff)

    assert caught.value.code == "legal_versions_misaligned"
    assert _versions(document).count() == 1


def test_draft_update_normalises_line_endings_and_records_an_event(document, staff):
    services.legal_document_draft_update(
        document=document,
        acting_user=staff,
        title_fr="  Conditions   générales ",
        body_fr="# 1. Objet\r\n\r\nTexte modifié.\r\n",
        title_en=document.title_en,
        body_en=document.body_en,
        change_summary="Précision.",
    )

    document.refresh_from_db()
    assert document.title_fr == "Conditions générales"
    assert document.body_fr == "# 1. Objet\n\nTexte modifié."
    event = Event.objects.get(action="legal.draft_updated")
    assert event.actor == staff
    assert event.data == {
        "kind": "cgv",
        "fields": ["title_fr", "body_fr", "change_summary", "change_summary_en"],
    }


def test_saving_an_identical_draft_records_nothing(document, staff):
    services.legal_document_draft_update(
        document=document,
        acting_user=staff,
        **{name: getattr(document, name) for name in services.DRAFT_FIELDS},
    )
    assert not Event.objects.filter(action="legal.draft_updated").exists()


def test_drafts_are_never_public(document, publish):
    publish(document)
    document.body_fr = "Brouillon en cours."
    document.save()

    assert LegalDocument.objects.get().has_unpublished_changes
    assert not _versions(document).filter(body="Brouillon en cours.").exists()
