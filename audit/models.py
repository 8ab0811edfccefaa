"""Evidence: hash-chained events, checkpoints, emails and content versions.

Every table here except ``Chain`` is append-only evidence: the models refuse
updates and deletes, and on PostgreSQL triggers reject UPDATE, DELETE and TRUNCATE
(``OutboundEmail`` only lets its delivery columns change). ``docs/evidence-format.md``
specifies the hashing so that a third party can verify without this code.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .fields import CanonicalJSONField

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a stored piece of evidence."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are evidence and cannot be updated.")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are evidence and cannot be deleted.")

    delete.queryset_only = True


class AppendOnlyModel(models.Model):
    """Rows are written once. ``MUTABLE_FIELDS`` lists the columns that may still change."""

    MUTABLE_FIELDS: frozenset[str] = frozenset()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise AppendOnlyError(
                    f"{type(self).__name__} rows are evidence and cannot be updated."
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are evidence and cannot be deleted.")


class Chain(models.Model):
    """The head of one hash chain: ``user:<id>`` for a customer, ``system`` otherwise.

    Appending updates (and so locks) this row first, so two writers of one chain
    queue up while writers of different chains never wait for each other. The head
    (length and last hash) is also what ``audit_verify`` compares the events with to
    detect a truncated tail, and what checkpoints sign.
    """

    key = models.CharField(_("clé"), max_length=64, unique=True)
    length = models.PositiveBigIntegerField(_("longueur"), default=0)
    head_hash = models.CharField(_("empreinte de tête"), max_length=64, default=GENESIS_HASH)
    #: The head before the last append, i.e. the ``prev_hash`` of the head event. The
    #: append moves the head and inserts the event in one statement, and PostgreSQL
    #: 15 returns only new values from an UPDATE; it is never read otherwise ("" on a
    #: chain not appended to since this column exists).
    previous_head_hash = models.CharField(
        _("empreinte précédant la tête"), max_length=64, default="", db_default=""
    )
    updated_at = models.DateTimeField(_("mise à jour"), auto_now=True)

    class Meta:
        verbose_name = _("chaîne de preuves")
        verbose_name_plural = _("chaînes de preuves")

    def __str__(self) -> str:
        return f"{self.key} ({self.length})"


class Event(AppendOnlyModel):
    """One action, as evidence. ``hash = SHA-256(prev_hash ‖ canonical JSON)``."""

    class ActorType(models.TextChoices):
        USER = "user", _("client")
        STAFF = "staff", _("équipe")
        SYSTEM = "system", _("système")

    chain_key = models.CharField(_("chaîne"), max_length=64)
    seq = models.PositiveBigIntegerField(_("numéro d'ordre"))
    occurred_at = models.DateTimeField(_("date et heure"))
    actor_type = models.CharField(_("type d'acteur"), max_length=16, choices=ActorType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("acteur"),
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("pour le compte de"),
    )
    action = models.CharField(_("action"), max_length=100)
    target_type = models.CharField(_("type de cible"), max_length=100, blank=True, default="")
    target_id = models.CharField(
        _("identifiant de la cible"), max_length=100, blank=True, default=""
    )
    data = CanonicalJSONField(_("données"), default=dict)
    ip = models.CharField(_("adresse IP"), max_length=45, blank=True, default="")
    user_agent = models.CharField(_("agent utilisateur"), max_length=500, blank=True, default="")
    request_id = models.CharField(
        _("identifiant de requête"), max_length=64, blank=True, default=""
    )
    prev_hash = models.CharField(_("empreinte précédente"), max_length=64)
    hash = models.CharField(_("empreinte"), max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain_key", "seq"], name="audit_event_chain_seq_unique"
            ),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_event_seq_positive"),
        ]
        indexes = [
            models.Index(fields=["action"], name="audit_event_action"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target"),
        ]
        verbose_name = _("événement")
        verbose_name_plural = _("événements")

    def __str__(self) -> str:
        return f"{self.chain_key}#{self.seq} {self.action}"


class Checkpoint(AppendOnlyModel):
    """A signed Merkle root (RFC 6962/9162 hashing) over every chain head at one time.

    ``heads`` is the sorted list ``[[chain_key, length, head_hash], ...]`` that the
    leaves were built from, so the root and any inclusion proof can be recomputed.
    """

    created_at = models.DateTimeField(_("date de création"))
    tree_size = models.PositiveIntegerField(_("taille de l'arbre"))
    root_hash = models.CharField(_("racine"), max_length=64)
    heads = models.JSONField(_("têtes des chaînes"))
    key_id = models.CharField(_("identifiant de la clé"), max_length=64)
    public_key = models.CharField(
        _("clé publique"), max_length=64, help_text=_("Clé publique Ed25519 brute, en base64.")
    )
    signature = models.CharField(
        _("signature"), max_length=128, help_text=_("Signature Ed25519, en base64.")
    )
    timestamp_token = models.BinaryField(
        _("jeton d'horodatage"),
        null=True,
        blank=True,
        help_text=_("Jeton RFC 3161, si une autorité d'horodatage est configurée."),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("point de contrôle")
        verbose_name_plural = _("points de contrôle")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.root_hash[:12]}"


class EmailEvidence(AppendOnlyModel):
    """What a sent and a received email keep alike: the exact raw message, its hash,
    and the customer and object it concerns."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("client"),
    )
    related_type = models.CharField(
        _("type de l'objet lié"), max_length=100, blank=True, default=""
    )
    related_id = models.CharField(
        _("identifiant de l'objet lié"), max_length=100, blank=True, default=""
    )
    raw = models.BinaryField(_("message brut"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)

    class Meta:
        abstract = True


class OutboundEmail(EmailEvidence):
    """The exact raw message of an email we send, stored before it leaves.

    Status: ``queued -> sent`` or ``queued -> failed -> queued`` (retry). Only the
    delivery columns may change; the message and its hash never do.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("en attente d'envoi")
        SENT = "sent", _("envoyé")
        FAILED = "failed", _("échec")

    MUTABLE_FIELDS = frozenset({"status", "attempts", "last_error", "sent_at", "updated_at"})

    created_at = models.DateTimeField(_("date de création"))
    updated_at = models.DateTimeField(_("mise à jour"))
    template = models.CharField(_("modèle"), max_length=200)
    from_email = models.CharField(_("expéditeur"), max_length=320)
    to = models.JSONField(_("destinataires"))
    subject = models.CharField(_("objet"), max_length=998)
    message_id = models.CharField(_("identifiant du message (Message-ID)"), max_length=998)
    status = models.CharField(
        _("statut"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveIntegerField(_("tentatives"), default=0)
    last_error = models.TextField(_("dernière erreur"), blank=True, default="")
    sent_at = models.DateTimeField(_("date d'envoi"), null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "updated_at"], name="audit_email_pending"),
            models.Index(fields=["customer", "-created_at"], name="audit_email_customer"),
        ]
        verbose_name = _("e-mail envoyé")
        verbose_name_plural = _("e-mails envoyés")

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"


class InboundEmail(EmailEvidence):
    """The exact raw message of an email we received, stored as it arrived."""

    received_at = models.DateTimeField(_("date de réception"))
    envelope_to = models.CharField(
        _("destinataire de l'enveloppe"), max_length=320, blank=True, default=""
    )
    from_email = models.CharField(_("expéditeur"), max_length=998, blank=True, default="")
    subject = models.CharField(_("objet"), max_length=998, blank=True, default="")
    message_id = models.CharField(
        _("identifiant du message (Message-ID)"), max_length=998, blank=True, default=""
    )

    class Meta:
        indexes = [models.Index(fields=["customer", "-received_at"], name="audit_inbound_customer")]
        verbose_name = _("e-mail reçu")
        verbose_name_plural = _("e-mails reçus")

    def __str__(self) -> str:
        return f"{self.subject} ← {self.from_email}"


class ContentVersion(AppendOnlyModel):
    """An immutable snapshot of a published text (legal document, guide...).

    ``key`` names the text (``legal:cgv``, ``guide:<slug>``); versions count from 1.
    ``sha256`` covers the canonical JSON of key, version, language, title, body,
    summary and publication time (docs/evidence-format.md).
    """

    key = models.CharField(_("clé"), max_length=150)
    version = models.PositiveIntegerField(_("version"))
    language = models.CharField(_("langue"), max_length=8, default="fr")
    title = models.CharField(_("titre"), max_length=300)
    body = models.TextField(
        _("texte"), help_text=_("Texte source (Markdown), exactement tel que publié.")
    )
    summary = models.TextField(
        _("résumé des changements"),
        blank=True,
        default="",
        help_text=_("Ce qui a changé, en termes simples."),
    )
    published_at = models.DateTimeField(_("date de publication"))
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("publié par"),
    )
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "language", "version"], name="audit_contentversion_unique"
            ),
        ]
        ordering = ["key", "language", "-version"]
        verbose_name = _("version de texte")
        verbose_name_plural = _("versions de textes")

    def __str__(self) -> str:
        return f"{self.key} v{self.version} ({self.language})"
