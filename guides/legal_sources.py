"""The repository sources of the legal texts (``guides/legal_texts/<kind>.<lang>.md``).

Each file starts with a small header, then the Markdown body::

    ---
    title: Conditions générales de vente
    summary: Première publication.
    ---
    # 1. Objet
    ...

``{{COMPANY_NAME}}``-style placeholders are replaced by the values of the settings
of the same name when the source is loaded, so the version published (and hashed)
is exactly the text readers see. An unknown placeholder is an error, never left
in a published text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .models import LegalDocument, text_digest

SOURCE_DIR = Path(__file__).resolve().parent / "legal_texts"
LANGUAGES = ("fr", "en")
PLACEHOLDERS = (
    "COMPANY_NAME",
    "COMPANY_ADDRESS",
    "COMPANY_SIREN",
    "COMPANY_PUBLISHER",
    "COMPANY_EMAIL",
    "COMPANY_HOST",
    "SUPPORT_EMAIL",
    "MEDIATOR_NAME",
    "MEDIATOR_URL",
    "SITE_URL",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class LegalSourceError(ValueError):
    """A source file is missing or malformed (a developer error, caught by the tests)."""


@dataclass(frozen=True)
class LegalSourceText:
    title: str
    summary: str
    body: str


@dataclass(frozen=True)
class LegalSource:
    kind: str
    texts: dict[str, LegalSourceText]

    @property
    def digest(self) -> str:
        parts: list[str] = []
        for lang in LANGUAGES:
            text = self.texts[lang]
            parts += [text.title, text.summary, text.body]
        return text_digest(*parts)


def placeholder_values() -> dict[str, str]:
    return {name: str(getattr(settings, name)) for name in PLACEHOLDERS}


def substitute(text: str, values: dict[str, str], *, where: str = "source") -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise LegalSourceError(f"{where}: unknown placeholder {{{{{name}}}}}")
        return values[name]

    return _PLACEHOLDER.sub(replace, text)


def parse_source(raw: str, *, where: str = "source") -> tuple[dict[str, str], str]:
    """Split a source file into its header (title, summary) and its Markdown body."""
    raw = raw.replace("\r\n", "\n").lstrip("\ufeff")
    if not raw.startswith("---\n"):
        raise LegalSourceError(f"{where}: the file must start with a '---' header")
    try:
        header_text, body = raw[4:].split("\n---\n", 1)
    except ValueError:
        raise LegalSourceError(f"{where}: the header is not closed by '---'") from None
    header: dict[str, str] = {}
    for line in header_text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip() not in {"title", "summary"}:
            raise LegalSourceError(f"{where}: unexpected header line {line!r}")
        header[key.strip()] = value.strip()
    if not header.get("title"):
        raise LegalSourceError(f"{where}: the header has no title")
    if not body.strip():
        raise LegalSourceError(f"{where}: the body is empty")
    return header, body.strip()


def load_source(kind: str, *, directory: Path | None = None) -> LegalSource:
    """Read both languages of one legal text, placeholders substituted from settings."""
    if kind not in LegalDocument.Kind.values:
        raise LegalSourceError(f"unknown legal text {kind!r}")
    directory = directory or SOURCE_DIR
    values = placeholder_values()
    texts: dict[str, LegalSourceText] = {}
    for lang in LANGUAGES:
        path = directory / f"{kind}.{lang}.md"
        where = path.name
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LegalSourceError(f"{where}: missing source file") from None
        header, body = parse_source(raw, where=where)
        texts[lang] = LegalSourceText(
            title=substitute(header["title"], values, where=where),
            summary=substitute(header.get("summary", ""), values, where=where),
            body=substitute(body, values, where=where),
        )
    return LegalSource(kind=kind, texts=texts)
