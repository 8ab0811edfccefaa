"""Guides and legal texts.

A ``LegalDocument`` is the *draft* of one legal text that staff edit in the back
office, in French and in English. What the public reads is never the draft: it is
the published versions, stored as immutable ``audit.ContentVersion`` rows under the
key ``legal:<kind>`` (one row per language, both languages sharing the version
number). ``guides.services.legal_document_publish`` is the only way from one to the
other; ``guides.selectors`` reads the published versions.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils.translation import gettext_lazy as _

LEGAL_KEY_PREFIX = "legal:"


class LegalDocument(models.Model):
    """The draft of one legal text, plus a cache of what was last published.

    ``published_version`` and ``published_digest`` are written by
    ``legal_document_publish`` in the same transaction as the content versions; the
    versions themselves stay the truth (pages read them, never this cache).
    ``source_digest`` is the digest of the repository source
    (``guides/legal_texts/``) last loaded into the draft by ``seed_demo``.
    """

    class Kind(models.TextChoices):
        TERMS = "cgv", _("Conditions générales de vente")
        PRIVACY = "confidentialite", _("Politique de confidentialité")
        CHARTER = "charte", _("Charte éthique")
        LEGAL_NOTICE = "mentions-legales", _("Mentions légales")
        VAULT_INFORMATION = "information-coffre", _("Information sur le coffre numérique")
        WITHDRAWAL_FORM = "formulaire-retractation", _("Formulaire de rétractation")

    kind = models.CharField(_("texte"), max_length=32, choices=Kind.choices, unique=True)
    title_fr = models.CharField(_("titre (français)"), max_length=300, blank=True)
    body_fr = models.TextField(
        _("texte (français)"), blank=True, help_text=_("Markdown. Les titres « # » deviennent h2.")
    )
    title_en = models.CharField(_("titre (anglais)"), max_length=300, blank=True)
    body_en = models.TextField(
        _("texte (anglais)"), blank=True, help_text=_("Markdown. Les titres « # » deviennent h2.")
    )
    change_summary = models.TextField(
        _("résumé des changements (français)"),
        blank=True,
        help_text=_("Ce qui change pour le lecteur, en quelques mots. Affiché dans l'historique."),
    )
    change_summary_en = models.TextField(
        _("résumé des changements (anglais)"),
        blank=True,
        help_text=_("Laissez vide pour reprendre le résumé en français."),
    )
    published_version = models.PositiveIntegerField(_("version publiée"), default=0)
    published_at = models.DateTimeField(_("publiée le"), null=True, blank=True)
    published_digest = models.CharField(
        _("empreinte publiée"), max_length=64, blank=True, editable=False
    )
    source_digest = models.CharField(
        _("empreinte de la source"), max_length=64, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("date de création"), auto_now_add=True)
    updated_at = models.DateTimeField(_("mise à jour"), auto_now=True)

    class Meta:
        ordering = ["kind"]
        permissions = [("publish_legaldocument", _("Peut publier un texte légal"))]
        verbose_name = _("texte légal")
        verbose_name_plural = _("textes légaux")

    def __str__(self) -> str:
        return str(self.get_kind_display())

    @property
    def content_key(self) -> str:
        return legal_content_key(self.kind)

    def draft_digest(self) -> str:
        """A digest of the four published fields, to tell a pending draft at a glance."""
        return text_digest(self.title_fr, self.body_fr, self.title_en, self.body_en)

    @property
    def has_unpublished_changes(self) -> bool:
        return self.draft_digest() != self.published_digest


def legal_content_key(kind: str) -> str:
    return f"{LEGAL_KEY_PREFIX}{kind}"


def text_digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()
