"""Vault data: per-user keys, encrypted documents and their tags.

Key hierarchy (vault/keys.py): the master key (key ring or AWS KMS) wraps each
customer's :class:`UserKey`; the user key wraps each :class:`Document`'s data key;
the data key encrypts the blob (vault/crypto.py, docs/vault-format.md). Rows hold
only wrapped keys; blobs live in the ``vault`` storage (vault/blobs.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import AppendOnlyModel

from .crypto import FORMAT_VERSION


class MasterKeyProvider(models.TextChoices):
    KEYRING = "keyring", _("Trousseau de clés maître (environnement)")
    KMS = "kms", _("AWS KMS")


class UserKey(models.Model):
    """A customer's vault key (32 random bytes), stored only wrapped by the master key.

    States and transitions (services in vault/services.py):

    - *live* (``destroyed_at`` empty, ``wrapped_key`` set): created on first use
      (``user_key_get_or_create``);
    - live -> live, **re-wrapped** under the current master key
      (``user_key_rewrap``, run by ``vault_rotate_keys``): same key, new wrapping;
    - live -> live, **rotation in progress** (``user_key_rotation_start``): a new
      version becomes current and the former one moves to the ``previous_*`` fields
      until every document's data key is re-wrapped (``document_key_rewrap``), then
      ``user_key_rotation_finish`` erases it. At most one rotation at a time;
    - live -> **destroyed** (``user_key_destroy``, account closure): every wrapped
      value is erased. Irreversible: no document of the customer can be decrypted any
      more, wherever its blob or a backup of it lies (crypto-shredding).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="vault_key",
        verbose_name=_("client"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    provider = models.CharField(_("fournisseur"), max_length=16, choices=MasterKeyProvider)
    master_key_id = models.CharField(_("clé maître"), max_length=255)
    wrapped_key = models.TextField(_("clé chiffrée"), blank=True, editable=False)
    version_created_at = models.DateTimeField(_("version créée le"), default=timezone.now)
    previous_version = models.PositiveIntegerField(_("version précédente"), null=True, blank=True)
    previous_provider = models.CharField(
        _("fournisseur précédent"), max_length=16, choices=MasterKeyProvider, blank=True
    )
    previous_master_key_id = models.CharField(
        _("clé maître précédente"), max_length=255, blank=True
    )
    previous_wrapped_key = models.TextField(
        _("clé précédente chiffrée"), blank=True, editable=False
    )
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    destroyed_at = models.DateTimeField(_("détruite le"), null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(provider__in=MasterKeyProvider.values),
                name="vault_userkey_provider_valid",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="vault_userkey_version_positive"
            ),
            models.CheckConstraint(
                condition=(Q(destroyed_at__isnull=True) & ~Q(wrapped_key=""))
                | Q(
                    destroyed_at__isnull=False,
                    wrapped_key="",
                    previous_wrapped_key="",
                    previous_version__isnull=True,
                ),
                name="vault_userkey_live_xor_destroyed",
            ),
            models.CheckConstraint(
                condition=Q(
                    previous_version__isnull=True,
                    previous_provider="",
                    previous_master_key_id="",
                    previous_wrapped_key="",
                )
                | (
                    Q(previous_version__isnull=False, previous_version__lt=F("version"))
                    & Q(previous_provider__in=MasterKeyProvider.values)
                    & ~Q(previous_wrapped_key="")
                ),
                name="vault_userkey_previous_slot_whole",
            ),
        ]
        verbose_name = _("clé de coffre")
        verbose_name_plural = _("clés de coffre")

    def __str__(self) -> str:
        return f"UserKey(user={self.user_id}, v{self.version})"

    @property
    def is_destroyed(self) -> bool:
        return self.destroyed_at is not None

    @property
    def rotation_in_progress(self) -> bool:
        return self.previous_version is not None

    def has_version(self, version: int) -> bool:
        return not self.is_destroyed and version in (self.version, self.previous_version)


class DocumentType(models.TextChoices):
    """The common French documents the classifier recognises (DESIGN §4 vault)."""

    ID_CARD = "id_card", _("Carte nationale d'identité")
    PASSPORT = "passport", _("Passeport")
    DRIVING_LICENCE = "driving_licence", _("Permis de conduire")
    VEHICLE_REGISTRATION = "vehicle_registration", _("Certificat d'immatriculation (carte grise)")
    RESIDENCE_PERMIT = "residence_permit", _("Titre de séjour")
    TAX_NOTICE = "tax_notice", _("Avis d'imposition")
    PAYSLIP = "payslip", _("Bulletin de salaire")
    RENT_RECEIPT = "rent_receipt", _("Quittance de loyer")
    INVOICE = "invoice", _("Facture")
    CAF_CERTIFICATE = "caf_certificate", _("Attestation CAF")
    HEALTH_INSURANCE_CERTIFICATE = (
        "health_insurance_certificate",
        _("Attestation de droits Assurance maladie (Ameli)"),
    )
    BANK_DETAILS = "bank_details", _("Relevé d'identité bancaire (RIB)")
    PROOF_OF_ADDRESS = "proof_of_address", _("Justificatif de domicile")
    BIRTH_CERTIFICATE = "birth_certificate", _("Acte de naissance")
    FAMILY_RECORD_BOOK = "family_record_book", _("Livret de famille")
    CONTRACT = "contract", _("Contrat")
    OTHER = "other", _("Autre document")


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", _("Dépôt par le client")
    EMAIL = "email", _("Reçu par email")
    SERVICE = "service", _("Produit par le service")
    STAFF = "staff", _("Déposé par notre équipe")


class ScanStatus(models.TextChoices):
    PENDING_SCAN = "pending_scan", _("Analyse en attente")
    CLEAN = "clean", _("Sain")
    INFECTED = "infected", _("Infecté")
    REJECTED = "rejected", _("Refusé")
    UNSCANNED = "unscanned", _("Non analysé (aucun antivirus configuré)")


class Tag(models.Model):
    """A customer's own label; documents are filtered by tag (``tags__name``)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="vault_tags",
        verbose_name=_("client"),
    )
    name = models.CharField(_("nom"), max_length=50)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), "owner", name="vault_tag_unique_per_owner"),
            models.CheckConstraint(condition=~Q(name=""), name="vault_tag_name_not_empty"),
        ]
        ordering = ["name"]
        verbose_name = _("étiquette")
        verbose_name_plural = _("étiquettes")

    def __str__(self) -> str:
        return self.name


class DocumentQuerySet(models.QuerySet):
    def not_destroyed(self):
        return self.filter(destroyed_at__isnull=True)

    def active(self):
        """Neither trashed nor destroyed: what the customer's list shows."""
        return self.filter(destroyed_at__isnull=True, trashed_at__isnull=True)


class Document(models.Model):
    """One encrypted document of a customer's vault.

    The blob (``storage_key`` in the ``vault`` storage) is the document encrypted
    under a data key of its own, stored here wrapped by the owner's user key at
    ``key_version``. ``sha256`` and ``size`` describe the plaintext, so that
    ``vault_verify`` and the customer can check integrity.

    Scan status (the upload pipeline's services):

    - created ``pending_scan`` when a scanner is configured, ``unscanned`` when none is;
    - ``pending_scan`` -> ``clean`` (scanner found nothing) | ``infected`` (a
      signature matched: blob destroyed) | ``rejected`` (refused: too large for the
      scanner, type not allowed...: blob destroyed); ``pending_scan`` stays pending
      while the scanner is unreachable, and is retried;
    - ``unscanned`` -> ``pending_scan`` once a scanner is configured (rescan).
    Only ``clean`` documents (and ``unscanned`` ones in the embedded set-up) can be
    downloaded or shared.

    Life cycle:

    - active -> trashed (``trashed_at`` set) -> active again (restore, within 30 days);
    - trashed -> destroyed after 30 days; infected or rejected -> destroyed at once;
    - destroyed (``destroyed_at`` set): the wrapped data key is erased and the blob
      deleted; the row stays as the trace of what was held (name, SHA-256, dates).
    - the owner's user key destroyed: every document becomes unreadable.

    Data key re-wrap (``document_key_rewrap``, during a user-key rotation) changes
    ``wrapped_key`` and ``key_version`` only, never the blob.
    """

    uuid = models.UUIDField(_("identifiant"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="vault_documents",
        verbose_name=_("client"),
    )
    title = models.CharField(_("titre"), max_length=200)
    doc_type = models.CharField(
        _("type"), max_length=40, choices=DocumentType, default=DocumentType.OTHER
    )
    tags = models.ManyToManyField(
        Tag, blank=True, related_name="documents", verbose_name=_("étiquettes")
    )
    source = models.CharField(_("origine"), max_length=16, choices=DocumentSource)
    original_name = models.CharField(_("nom d'origine"), max_length=255, blank=True)
    content_type = models.CharField(_("type de contenu"), max_length=100)
    size = models.PositiveBigIntegerField(_("taille (octets)"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)

    storage_key = models.CharField(_("objet stocké"), max_length=255, editable=False)
    wrapped_key = models.BinaryField(_("clé de données chiffrée"), null=True, editable=False)
    key_version = models.PositiveIntegerField(_("version de la clé client"), editable=False)
    format_version = models.PositiveSmallIntegerField(
        _("version du format"), default=FORMAT_VERSION, editable=False
    )

    scan_status = models.CharField(
        _("analyse antivirus"),
        max_length=16,
        choices=ScanStatus,
        default=ScanStatus.PENDING_SCAN,
    )
    scan_detail = models.CharField(_("détail de l'analyse"), max_length=255, blank=True)
    scan_attempts = models.PositiveIntegerField(_("tentatives d'analyse"), default=0)
    scanned_at = models.DateTimeField(_("analysé le"), null=True, blank=True)

    issued_on = models.DateField(_("date de délivrance"), null=True, blank=True)
    expires_on = models.DateField(_("date d'expiration"), null=True, blank=True)

    suggested_doc_type = models.CharField(
        _("type suggéré"), max_length=40, choices=DocumentType, blank=True
    )
    suggested_expires_on = models.DateField(_("expiration suggérée"), null=True, blank=True)
    suggestion_reason = models.CharField(_("motif de la suggestion"), max_length=255, blank=True)
    suggested_at = models.DateTimeField(_("suggéré le"), null=True, blank=True)
    classification_confirmed_at = models.DateTimeField(
        _("classement confirmé le"), null=True, blank=True
    )
    suggestion_confidence = models.PositiveSmallIntegerField(
        _("confiance de la suggestion (%)"), null=True, blank=True
    )
    suggested_tag = models.CharField(_("étiquette suggérée"), max_length=50, blank=True)

    trashed_at = models.DateTimeField(_("mis à la corbeille le"), null=True, blank=True)
    destroyed_at = models.DateTimeField(_("détruit le"), null=True, blank=True)
    created_at = models.DateTimeField(_("ajouté le"), default=timezone.now)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["storage_key"], name="vault_document_storage_key_unique"
            ),
            models.CheckConstraint(
                condition=~Q(storage_key=""), name="vault_document_storage_key_set"
            ),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="vault_document_sha256_hex"
            ),
            models.CheckConstraint(condition=~Q(title=""), name="vault_document_title_set"),
            models.CheckConstraint(
                condition=Q(key_version__gte=1), name="vault_document_key_version"
            ),
            models.CheckConstraint(
                condition=Q(doc_type__in=DocumentType.values), name="vault_document_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(suggested_doc_type="") | Q(suggested_doc_type__in=DocumentType.values),
                name="vault_document_suggested_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(source__in=DocumentSource.values), name="vault_document_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(scan_status__in=ScanStatus.values),
                name="vault_document_scan_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True, wrapped_key__isnull=False)
                | Q(destroyed_at__isnull=False, wrapped_key__isnull=True),
                name="vault_document_key_until_destroyed",
            ),
            models.CheckConstraint(
                condition=Q(issued_on__isnull=True)
                | Q(expires_on__isnull=True)
                | Q(expires_on__gte=F("issued_on")),
                name="vault_document_expires_after_issue",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="vault_doc_owner_created"),
            models.Index(fields=["owner", "doc_type"], name="vault_doc_owner_type"),
            models.Index(fields=["scan_status"], name="vault_doc_scan_status"),
            models.Index(fields=["expires_on"], name="vault_doc_expires_on"),
            models.Index(fields=["owner", "key_version"], name="vault_doc_owner_key_version"),
        ]
        ordering = ["-created_at"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title

    @property
    def is_destroyed(self) -> bool:
        return self.destroyed_at is not None

    @property
    def is_trashed(self) -> bool:
        return self.trashed_at is not None


# --- Sharing, staff access, export window (vault/sharing.py, grants.py, export.py) -----


class ShareLink(models.Model):
    """A link that lets a third party download one clean document of its owner.

    The link carries a long random token; only its SHA-256 is stored, so the row
    alone cannot rebuild the link. An optional access code is stored as a Django
    password hash. Every access is an event on the owner's chain (target: this row).

    States (services in vault/sharing.py):

    - *usable*: not revoked, ``expires_at`` in the future, downloads left (when
      limited), document still clean and not trashed;
    - usable -> *revoked* (``share_revoke`` by the owner, or automatically after too
      many wrong codes, or at account closure): final;
    - usable -> *expired* / *exhausted*: by time or by the download limit, final.
    A visitor sees the same "not found" page for every unusable link.
    """

    class RevokeReason(models.TextChoices):
        OWNER = "owner", _("Révoqué par le client")
        TOO_MANY_CODES = "too_many_codes", _("Trop de codes erronés")
        DOCUMENT_GONE = "document_gone", _("Document supprimé")
        ACCOUNT_CLOSED = "account_closed", _("Compte fermé")

    document = models.ForeignKey(
        Document,
        on_delete=models.PROTECT,
        related_name="share_links",
        verbose_name=_("document"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="vault_share_links",
        verbose_name=_("client"),
    )
    token_sha256 = models.CharField(_("empreinte du lien"), max_length=64, editable=False)
    code_hash = models.CharField(_("code d'accès (haché)"), max_length=256, blank=True)
    expires_at = models.DateTimeField(_("expire le"))
    max_downloads = models.PositiveIntegerField(
        _("nombre maximal de téléchargements"), null=True, blank=True
    )
    download_count = models.PositiveIntegerField(_("téléchargements"), default=0)
    failed_codes = models.PositiveIntegerField(_("codes erronés"), default=0)
    locked_until = models.DateTimeField(_("bloqué jusqu'au"), null=True, blank=True)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    revoke_reason = models.CharField(
        _("motif de révocation"), max_length=32, choices=RevokeReason, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token_sha256"], name="vault_sharelink_token_unique"),
            models.CheckConstraint(
                condition=Q(token_sha256__regex=r"^[0-9a-f]{64}$"),  # noqa: S106 (a digest format)
                name="vault_sharelink_token_hex",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="vault_sharelink_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(max_downloads__isnull=True) | Q(max_downloads__gte=1),
                name="vault_sharelink_max_downloads_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_downloads__isnull=True) | Q(download_count__lte=F("max_downloads")),
                name="vault_sharelink_downloads_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoke_reason="")
                | (Q(revoked_at__isnull=False) & ~Q(revoke_reason="")),
                name="vault_sharelink_revocation_whole",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="vault_share_owner_created"),
        ]
        ordering = ["-created_at"]
        verbose_name = _("lien de partage")
        verbose_name_plural = _("liens de partage")

    def __str__(self) -> str:
        return f"ShareLink({self.pk}, document={self.document_id})"

    @property
    def has_code(self) -> bool:
        return bool(self.code_hash)

    @property
    def downloads_left(self) -> int | None:
        if self.max_downloads is None:
            return None
        return max(0, self.max_downloads - self.download_count)

    def state(self, now=None) -> str:
        """``revoked``, ``expired``, ``exhausted`` or ``active`` (the document aside)."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.downloads_left == 0:
            return "exhausted"
        return "active"


class StaffGrantTeam(models.TextChoices):
    SUPPORT = "support", _("L'équipe support")


class StaffGrant(AppendOnlyModel):
    """The customer's express, time-limited consent to let our staff read named documents.

    Evidence, written once (model and PostgreSQL triggers refuse UPDATE and DELETE):
    who granted, for which documents (``documents``, set in the creating
    transaction), to whom (one named staff member, or the support team), for which
    window ``[starts_at, ends_at)``, with the exact wording shown. Revocation is a
    :class:`StaffGrantRevocation` row, never a change of this one.

    A staff member may read a document only while a grant is *active*: now within
    the window, not revoked, the document among ``documents``, and the staff member
    the named grantee (or, for a team grant, an active member of that team).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="vault_staff_grants",
        verbose_name=_("client"),
    )
    documents = models.ManyToManyField(
        Document, related_name="staff_grants", verbose_name=_("documents")
    )
    grantee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vault_grants_received",
        verbose_name=_("membre de l'équipe"),
    )
    team = models.CharField(_("équipe"), max_length=16, choices=StaffGrantTeam, blank=True)
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    purpose = models.CharField(_("motif"), max_length=200, blank=True)
    wording = models.TextField(_("texte accepté"))
    ip = models.CharField(_("adresse IP"), max_length=45, blank=True)
    user_agent = models.CharField(_("navigateur"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("accordé le"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="vault_staffgrant_window_order"
            ),
            models.CheckConstraint(
                condition=(Q(grantee__isnull=False) & Q(team=""))
                | (Q(grantee__isnull=True) & Q(team__in=StaffGrantTeam.values)),
                name="vault_staffgrant_one_grantee",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="vault_grant_owner_created"),
            models.Index(fields=["ends_at"], name="vault_grant_ends_at"),
        ]
        ordering = ["-created_at"]
        verbose_name = _("accès accordé à l'équipe")
        verbose_name_plural = _("accès accordés à l'équipe")

    def __str__(self) -> str:
        return f"StaffGrant({self.pk}, owner={self.owner_id})"


class StaffGrantRevocation(AppendOnlyModel):
    """The end of a :class:`StaffGrant` before its window closed. Written once."""

    class Reason(models.TextChoices):
        CUSTOMER = "customer", _("Retiré par le client")
        ACCOUNT_CLOSED = "account_closed", _("Compte fermé")

    grant = models.OneToOneField(
        StaffGrant,
        on_delete=models.PROTECT,
        related_name="revocation",
        verbose_name=_("accès"),
    )
    revoked_at = models.DateTimeField(_("retiré le"), default=timezone.now)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("retiré par"),
    )
    reason = models.CharField(_("motif"), max_length=32, choices=Reason)

    class Meta:
        verbose_name = _("retrait d'accès")
        verbose_name_plural = _("retraits d'accès")

    def __str__(self) -> str:
        return f"{self.grant_id} {self.reason} {self.revoked_at:%Y-%m-%d}"


class ExportWindow(models.Model):
    """After account closure, the period during which the former customer may still
    retrieve their whole vault (CPCE L103: 12 months after the end of the contract).

    Opened by the closure hook (vault/registrations.py). The retrieval link sent to the
    former address carries a random token (only its SHA-256 is here) and asks for the
    former password, whose verifier (Django hash) is copied here at closure because
    the account's own is made unusable. States:

    - *open* (``ended_at`` empty, ``ends_at`` in the future): retrieval possible;
    - open -> *ended* (``export_window_end``): at ``ends_at`` by the daily job, or at
      once when the former customer asks; the user key is destroyed (crypto-shredding),
      the blobs deleted, ``password_hash`` erased. Final.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="vault_export_window",
        verbose_name=_("client"),
    )
    opened_at = models.DateTimeField(_("ouverte le"), default=timezone.now)
    ends_at = models.DateTimeField(_("fin prévue"))
    token_sha256 = models.CharField(_("empreinte du lien"), max_length=64, editable=False)
    password_hash = models.CharField(_("vérificateur du mot de passe"), max_length=256, blank=True)
    failed_attempts = models.PositiveIntegerField(_("tentatives erronées"), default=0)
    locked_until = models.DateTimeField(_("bloquée jusqu'au"), null=True, blank=True)
    exports = models.PositiveIntegerField(_("exports"), default=0)
    ended_at = models.DateTimeField(_("terminée le"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["token_sha256"], name="vault_exportwindow_token_unique"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("opened_at")), name="vault_exportwindow_order"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(password_hash=""),
                name="vault_exportwindow_ended_erased",
            ),
        ]
        indexes = [models.Index(fields=["ends_at"], name="vault_exportwindow_ends_at")]
        verbose_name = _("fenêtre d'export après fermeture")
        verbose_name_plural = _("fenêtres d'export après fermeture")

    def __str__(self) -> str:
        return f"ExportWindow(user={self.user_id})"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None and self.ends_at > timezone.now()


# --- Classification, intake and expiry reminders (vault/classification.py, intake.py,
# reminders.py) -----------------------------------------------------------------------


class ClassificationRule(models.Model):
    """A customer's own rule: a document whose name or text contains ``pattern`` is
    suggested ``doc_type`` (and the tag ``tag``).

    ``pattern`` is plain words, matched without regard to case or accents and on
    whole words (vault/rules.py), never as a regular expression.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="vault_classification_rules",
        verbose_name=_("client"),
    )
    pattern = models.CharField(_("mots"), max_length=100)
    doc_type = models.CharField(_("type"), max_length=40, choices=DocumentType)
    tag = models.CharField(_("étiquette"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(pattern=""), name="vault_classificationrule_pattern_set"
            ),
            models.CheckConstraint(
                condition=Q(doc_type__in=DocumentType.values),
                name="vault_classificationrule_type_valid",
            ),
            models.UniqueConstraint(
                Lower("pattern"), "owner", name="vault_classificationrule_unique_per_owner"
            ),
        ]
        ordering = ["created_at", "pk"]
        verbose_name = _("règle de classement")
        verbose_name_plural = _("règles de classement")

    def __str__(self) -> str:
        return f"{self.pattern} -> {self.doc_type}"


class IntakeAddress(models.Model):
    """A customer's private address for sending documents to their vault by email.

    The local part carries ``token`` (random, not guessable); the domain is
    ``VAULT_INTAKE_DOMAIN``. States (vault/intake.py): *active* (``revoked_at``
    empty; at most one per customer) -> *revoked* when the customer regenerates it
    (``intake_address_regenerate``) or closes the account. Mail sent to a revoked
    address is kept as evidence but nothing enters the vault.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="vault_intake_addresses",
        verbose_name=_("client"),
    )
    token = models.CharField(_("jeton"), max_length=32, editable=False)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    revoked_at = models.DateTimeField(_("révoquée le"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token"], name="vault_intakeaddress_token_unique"),
            models.CheckConstraint(
                condition=Q(token__regex=r"^[a-z0-9]{12,32}$"),  # noqa: S106 (a format)
                name="vault_intakeaddress_token_format",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(revoked_at__isnull=True),
                name="vault_intakeaddress_one_active",
            ),
        ]
        ordering = ["-created_at"]
        verbose_name = _("adresse de dépôt")
        verbose_name_plural = _("adresses de dépôt")

    def __str__(self) -> str:
        return f"IntakeAddress(user={self.user_id}, active={self.revoked_at is None})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class DocumentOrigin(models.Model):
    """Where a document the customer did not upload came from (proof of origin).

    Source ``service``: the app that produced it (``source_app``) and the object it
    belongs to (``related_type``/``related_id``, e.g. an invoice). Source ``email``:
    the inbound email kept raw as evidence, and its sender as stated in the message.
    """

    document = models.OneToOneField(
        Document, on_delete=models.CASCADE, related_name="origin", verbose_name=_("document")
    )
    source_app = models.CharField(_("application"), max_length=50, blank=True)
    related_type = models.CharField(_("objet lié (type)"), max_length=100, blank=True)
    related_id = models.CharField(_("objet lié (identifiant)"), max_length=64, blank=True)
    inbound_email = models.ForeignKey(
        "audit.InboundEmail",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("e-mail reçu"),
    )
    sender = models.CharField(_("expéditeur"), max_length=320, blank=True)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["related_type", "related_id"], name="vault_origin_related"),
        ]
        verbose_name = _("origine d'un document")
        verbose_name_plural = _("origines des documents")

    def __str__(self) -> str:
        return f"DocumentOrigin(document={self.document_id})"


class ExpiryReminder(models.Model):
    """One expiry reminder of a document, for one expiry date and one stage.

    The unique constraint makes sending idempotent: the daily job creates the row
    and queues the email in one transaction, so a second run (or two at once)
    sends nothing more. Keyed by ``expires_on`` too: when the customer records the
    renewed document's new date, reminders start again for it.
    """

    class Stage(models.IntegerChoices):
        DAYS_90 = 90, _("90 jours avant")
        DAYS_30 = 30, _("30 jours avant")
        DAYS_7 = 7, _("7 jours avant")

    document = models.ForeignKey(
        Document,
        on_delete=models.CASCADE,
        related_name="expiry_reminders",
        verbose_name=_("document"),
    )
    expires_on = models.DateField(_("date d'expiration"))
    days_before = models.PositiveSmallIntegerField(_("rappel"), choices=Stage)
    sent_at = models.DateTimeField(_("envoyé le"), default=timezone.now)
    email = models.ForeignKey(
        "audit.OutboundEmail",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("e-mail"),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["document", "expires_on", "days_before"],
                name="vault_expiryreminder_once",
            ),
            models.CheckConstraint(
                condition=Q(days_before__in=[90, 30, 7]), name="vault_expiryreminder_stage_valid"
            ),
        ]
        ordering = ["-sent_at"]
        verbose_name = _("rappel d'expiration")
        verbose_name_plural = _("rappels d'expiration")

    def __str__(self) -> str:
        return f"ExpiryReminder(document={self.document_id}, {self.days_before} days)"
