"""Accounts: the custom user (email is the login, no username)."""

from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from audit.models import AppendOnlyModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not (extra["is_staff"] and extra["is_superuser"]):
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email: str):
        return self.get(email__iexact=email)


class User(AbstractUser):
    """A person who logs in with their email address.

    Customers and staff share this model; staff have ``is_staff`` and belong to
    the "Support" or "Compliance" groups.
    """

    username = None
    email = models.EmailField(_("adresse e-mail"), unique=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")

    def __str__(self) -> str:
        return self.email


class Profile(models.Model):
    """What we know of the person, used to pre-fill assistance requests.

    Names live on ``User`` (first_name, last_name); everything else here. Changes go
    through ``accounts.services.profile_update``, which records before and after.
    """

    class Civility(models.TextChoices):
        NONE = "", _("Non précisée")
        MADAME = "mme", _("Madame")
        MONSIEUR = "m", _("Monsieur")

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="profile", verbose_name=_("utilisateur")
    )
    civility = models.CharField(_("civilité"), max_length=3, choices=Civility.choices, blank=True)
    birth_date = models.DateField(_("date de naissance"), null=True, blank=True)
    address_line1 = models.CharField(_("adresse"), max_length=200, blank=True)
    address_line2 = models.CharField(_("complément d'adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("commune"), max_length=100, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="FR")
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    updated_at = models.DateTimeField(_("mise à jour"), auto_now=True)

    class Meta:
        verbose_name = _("profil")
        verbose_name_plural = _("profils")

    def __str__(self) -> str:
        return str(self.user)


class Consent(AppendOnlyModel):
    """One answer of a person to one purpose, as evidence (append-only).

    A consent tied to a published text (terms, privacy policy, vault information)
    names the exact version and its hash; withdrawing a consent (e.g. server-side
    classification) is a new row with ``granted=False``. The current state of a
    purpose is the newest row.
    """

    class Purpose(models.TextChoices):
        TERMS = "terms", _("Conditions générales de vente")
        PRIVACY = "privacy", _("Politique de confidentialité")
        VAULT_INFORMATION = "vault_information", _("Information préalable sur le coffre")
        CLASSIFICATION = "classification", _("Classement automatique des documents")

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="consents", verbose_name=_("utilisateur")
    )
    purpose = models.CharField(_("finalité"), max_length=32, choices=Purpose.choices)
    granted = models.BooleanField(_("accordé"), default=True)
    content_version = models.ForeignKey(
        "audit.ContentVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("version du texte"),
    )
    document_key = models.CharField(_("texte"), max_length=150, blank=True, default="")
    version = models.PositiveIntegerField(_("version"), null=True, blank=True)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64, blank=True, default="")
    wording = models.TextField(
        _("formulation"),
        blank=True,
        default="",
        help_text=_("La phrase exacte qui était affichée."),
    )
    created_at = models.DateTimeField(_("date"))
    ip = models.CharField(_("adresse IP"), max_length=45, blank=True, default="")
    user_agent = models.CharField(_("agent utilisateur"), max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["user", "purpose", "-created_at"], name="accounts_consent_latest")
        ]
        verbose_name = _("consentement")
        verbose_name_plural = _("consentements")

    def __str__(self) -> str:
        return f"{self.user} {self.purpose} v{self.version} {'✓' if self.granted else '✗'}"


class ProfileChange(models.Model):
    """The before and after values of one profile update (mutable, erasable).

    The evidence log is immutable and must not hold personal data that account
    closure has to erase, so the values live here: the ``profile.updated`` event only
    names the changed fields and carries ``sha256``, the digest of this row's
    canonical JSON (``accounts.services.profile_change_digest``). While the row
    exists its content can be proven against the log; ``nonce`` (random, stored only
    here) keeps the digest from being guessed once the row is erased
    (docs/decisions.md, "Profile changes").
    """

    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="profile_changes",
        verbose_name=_("utilisateur"),
    )
    changed_at = models.DateTimeField(_("date de la modification"))
    changed_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("modifié par"),
    )
    changes = models.JSONField(
        _("modifications"), help_text=_("{champ : [avant, après]}, valeurs en texte.")
    )
    nonce = models.CharField(_("sel"), max_length=32)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-changed_at"], name="accounts_profilechange_latest")
        ]
        verbose_name = _("modification du profil")
        verbose_name_plural = _("modifications du profil")

    def __str__(self) -> str:
        return f"{self.user} {self.changed_at:%Y-%m-%d %H:%M}"


class ChainVerification(models.Model):
    """How far a customer's chain has been verified, so ``/journal/`` verifies only new events.

    A cache, not evidence: deleting a row only makes the next visit verify the
    chain from its start again (``accounts.journal.chain_verify_incremental``).
    ``broken_seq`` is set once a problem is found and then shown until an operator
    has investigated and deleted the row.
    """

    chain_key = models.CharField(_("chaîne"), max_length=64, unique=True)
    verified_seq = models.PositiveBigIntegerField(_("dernier numéro vérifié"), default=0)
    verified_hash = models.CharField(_("dernière empreinte vérifiée"), max_length=64)
    verified_at = models.DateTimeField(_("date de vérification"))
    broken_seq = models.PositiveBigIntegerField(_("numéro en défaut"), null=True, blank=True)
    problem = models.CharField(_("problème"), max_length=300, blank=True, default="")

    class Meta:
        verbose_name = _("vérification de chaîne")
        verbose_name_plural = _("vérifications de chaînes")

    def __str__(self) -> str:
        return f"{self.chain_key} ≤ {self.verified_seq}"


class AccountClosure(models.Model):
    """When an account was closed and until when its evidence must be kept.

    Written by ``accounts.closure.account_close`` in the closing transaction; read by
    the retention job (``accounts.retention``). ``evidence_until`` is the end of the
    contract-evidence period of docs/retention.md, after which the operator purge
    procedure described there applies.
    """

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, related_name="closure", verbose_name=_("utilisateur")
    )
    closed_at = models.DateTimeField(_("date de clôture"))
    reason = models.CharField(_("motif"), max_length=32)
    evidence_until = models.DateField(_("preuves conservées jusqu'au"))

    class Meta:
        indexes = [models.Index(fields=["evidence_until"], name="accounts_closure_evidence")]
        verbose_name = _("fermeture de compte")
        verbose_name_plural = _("fermetures de comptes")

    def __str__(self) -> str:
        return f"{self.user_id} {self.closed_at:%Y-%m-%d}"
