"""State changes of the guides app: legal text drafts and their publication.

Publishing is the one way a legal text reaches the public: it turns the staff
draft into immutable ``audit.ContentVersion`` rows (French and English, same
version number) whose ``content.published`` events are written in the same
transaction, one event per language version.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from audit import services as audit_services
from audit.context import RequestMeta
from audit.hashing import CanonicalJSONError, validate_text
from audit.models import ContentVersion
from mynetspace.core.errors import DomainError

from .legal_sources import LegalSource
from .models import LegalDocument

LANGUAGES = ("fr", "en")
TITLE_MAX = 300
DRAFT_FIELDS = ("title_fr", "body_fr", "title_en", "body_en", "change_summary", "change_summary_en")


@dataclass(frozen=True)
class LegalPublication:
    """The versions one publication created, French first."""

    document: LegalDocument
    version: int
    french: ContentVersion
    english: ContentVersion


def normalize_text(value: str) -> str:
    """One newline convention and no surrounding blank space (textareas send CRLF)."""
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _normalize_title(value: str) -> str:
    return " ".join((value or "").split())


def legal_document_draft_update(
    *,
    document: LegalDocument,
    acting_user,
    title_fr: str,
    body_fr: str,
    title_en: str,
    body_en: str,
    change_summary: str = "",
    change_summary_en: str = "",
    meta: RequestMeta | None = None,
) -> LegalDocument:
    """Save staff edits to the draft (nothing is public until published).

    Records ``legal.draft_updated`` with the names of the changed fields. Saving
    identical values is a no-op without an event.
    """
    values = {
        "title_fr": _normalize_title(title_fr),
        "body_fr": normalize_text(body_fr),
        "title_en": _normalize_title(title_en),
        "body_en": normalize_text(body_en),
        "change_summary": normalize_text(change_summary),
        "change_summary_en": normalize_text(change_summary_en),
    }
    for name, value in values.items():
        _check_storable(value, name=name)
    with transaction.atomic():
        locked = LegalDocument.objects.select_for_update().get(pk=document.pk)
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, values[name])
        locked.full_clean()
        locked.save(update_fields=[*changed, "updated_at"])
        audit_services.record(
            action="legal.draft_updated",
            actor=acting_user,
            target=locked,
            data={"kind": locked.kind, "fields": changed},
            meta=meta,
        )
    _refresh(document, locked)
    return locked


def legal_document_publish(
    *, document: LegalDocument, acting_user, meta: RequestMeta | None = None
) -> LegalPublication:
    """Publish the draft of ``document`` as its next version, in both languages.

    In one transaction: lock the document, validate the draft (title and body in
    both languages), refuse a draft identical to the current version, then create
    the French and English ``ContentVersion`` rows (each with its
    ``content.published`` event) and update the document's cache. Any failure
    rolls everything back.
    """
    with transaction.atomic():
        locked = LegalDocument.objects.select_for_update().get(pk=document.pk)
        texts = _validated_texts(locked)
        current = _current_versions(locked)
        if _same_as_current(texts, current):
            raise DomainError(
                _(
                    "Le brouillon est identique à la version %(version)s déjà publiée : "
                    "modifiez le texte avant de publier."
                )
                % {"version": current["fr"].version},
                "legal_unchanged",
            )
        published = {
            lang: audit_services.content_version_publish(
                key=locked.content_key,
                language=lang,
                title=texts[lang][0],
                body=texts[lang][1],
                summary=texts[lang][2],
                published_by=acting_user,
                meta=meta,
            )
            for lang in LANGUAGES
        }
        if published["fr"].version != published["en"].version:
            # Both languages are always published together; a gap means the versions
            # were written some other way. Refuse rather than mislabel them.
            raise DomainError(
                _(
                    "Les versions française et anglaise de ce texte ne sont plus alignées ; "
                    "contactez l'équipe technique."
                ),
                "legal_versions_misaligned",
            )
        locked.published_version = published["fr"].version
        locked.published_at = published["fr"].published_at
        locked.published_digest = locked.draft_digest()
        # The summary described this publication; the next one needs its own.
        locked.change_summary = ""
        locked.change_summary_en = ""
        locked.save(
            update_fields=[
                "published_version",
                "published_at",
                "published_digest",
                "change_summary",
                "change_summary_en",
                "updated_at",
            ]
        )
    _refresh(document, locked)
    return LegalPublication(
        document=locked,
        version=published["fr"].version,
        french=published["fr"],
        english=published["en"],
    )


def _validated_texts(document: LegalDocument) -> dict[str, tuple[str, str, str]]:
    """(title, body, summary) per language, or a DomainError naming what is missing."""
    summary_fr = normalize_text(document.change_summary)
    summary_en = normalize_text(document.change_summary_en) or summary_fr
    texts = {
        "fr": (_normalize_title(document.title_fr), normalize_text(document.body_fr), summary_fr),
        "en": (_normalize_title(document.title_en), normalize_text(document.body_en), summary_en),
    }
    labels = {"fr": _("français"), "en": _("anglais")}
    missing = [
        _("le titre en %(language)s") % {"language": labels[lang]}
        for lang in LANGUAGES
        if not texts[lang][0]
    ] + [
        _("le texte en %(language)s") % {"language": labels[lang]}
        for lang in LANGUAGES
        if not texts[lang][1]
    ]
    if missing:
        raise DomainError(
            _("Impossible de publier : il manque %(missing)s.") % {"missing": ", ".join(missing)},
            "legal_incomplete",
        )
    if not summary_fr:
        raise DomainError(
            _("Impossible de publier : écrivez un résumé des changements pour l'historique."),
            "legal_summary_required",
        )
    for lang in LANGUAGES:
        if len(texts[lang][0]) > TITLE_MAX:
            raise DomainError(
                _("Le titre dépasse %(max)s caractères.") % {"max": TITLE_MAX},
                "legal_title_too_long",
            )
        for name, value in zip(("title", "body", "summary"), texts[lang], strict=True):
            _check_storable(value, name=f"{name}_{lang}")
    return texts


def _same_as_current(texts: dict[str, tuple[str, str, str]], current: dict) -> bool:
    return bool(current) and all(
        lang in current and (current[lang].title, current[lang].body) == texts[lang][:2]
        for lang in LANGUAGES
    )


def _check_storable(value: str, *, name: str) -> None:
    try:
        validate_text(value, where=name)
    except CanonicalJSONError:
        raise DomainError(
            _("Le texte contient des caractères non autorisés."), "legal_invalid_text"
        ) from None


def _current_versions(document: LegalDocument) -> dict[str, ContentVersion]:
    """The latest published row per language."""
    latest: dict[str, ContentVersion] = {}
    for lang in LANGUAGES:
        row = (
            ContentVersion.objects.filter(key=document.content_key, language=lang)
            .order_by("-version")
            .first()
        )
        if row is not None:
            latest[lang] = row
    return latest


def _refresh(target: LegalDocument, source: LegalDocument) -> None:
    """Let the caller's instance see what was saved under the lock."""
    if target is source:
        return
    for field in LegalDocument._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


# --- Loading the repository sources (seed_demo) ---------------------------------------


class SyncOutcome:
    PUBLISHED = "published"
    UNCHANGED = "unchanged"
    DRAFT_PENDING = "draft_pending"


@dataclass(frozen=True)
class LegalSync:
    document: LegalDocument
    outcome: str
    version: int


#: The summary of a text's version 1, whatever its source's summary says (that one
#: describes the latest change, which a new installation has no earlier version of).
FIRST_PUBLICATION_SUMMARY = {"fr": "Première publication.", "en": "First publication."}
GENERIC_SOURCE_SUMMARY = {
    "fr": "Mise à jour du texte (rédaction ou coordonnées de l'entreprise).",
    "en": "Text updated (wording or company details).",
}


def legal_document_sync_from_source(
    *, source: LegalSource, acting_user=None, meta: RequestMeta | None = None
) -> LegalSync:
    """Bring one legal text in line with its repository source, publishing if needed.

    - no document yet: create it from the source and publish version 1;
    - source unchanged since it was last loaded, and a version published: nothing;
    - source changed: load it into the draft and publish it, unless staff have
      unpublished edits in the draft (those are never overwritten: ``draft_pending``);
    - the loaded draft equals the version in force: nothing is published again.

    Everything happens in one transaction, with the events of the services it calls.
    """
    with transaction.atomic():
        document = LegalDocument.objects.select_for_update().filter(kind=source.kind).first()
        if document is None:
            document = LegalDocument.objects.create(kind=source.kind)
            audit_services.record(
                action="legal.document_created",
                actor=acting_user,
                target=document,
                data={"kind": document.kind},
                meta=meta,
            )
        if document.source_digest == source.digest and document.published_version:
            return LegalSync(document, SyncOutcome.UNCHANGED, document.published_version)
        if document.published_version and document.has_unpublished_changes:
            return LegalSync(document, SyncOutcome.DRAFT_PENDING, document.published_version)

        current = _current_versions(document)
        summaries = {}
        for lang in LANGUAGES:
            summary = source.texts[lang].summary
            if lang not in current:
                summary = FIRST_PUBLICATION_SUMMARY[lang]
            elif summary == current[lang].summary:
                summary = GENERIC_SOURCE_SUMMARY[lang]
            summaries[lang] = summary
        legal_document_draft_update(
            document=document,
            acting_user=acting_user,
            title_fr=source.texts["fr"].title,
            body_fr=source.texts["fr"].body,
            title_en=source.texts["en"].title,
            body_en=source.texts["en"].body,
            change_summary=summaries["fr"],
            change_summary_en=summaries["en"],
            meta=meta,
        )
        document.source_digest = source.digest
        update_fields = ["source_digest", "updated_at"]
        if _same_as_current(_validated_texts(document), current):
            # The source says what is already published (e.g. only the header changed,
            # or the cache was lost): nothing to publish, re-align the cache.
            document.published_version = current["fr"].version
            document.published_at = current["fr"].published_at
            document.published_digest = document.draft_digest()
            update_fields += ["published_version", "published_at", "published_digest"]
            document.save(update_fields=update_fields)
            return LegalSync(document, SyncOutcome.UNCHANGED, document.published_version)
        document.save(update_fields=update_fields)
        publication = legal_document_publish(document=document, acting_user=acting_user, meta=meta)
        return LegalSync(publication.document, SyncOutcome.PUBLISHED, publication.version)
