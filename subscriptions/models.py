"""Subscriptions: plans, subscriptions, payments, invoices, refunds and their evidence.

Every state change goes through ``subscriptions/services.py`` (one transaction, one
audit event); no view, admin page or task writes ``status`` directly. Amounts are
integers in euro cents, VAT rates integers in basis points (2000 = 20 %).

Evidence rows (invoices, credit notes, withdrawal declarations, cancellation
requests, raw provider events) are append-only: the models refuse updates outside
their ``MUTABLE_FIELDS`` and, on PostgreSQL, triggers refuse them too (migration
``0002_append_only_triggers``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from audit.models import AppendOnlyModel

from .references import generate_reference


class Plan(models.Model):
    """A subscription offer as sold: price incl. VAT, billing interval, features.

    Plans are never deleted once sold (``PROTECT`` from subscriptions); a plan that
    is no longer offered is made inactive. The price a customer pays is copied onto
    their payment and invoice, so changing a plan never rewrites the past.
    """

    class Interval(models.TextChoices):
        MONTH = "month", _("mensuel")
        YEAR = "year", _("annuel")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name_fr = models.CharField(_("nom (français)"), max_length=100)
    name_en = models.CharField(_("nom (anglais)"), max_length=100, blank=True, default="")
    price_ttc_cents = models.PositiveIntegerField(
        _("prix TTC (centimes)"), help_text=_("Prix par période, toutes taxes comprises.")
    )
    vat_rate_bp = models.PositiveIntegerField(
        _("taux de TVA (points de base)"), default=2000, help_text=_("2000 = 20 %.")
    )
    interval = models.CharField(_("périodicité"), max_length=8, choices=Interval.choices)
    requests_per_month = models.PositiveIntegerField(_("demandes d'assistance par mois"))
    vault_quota_bytes = models.PositiveBigIntegerField(_("espace du coffre (octets)"))
    is_active = models.BooleanField(_("proposé à la vente"), default=True)
    display_order = models.PositiveSmallIntegerField(_("ordre d'affichage"), default=0)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(price_ttc_cents__gt=0), name="subscriptions_plan_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(vat_rate_bp__lte=10000), name="subscriptions_plan_vat_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(interval__in=["month", "year"]), name="subscriptions_plan_interval"
            ),
        ]
        ordering = ["display_order", "id"]
        verbose_name = _("formule")
        verbose_name_plural = _("formules")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The name in the active language (French when no English name is set)."""
        if (translation.get_language() or "fr").startswith("en") and self.name_en:
            return self.name_en
        return self.name_fr


#: Every subscription status, and those in which a customer holds a live contract
#: (at most one at a time). Module-level so that ``Meta.constraints`` can use them.
SUBSCRIPTION_STATUSES = (
    "pending_payment", "active", "cancel_scheduled", "past_due", "ended", "withdrawn", "abandoned"
)  # fmt: skip
OPEN_SUBSCRIPTION_STATUSES = ("pending_payment", "active", "cancel_scheduled", "past_due")


class SubscriptionQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=Subscription.OPEN_STATUSES)


class Subscription(models.Model):
    """One customer's contract for one plan.

    States and every allowed transition (one service each, under ``select_for_update``):

    - ``pending_payment -> active``: the first payment succeeded; the contract is
      concluded (``concluded_at``), the withdrawal deadline is computed, the first
      period starts with the service (at once with an express start, otherwise when
      the withdrawal period is over).
    - ``pending_payment -> abandoned``: the checkout failed for good, expired, or the
      customer gave up; nothing was paid. Terminal.
    - ``active -> active``: renewal (a new period is paid; not a status change, but
      an event).
    - ``active -> cancel_scheduled``: the customer asked to cancel (L215-1-1); the
      subscription does not renew and ends at ``cancel_at``.
    - ``cancel_scheduled -> active``: the customer takes the cancellation back before
      ``cancel_at``.
    - ``cancel_scheduled -> ended``: ``cancel_at`` is reached. Terminal.
    - ``active | cancel_scheduled -> withdrawn``: withdrawal within 14 days
      (L221-18); ends at once, refund computed by ``refunds.withdrawal_refund``.
      Terminal.
    - ``active -> past_due``: a renewal payment failed; reminders are sent and the
      provider retries (access continues meanwhile, CGV article 6).
    - ``past_due -> active``: a retry or a new payment succeeded.
    - ``past_due -> ended``: retries exhausted, or the customer cancels while in
      arrears. Terminal.
    - ``active | cancel_scheduled -> ended``: ended at once by an accepted
      "satisfait ou remboursé" claim, an account closure or a termination by staff
      (CGV article 8). Terminal.

    ``abandoned``, ``ended`` and ``withdrawn`` are terminal: a customer who comes back
    gets a new subscription (and a new contract reference).
    """

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("en attente de paiement")
        ACTIVE = "active", _("actif")
        CANCEL_SCHEDULED = "cancel_scheduled", _("résiliation programmée")
        PAST_DUE = "past_due", _("paiement en retard")
        ENDED = "ended", _("terminé")
        WITHDRAWN = "withdrawn", _("rétractation")
        ABANDONED = "abandoned", _("commande abandonnée")

    OPEN_STATUSES = OPEN_SUBSCRIPTION_STATUSES
    #: Allowed transitions, checked by ``services._transition``.
    TRANSITIONS: dict[str, frozenset[str]] = {
        "pending_payment": frozenset({"active", "abandoned"}),
        "active": frozenset({"cancel_scheduled", "withdrawn", "past_due", "ended"}),
        "cancel_scheduled": frozenset({"active", "ended", "withdrawn"}),
        "past_due": frozenset({"active", "ended"}),
        "ended": frozenset(),
        "withdrawn": frozenset(),
        "abandoned": frozenset(),
    }

    class Provider(models.TextChoices):
        SIMULATED = "simulated", _("paiement simulé (démonstration)")
        STRIPE = "stripe", _("Stripe")

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        verbose_name=_("client"),
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("formule")
    )
    reference = models.CharField(
        _("référence du contrat"),
        max_length=20,
        unique=True,
        default=generate_reference,
        editable=False,
        help_text=_("Référence publique du contrat, demandée pour résilier sans se connecter."),
    )
    status = models.CharField(
        _("état"), max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT
    )
    created_at = models.DateTimeField(_("commandé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    terms_version = models.ForeignKey(
        "audit.ContentVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("version des CGV acceptée"),
    )
    # Express start (L221-25): the exact wording shown, its version and the answer.
    express_start = models.BooleanField(_("exécution immédiate demandée"), default=False)
    express_start_wording = models.TextField(
        _("texte de la demande d'exécution immédiate"), blank=True, default=""
    )
    express_start_version = models.CharField(
        _("version de ce texte"), max_length=40, blank=True, default=""
    )
    concluded_at = models.DateTimeField(
        _("contrat conclu le"), null=True, blank=True, help_text=_("Réception du paiement.")
    )
    withdrawal_deadline = models.DateTimeField(
        _("fin du délai de rétractation"),
        null=True,
        blank=True,
        help_text=_("Borne exclue : une déclaration faite avant cet instant est dans le délai."),
    )
    service_starts_at = models.DateTimeField(_("début du service"), null=True, blank=True)
    started_at = models.DateTimeField(_("activé le"), null=True, blank=True)
    current_period_start = models.DateTimeField(_("début de la période"), null=True, blank=True)
    current_period_end = models.DateTimeField(_("fin de la période"), null=True, blank=True)
    cancel_at = models.DateTimeField(_("fin programmée le"), null=True, blank=True)
    ended_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    provider = models.CharField(
        _("prestataire de paiement"), max_length=20, choices=Provider.choices
    )
    provider_customer_id = models.CharField(
        _("identifiant client chez le prestataire"), max_length=255, blank=True, default=""
    )
    provider_subscription_id = models.CharField(
        _("identifiant d'abonnement chez le prestataire"), max_length=255, blank=True, default=""
    )
    provider_checkout_id = models.CharField(
        _("identifiant de la session de paiement"), max_length=255, blank=True, default=""
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(
                    status__in=["pending_payment", "active", "cancel_scheduled", "past_due"]
                ),
                name="subscriptions_one_open_per_customer",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_subscription_id"],
                condition=~Q(provider_subscription_id=""),
                name="subscriptions_provider_subscription_unique",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_checkout_id"],
                condition=~Q(provider_checkout_id=""),
                name="subscriptions_provider_checkout_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SUBSCRIPTION_STATUSES),
                name="subscriptions_subscription_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="pending_payment")
                | Q(status="abandoned")
                | Q(concluded_at__isnull=False, withdrawal_deadline__isnull=False),
                name="subscriptions_subscription_concluded_after_payment",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancel_scheduled") | Q(cancel_at__isnull=False),
                name="subscriptions_subscription_cancel_at_set",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["ended", "withdrawn", "abandoned"])
                | Q(ended_at__isnull=False),
                name="subscriptions_subscription_ended_at_set",
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__isnull=True)
                | Q(current_period_end__gt=F("current_period_start")),
                name="subscriptions_subscription_period_order",
            ),
            models.CheckConstraint(
                condition=Q(express_start=False) | ~Q(express_start_wording=""),
                name="subscriptions_subscription_express_start_wording",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="subs_sub_customer"),
            models.Index(fields=["status", "current_period_end"], name="subs_sub_status_end"),
        ]
        verbose_name = _("abonnement")
        verbose_name_plural = _("abonnements")

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]


class Payment(models.Model):
    """Money received (or attempted) for one period of a subscription.

    States: ``pending -> succeeded | failed``; ``failed`` is terminal (a retry is a
    new payment). The amount and period are copied from the plan at the time.
    """

    class Kind(models.TextChoices):
        INITIAL = "initial", _("première période")
        RENEWAL = "renewal", _("renouvellement")

    class Status(models.TextChoices):
        PENDING = "pending", _("en attente")
        SUCCEEDED = "succeeded", _("réussi")
        FAILED = "failed", _("échoué")

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("abonnement"),
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="subscription_payments",
        verbose_name=_("client"),
    )
    kind = models.CharField(_("nature"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    amount_cents = models.PositiveIntegerField(_("montant TTC (centimes)"))
    vat_rate_bp = models.PositiveIntegerField(_("taux de TVA (points de base)"))
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    period_start = models.DateTimeField(_("début de la période payée"))
    period_end = models.DateTimeField(_("fin de la période payée"))
    provider = models.CharField(
        _("prestataire"), max_length=20, choices=Subscription.Provider.choices
    )
    provider_payment_id = models.CharField(
        _("identifiant chez le prestataire"), max_length=255, blank=True, default=""
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    paid_at = models.DateTimeField(_("payé le"), null=True, blank=True)
    failure_reason = models.CharField(_("motif de l'échec"), max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="subscriptions_payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")),
                name="subscriptions_payment_period_order",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(paid_at__isnull=False),
                name="subscriptions_payment_paid_at_set",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_payment_id"],
                condition=~Q(provider_payment_id=""),
                name="subscriptions_payment_provider_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="subs_payment_customer")]
        verbose_name = _("paiement")
        verbose_name_plural = _("paiements")

    def __str__(self) -> str:
        return f"{self.subscription.reference} {self.amount_cents / 100:.2f} {self.currency}"


class DocumentCounter(models.Model):
    """The last number given in one series for one year (see ``numbering.py``).

    Locked with ``select_for_update`` inside the transaction that issues the
    document, so numbers have no gap and no duplicate; a rolled-back transaction
    rolls the counter back too.
    """

    series = models.CharField(_("série"), max_length=4)
    year = models.PositiveSmallIntegerField(_("année"))
    last_number = models.PositiveIntegerField(_("dernier numéro attribué"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="subscriptions_counter_unique")
        ]
        verbose_name = _("compteur de numérotation")
        verbose_name_plural = _("compteurs de numérotation")

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class IssuedDocument(AppendOnlyModel):
    """What invoices and credit notes share: a number, snapshots, lines and totals.

    Everything is frozen at issue; only the rendered PDF's hash, its rendering time
    and the vault document that holds it are filled in later (``MUTABLE_FIELDS``).

    ``lines`` is a list of ``{"label", "quantity", "unit_ttc_cents", "vat_rate_bp",
    "total_ht_cents", "total_vat_cents", "total_ttc_cents"}``; ``customer_snapshot``
    holds ``name``, ``email``, ``address``; ``company_snapshot`` holds ``name``,
    ``address``, ``siren``, ``vat_number``, ``email``.
    """

    SERIES: str = ""
    MUTABLE_FIELDS = frozenset({"pdf_sha256", "pdf_rendered_at", "vault_document_id"})

    series = models.CharField(_("série"), max_length=4, editable=False)
    year = models.PositiveSmallIntegerField(_("année"))
    sequence = models.PositiveIntegerField(_("numéro d'ordre"))
    number = models.CharField(_("numéro"), max_length=20, unique=True)
    issued_at = models.DateTimeField(_("émis le"))
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("client"),
    )
    customer_snapshot = models.JSONField(_("identité du client"))
    company_snapshot = models.JSONField(_("mentions légales de l'entreprise"))
    lines = models.JSONField(_("lignes"))
    total_ht_cents = models.PositiveIntegerField(_("total HT (centimes)"))
    total_vat_cents = models.PositiveIntegerField(_("total TVA (centimes)"))
    total_ttc_cents = models.PositiveIntegerField(_("total TTC (centimes)"))
    currency = models.CharField(_("devise"), max_length=3, default="EUR")
    pdf_sha256 = models.CharField(_("SHA-256 du PDF"), max_length=64, blank=True, default="")
    pdf_rendered_at = models.DateTimeField(_("PDF produit le"), null=True, blank=True)
    vault_document_id = models.PositiveBigIntegerField(
        _("document du coffre"), null=True, blank=True
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.number


def _document_constraints(prefix: str, series: str) -> list:
    return [
        models.UniqueConstraint(fields=["series", "year", "sequence"], name=f"{prefix}_seq_unique"),
        models.CheckConstraint(condition=Q(series=series), name=f"{prefix}_series"),
        models.CheckConstraint(condition=Q(sequence__gte=1), name=f"{prefix}_sequence_positive"),
        models.CheckConstraint(
            condition=Q(total_ttc_cents=F("total_ht_cents") + F("total_vat_cents")),
            name=f"{prefix}_totals_add_up",
        ),
    ]


class Invoice(IssuedDocument):
    """An invoice ("Facture", series ``F``): one per successful payment."""

    SERIES = "F"

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("abonnement"),
    )
    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="invoice", verbose_name=_("paiement")
    )

    class Meta:
        constraints = _document_constraints("subscriptions_invoice", "F")
        indexes = [models.Index(fields=["customer", "-issued_at"], name="subs_invoice_customer")]
        ordering = ["-issued_at"]
        verbose_name = _("facture")
        verbose_name_plural = _("factures")


class SatisfactionClaim(models.Model):
    """A "satisfait ou remboursé" claim: our commercial promise (CGV article 9).

    States: ``requested -> accepted | refused`` (staff decide, with a reason). An
    accepted claim leads to a refund (reason ``satisfaction``), a credit note and the
    end of the subscription. At most one open and one accepted claim per customer.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("demandée")
        ACCEPTED = "accepted", _("acceptée")
        REFUSED = "refused", _("refusée")

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="satisfaction_claims",
        verbose_name=_("client"),
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        related_name="satisfaction_claims",
        verbose_name=_("abonnement"),
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        related_name="satisfaction_claims",
        verbose_name=_("paiement concerné"),
    )
    reason = models.TextField(_("motif du client"))
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    created_at = models.DateTimeField(_("demandée le"), auto_now_add=True)
    decided_at = models.DateTimeField(_("décidée le"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("décidée par"),
    )
    decision_reason = models.TextField(_("motif de la décision"), blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="requested"),
                name="subscriptions_claim_one_open_per_customer",
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="accepted"),
                name="subscriptions_claim_one_accepted_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(status="requested", decided_at__isnull=True)
                | (
                    Q(status__in=["accepted", "refused"], decided_at__isnull=False)
                    & ~Q(decision_reason="")
                ),
                name="subscriptions_claim_decision_complete",
            ),
        ]
        verbose_name = _("demande « satisfait ou remboursé »")
        verbose_name_plural = _("demandes « satisfait ou remboursé »")

    def __str__(self) -> str:
        return f"{self.subscription.reference} ({self.get_status_display()})"


class WithdrawalDeclaration(AppendOnlyModel):
    """A customer's withdrawal (L221-18 to L221-28), as evidence. Written once.

    ``online``: made with "Renoncer au contrat ici" then "Confirmer la rétractation".
    ``post`` / ``email``: an unambiguous statement received otherwise, recorded by
    staff (``recorded_by``) with the date it was sent (``declared_at``). ``content``
    is the text of the declaration; the refund computation (inputs, rule and
    result) is frozen in ``computation`` and ``refund_cents``.
    """

    class Channel(models.TextChoices):
        ONLINE = "online", _("en ligne")
        POST = "post", _("courrier")
        EMAIL = "email", _("e-mail")

    subscription = models.OneToOneField(
        Subscription,
        on_delete=models.PROTECT,
        related_name="withdrawal",
        verbose_name=_("abonnement"),
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="withdrawal_declarations",
        verbose_name=_("client"),
    )
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    declared_at = models.DateTimeField(_("déclarée le"))
    recorded_at = models.DateTimeField(_("enregistrée le"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("enregistrée par"),
    )
    content = models.TextField(_("contenu de la déclaration"))
    paid_cents = models.PositiveIntegerField(_("montant payé (centimes)"))
    refund_cents = models.PositiveIntegerField(_("montant à rembourser (centimes)"))
    computation = models.JSONField(_("détail du calcul"))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_cents__lte=F("paid_cents")),
                name="subscriptions_withdrawal_refund_le_paid",
            ),
            models.CheckConstraint(
                condition=Q(channel="online", recorded_by__isnull=True)
                | Q(channel__in=["post", "email"], recorded_by__isnull=False),
                name="subscriptions_withdrawal_recorded_by_staff",
            ),
        ]
        verbose_name = _("déclaration de rétractation")
        verbose_name_plural = _("déclarations de rétractation")

    def __str__(self) -> str:
        return f"{self.subscription.reference} ({self.get_channel_display()})"


class CancellationRequest(AppendOnlyModel):
    """A "Résilier votre contrat" request (L215-1-1, D215-1), as evidence.

    What the customer typed (name, email, reference, desired date) and what we
    decided from it (``effective_end``: the end of the paid period, or the later date
    they chose). A logged-out request with a wrong email/reference pair creates
    nothing.
    """

    class Channel(models.TextChoices):
        LOGGED_IN = "logged_in", _("connecté")
        LOGGED_OUT = "logged_out", _("sans connexion")

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        related_name="cancellation_requests",
        verbose_name=_("abonnement"),
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="cancellation_requests",
        verbose_name=_("client"),
    )
    channel = models.CharField(_("canal"), max_length=12, choices=Channel.choices)
    full_name = models.CharField(_("nom"), max_length=200)
    email = models.EmailField(_("adresse e-mail"))
    contract_reference = models.CharField(_("référence du contrat"), max_length=40)
    desired_date = models.DateField(_("date souhaitée"), null=True, blank=True)
    effective_end = models.DateTimeField(_("fin effective"))
    requested_at = models.DateTimeField(_("demandée le"))

    class Meta:
        indexes = [models.Index(fields=["customer", "-requested_at"], name="subs_cancel_customer")]
        verbose_name = _("demande de résiliation")
        verbose_name_plural = _("demandes de résiliation")

    def __str__(self) -> str:
        return f"{self.contract_reference} → {self.effective_end:%Y-%m-%d}"


class Refund(models.Model):
    """Money given back for one payment.

    States: ``requested -> approved -> sent -> succeeded | failed``, and
    ``failed -> approved`` when staff retry. ``approved`` is the pending work a task
    picks up: it calls the provider with the idempotency key ``refund:<id>``
    (:attr:`idempotency_key`), so a retried or duplicated task never refunds twice.
    Withdrawal refunds are due within 14 days of the declaration (L221-24,
    ``due_by``). Every succeeded refund produces a credit note.
    """

    class Reason(models.TextChoices):
        WITHDRAWAL = "withdrawal", _("rétractation")
        SATISFACTION = "satisfaction", _("satisfait ou remboursé")
        GOODWILL = "goodwill", _("geste commercial")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("demandé")
        APPROVED = "approved", _("approuvé")
        SENT = "sent", _("envoyé au prestataire")
        SUCCEEDED = "succeeded", _("effectué")
        FAILED = "failed", _("échoué")

    TRANSITIONS: dict[str, frozenset[str]] = {
        "requested": frozenset({"approved"}),
        "approved": frozenset({"sent"}),
        "sent": frozenset({"succeeded", "failed"}),
        "failed": frozenset({"approved"}),
        "succeeded": frozenset(),
    }

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="subscription_refunds",
        verbose_name=_("client"),
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("abonnement")
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("paiement")
    )
    reason = models.CharField(_("motif"), max_length=12, choices=Reason.choices)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    amount_cents = models.PositiveIntegerField(_("montant (centimes)"))
    withdrawal = models.OneToOneField(
        WithdrawalDeclaration,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refund",
        verbose_name=_("rétractation"),
    )
    satisfaction_claim = models.OneToOneField(
        SatisfactionClaim,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refund",
        verbose_name=_("demande « satisfait ou remboursé »"),
    )
    note = models.TextField(_("note interne"), blank=True, default="")
    requested_at = models.DateTimeField(_("demandé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    due_by = models.DateTimeField(_("à effectuer avant le"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approuvé le"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approuvé par"),
    )
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    succeeded_at = models.DateTimeField(_("effectué le"), null=True, blank=True)
    failed_at = models.DateTimeField(_("échoué le"), null=True, blank=True)
    failure_reason = models.CharField(_("motif de l'échec"), max_length=255, blank=True, default="")
    provider = models.CharField(
        _("prestataire"), max_length=20, choices=Subscription.Provider.choices
    )
    provider_refund_id = models.CharField(
        _("identifiant chez le prestataire"), max_length=255, blank=True, default=""
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="subscriptions_refund_amount_positive"
            ),
            models.CheckConstraint(
                condition=(Q(reason="withdrawal") & Q(withdrawal__isnull=False))
                | (~Q(reason="withdrawal") & Q(withdrawal__isnull=True)),
                name="subscriptions_refund_withdrawal_link",
            ),
            models.CheckConstraint(
                condition=(Q(reason="satisfaction") & Q(satisfaction_claim__isnull=False))
                | (~Q(reason="satisfaction") & Q(satisfaction_claim__isnull=True)),
                name="subscriptions_refund_claim_link",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(succeeded_at__isnull=False),
                name="subscriptions_refund_succeeded_at_set",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_refund_id"],
                condition=~Q(provider_refund_id=""),
                name="subscriptions_refund_provider_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="subs_refund_pending"),
            models.Index(fields=["customer", "-requested_at"], name="subs_refund_customer"),
        ]
        verbose_name = _("remboursement")
        verbose_name_plural = _("remboursements")

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.amount_cents / 100:.2f} €"

    @property
    def idempotency_key(self) -> str:
        """The key every provider call for this refund carries: ``refund:<id>``."""
        if self.pk is None:
            raise ValueError("a refund gets its idempotency key once saved")
        return f"refund:{self.pk}"


class CreditNote(IssuedDocument):
    """A credit note ("Avoir", series ``A``): one per succeeded refund.

    It cancels (part of) ``invoice``; its totals are positive amounts credited.
    """

    SERIES = "A"

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="credit_notes", verbose_name=_("facture")
    )
    refund = models.OneToOneField(
        Refund,
        on_delete=models.PROTECT,
        related_name="credit_note",
        verbose_name=_("remboursement"),
    )

    class Meta:
        constraints = _document_constraints("subscriptions_creditnote", "A")
        indexes = [models.Index(fields=["customer", "-issued_at"], name="subs_credit_customer")]
        ordering = ["-issued_at"]
        verbose_name = _("avoir")
        verbose_name_plural = _("avoirs")


class ProviderEvent(AppendOnlyModel):
    """A raw notification from a payment provider, stored as it arrived (evidence).

    The body, its hash and the signature header never change; only the processing
    columns do (``MUTABLE_FIELDS``). ``(provider, event_id)`` is unique, so a
    delivery repeated by the provider is stored once and processed once.

    Processing states: ``received -> processed | ignored | failed``, and
    ``failed -> processed | ignored | failed`` on retry.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("reçu")
        PROCESSED = "processed", _("traité")
        IGNORED = "ignored", _("ignoré")
        FAILED = "failed", _("échec du traitement")

    MUTABLE_FIELDS = frozenset(
        {"status", "processed_at", "processing_result", "attempts", "subscription"}
    )

    provider = models.CharField(
        _("prestataire"), max_length=20, choices=Subscription.Provider.choices
    )
    event_id = models.CharField(_("identifiant de l'événement"), max_length=255)
    type = models.CharField(_("type"), max_length=100)
    received_at = models.DateTimeField(_("reçu le"))
    provider_created_at = models.DateTimeField(_("créé chez le prestataire le"), null=True)
    raw_body = models.BinaryField(_("corps brut"))
    sha256 = models.CharField(_("SHA-256 du corps"), max_length=64)
    signature_header = models.TextField(_("en-tête de signature"), blank=True, default="")
    status = models.CharField(
        _("traitement"), max_length=10, choices=Status.choices, default=Status.RECEIVED
    )
    attempts = models.PositiveIntegerField(_("tentatives de traitement"), default=0)
    processed_at = models.DateTimeField(_("traité le"), null=True, blank=True)
    processing_result = models.TextField(_("résultat du traitement"), blank=True, default="")
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="provider_events",
        verbose_name=_("abonnement"),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="subscriptions_provider_event_unique"
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="subs_provider_event_todo")]
        ordering = ["-received_at"]
        verbose_name = _("événement du prestataire de paiement")
        verbose_name_plural = _("événements du prestataire de paiement")

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} {self.type}"
