"""Reads of published legal texts, shared by pages and other apps.

Published versions are ``audit.ContentVersion`` rows with the key ``legal:<kind>``.
French is the reference language: a version exists in French, and in English when
it was translated. When English is asked for and a version has no English row, the
French row is returned with ``is_fallback`` set, so the page can say so.

Each selector costs a fixed number of queries, whatever the number of versions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Max
from django.utils.functional import cached_property
from django.utils.safestring import SafeString

from audit.models import ContentVersion

from .models import LegalDocument, legal_content_key
from .rendering import render_markdown

REFERENCE_LANGUAGE = "fr"
#: Version numbers beyond this cannot exist (PostgreSQL integer); larger input is "not found".
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class LegalVersion:
    """One published version of a legal text, in the language it will be shown in."""

    kind: str
    version: int
    language: str
    title: str
    summary: str
    published_at: datetime
    sha256: str
    body: str = ""
    requested_language: str = REFERENCE_LANGUAGE

    @property
    def is_fallback(self) -> bool:
        return self.language != self.requested_language

    @cached_property
    def html(self) -> SafeString:
        return render_markdown(self.body)

    @classmethod
    def from_row(cls, kind: str, row: ContentVersion, requested_language: str) -> LegalVersion:
        return cls(
            kind=kind,
            version=row.version,
            language=row.language,
            title=row.title,
            summary=row.summary,
            published_at=row.published_at,
            sha256=row.sha256,
            body=row.__dict__.get("body", ""),
            requested_language=requested_language,
        )


def _languages(language: str) -> list[str]:
    return sorted({language, REFERENCE_LANGUAGE})


def _pick(kind: str, rows, language: str) -> dict[int, LegalVersion]:
    """One entry per version number, preferring ``language`` over the reference language."""
    picked: dict[int, LegalVersion] = {}
    for row in rows:
        existing = picked.get(row.version)
        if existing is None or (existing.language != language and row.language == language):
            picked[row.version] = LegalVersion.from_row(kind, row, language)
    return picked


def legal_version_current(*, kind: str, language: str) -> LegalVersion | None:
    """The version in force (the highest number), with its body. One query."""
    rows = ContentVersion.objects.filter(
        key=legal_content_key(kind), language__in=_languages(language)
    ).order_by("-version")[:2]
    picked = _pick(kind, rows, language)
    return picked[max(picked)] if picked else None


def legal_version_get(*, kind: str, version: int, language: str) -> LegalVersion | None:
    """One given version with its body, or None. One query."""
    if not 1 <= version <= MAX_VERSION:
        return None
    rows = ContentVersion.objects.filter(
        key=legal_content_key(kind), version=version, language__in=_languages(language)
    )
    return _pick(kind, rows, language).get(version)


def legal_version_pair(
    *, kind: str, older: int, newer: int, language: str
) -> tuple[LegalVersion | None, LegalVersion | None]:
    """Two versions with their bodies, for a comparison. One query.

    Both sides are taken in the same language when possible: if either version
    lacks the requested language, both are compared in French.
    """
    if not (1 <= older <= MAX_VERSION and 1 <= newer <= MAX_VERSION):
        return None, None
    rows = list(
        ContentVersion.objects.filter(
            key=legal_content_key(kind),
            version__in={older, newer},
            language__in=_languages(language),
        )
    )
    picked = _pick(kind, rows, language)
    pair = (picked.get(older), picked.get(newer))
    if all(pair) and any(v.is_fallback for v in pair):
        picked = _pick(kind, rows, REFERENCE_LANGUAGE)
        pair = (
            replace(picked[older], requested_language=language),
            replace(picked[newer], requested_language=language),
        )
    return pair


def legal_version_list(*, kind: str, language: str) -> list[LegalVersion]:
    """Every version, newest first, without bodies (history pages). One query."""
    rows = (
        ContentVersion.objects.filter(
            key=legal_content_key(kind), language__in=_languages(language)
        )
        .defer("body")
        .order_by("-version")
    )
    picked = _pick(kind, rows, language)
    return [picked[n] for n in sorted(picked, reverse=True)]


def legal_version_latest_number(*, kind: str) -> int:
    """The number of the version in force, 0 when nothing is published. One query."""
    return (
        ContentVersion.objects.filter(key=legal_content_key(kind)).aggregate(n=Max("version"))["n"]
        or 0
    )


def legal_document_list() -> list[LegalDocument]:
    """Every legal document draft, in kind order (back office)."""
    return list(LegalDocument.objects.order_by("kind"))
