"""What subscriptions plug into accounts: journal sentences, dashboard panel, export, closure.

Imported once from ``SubscriptionsConfig.ready()``. Accounts owns the registries
(``accounts.journal``, ``accounts.dashboard``, ``accounts.exports``,
``accounts.closure``); this module only fills them for the subscription business:

- journal: the families ``subscription``, ``invoice``, ``credit_note``, ``refund``,
  ``withdrawal``, ``cancellation`` and ``satisfaction_claim``, a plain sentence for
  every action the services record, and a fallback per family for actions added
  later (the sentence then names the contract, never an internal code alone);
- dashboard: the "Mon abonnement" panel (one query);
- export: the section ``subscriptions`` (every row of the person, invoices and
  credit notes as PDF);
- closure: refused while a contract is open, with a link to end it.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import journal
from accounts.closure import ClosureRefused, register_closure_hook
from accounts.dashboard import register_panel
from accounts.exports import ExportFile, model_rows, register_export_section, to_json_bytes
from audit.models import Event

from .models import (
    CancellationRequest,
    CreditNote,
    Invoice,
    Payment,
    Refund,
    SatisfactionClaim,
    Subscription,
    WithdrawalDeclaration,
)
from .money import format_eur

# --- Journal --------------------------------------------------------------------------


def _data(event: Event) -> dict:
    return event.data if isinstance(event.data, dict) else {}


def _text(event: Event, key: str) -> str:
    value = _data(event).get(key)
    return value if isinstance(value, str) else ""


def _int(event: Event, key: str) -> int | None:
    value = _data(event).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _amount(event: Event, key: str) -> str:
    cents = _int(event, key)
    return format_eur(cents) if cents is not None else ""


def _day(event: Event, key: str) -> str:
    """A date or datetime of the event's data, as « 16 mars 2026 » (Paris)."""
    raw = _text(event, key)
    if not raw:
        return ""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        try:
            return formats.date_format(date.fromisoformat(raw), "DATE_FORMAT")
        except ValueError:
            return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return formats.date_format(moment.date(), "DATE_FORMAT")


def _reference(event: Event) -> str:
    return _text(event, "reference") or _text(event, "subscription")


def _by_customer(event: Event) -> bool:
    """Whether the customer acted (then the journal shows where from)."""
    return event.actor_type == Event.ActorType.USER


def _say(text: str, event: Event) -> str:
    return journal.sentence(text, event, with_origin=_by_customer(event))


def _filled(template, event: Event, **values) -> str:
    """``template % values`` as a journal sentence; the family's fallback if a value is missing.

    Events written by older code, or by hand in a test, may lack a key: the page
    then says less, never a sentence with holes.
    """
    if any(value in ("", None) for value in values.values()):
        return _describe_family(event)
    return _say(str(template) % values, event)


def _describe_ordered(event: Event) -> str:
    yearly = _text(event, "interval") == "year"
    if _data(event).get("express_start") is True:
        template = (
            _("Commande d'un abonnement annuel à %(price)s TTC, avec démarrage immédiat demandé "
              "(contrat %(reference)s)")
            if yearly
            else _("Commande d'un abonnement mensuel à %(price)s TTC, avec démarrage immédiat "
                   "demandé (contrat %(reference)s)")
        )  # fmt: skip
    else:
        template = (
            _("Commande d'un abonnement annuel à %(price)s TTC (contrat %(reference)s)")
            if yearly
            else _("Commande d'un abonnement mensuel à %(price)s TTC (contrat %(reference)s)")
        )
    return _filled(
        template, event, price=_amount(event, "price_ttc_cents"), reference=_reference(event)
    )


def _describe_precontract(event: Event) -> str:
    return _filled(
        _(
            "Informations précontractuelles et conditions générales de vente (version "
            "%(version)s) présentées avant votre commande"
        ),
        event,
        version=_int(event, "terms_version"),
    )


def _describe_activated(event: Event) -> str:
    return _filled(
        _("Paiement de %(amount)s reçu : votre contrat %(reference)s est conclu"),
        event,
        amount=_amount(event, "amount_cents"),
        reference=_reference(event),
    )


def _describe_renewed(event: Event) -> str:
    return _filled(
        _("Renouvellement payé (%(amount)s) : votre abonnement continue jusqu'au %(end)s"),
        event,
        amount=_amount(event, "amount_cents"),
        end=_day(event, "period_end"),
    )


def _describe_renewal_notice(event: Event) -> str:
    return _filled(
        _("Avis de reconduction envoyé : votre abonnement sera reconduit le %(day)s"),
        event,
        day=_day(event, "renewal_on"),
    )


def _describe_reminder(event: Event) -> str:
    return _filled(
        _("Rappel n° %(number)s : le paiement de votre abonnement est toujours en attente"),
        event,
        number=_int(event, "number"),
    )


def _describe_payment_failed(event: Event) -> str:
    if _text(event, "status") == "past_due" and _text(event, "previous_status") == "active":
        text = _("Paiement de votre abonnement refusé : nous réessayons et vous avons prévenu")
    else:
        text = _("Nouvel échec de paiement de votre abonnement")
    return _say(text, event)


def _describe_cancel_scheduled(event: Event) -> str:
    return _filled(
        _("Résiliation enregistrée : votre abonnement prend fin le %(day)s"),
        event,
        day=_day(event, "cancel_at"),
    )


def _describe_cancellation_requested(event: Event) -> str:
    return _filled(
        _("Demande de résiliation reçue : fin du contrat le %(day)s"),
        event,
        day=_day(event, "effective_end"),
    )


def _describe_withdrawal_declared(event: Event) -> str:
    return _filled(
        _("Déclaration de rétractation du %(day)s enregistrée"),
        event,
        day=_day(event, "declared_at"),
    )


def _describe_invoice(event: Event) -> str:
    if event.action == "invoice.pdf_rendered":
        return _filled(
            _("Facture %(number)s disponible en PDF"), event, number=_text(event, "number")
        )
    if event.action != "invoice.issued":
        return _describe_family(event)
    return _filled(
        _("Facture %(number)s émise (%(amount)s TTC)"),
        event,
        number=_text(event, "number"),
        amount=_amount(event, "total_ttc_cents"),
    )


def _describe_credit_note(event: Event) -> str:
    if event.action == "credit_note.pdf_rendered":
        return _filled(
            _("Avoir %(number)s disponible en PDF"), event, number=_text(event, "number")
        )
    if event.action != "credit_note.issued":
        return _describe_family(event)
    return _filled(
        _("Avoir %(number)s émis (%(amount)s TTC), sur la facture %(invoice)s"),
        event,
        number=_text(event, "number"),
        amount=_amount(event, "total_ttc_cents"),
        invoice=_text(event, "invoice"),
    )


_REFUND_STEPS = {
    "refund.requested": gettext_lazy("Remboursement de %(amount)s demandé"),
    "refund.approved": gettext_lazy("Remboursement de %(amount)s approuvé"),
    "refund.sent": gettext_lazy("Remboursement de %(amount)s transmis au prestataire de paiement"),
    "refund.pending_at_provider": gettext_lazy(
        "Remboursement de %(amount)s en cours chez le prestataire de paiement"
    ),
    "refund.succeeded": gettext_lazy("Remboursement de %(amount)s effectué"),
    "refund.failed": gettext_lazy(
        "Le remboursement de %(amount)s a échoué : notre équipe s'en occupe"
    ),
}


def _describe_refund(event: Event) -> str:
    template = _REFUND_STEPS.get(event.action)
    if template is None:
        return _describe_family(event)
    return _filled(template, event, amount=_amount(event, "amount_cents"))


_CLAIM_STEPS = {
    "satisfaction_claim.submitted": gettext_lazy(
        "Demande « satisfait ou remboursé » envoyée (contrat %(reference)s)"
    ),
    "satisfaction_claim.accepted": gettext_lazy(
        "Demande « satisfait ou remboursé » acceptée (contrat %(reference)s)"
    ),
    "satisfaction_claim.refused": gettext_lazy(
        "Demande « satisfait ou remboursé » refusée (contrat %(reference)s)"
    ),
}


def _describe_claim(event: Event) -> str:
    template = _CLAIM_STEPS.get(event.action)
    if template is None:
        return _describe_family(event)
    return _filled(template, event, reference=_reference(event))


_FAMILIES = {
    "subscription": gettext_lazy("Abonnement"),
    "invoice": gettext_lazy("Factures"),
    "credit_note": gettext_lazy("Avoirs"),
    "refund": gettext_lazy("Remboursements"),
    "withdrawal": gettext_lazy("Rétractation"),
    "cancellation": gettext_lazy("Résiliation"),
    "satisfaction_claim": gettext_lazy("Satisfait ou remboursé"),
}


def _describe_family(event: Event) -> str:
    """The fallback of a subscription family: its name, the contract, the operation's code."""
    family = str(_FAMILIES.get(event.action.split(".", 1)[0], _("Abonnement")))
    reference = _reference(event)
    if reference:
        text = _("%(family)s : opération « %(action)s » sur le contrat %(reference)s") % {
            "family": family,
            "action": event.action,
            "reference": reference,
        }
    else:
        text = _("%(family)s : opération « %(action)s »") % {
            "family": family,
            "action": event.action,
        }
    return _say(text, event)


def _simple(head) -> journal.Describer:
    def describe(event: Event) -> str:
        return _filled(head, event, reference=_reference(event))

    return describe


def register_journal() -> None:
    for prefix, label in _FAMILIES.items():
        journal.register_kind(prefix, label)
        journal.register_describer(prefix, _describe_family)
    simple = {
        "subscription.checkout_started": gettext_lazy(
            "Ouverture du paiement de votre commande %(reference)s"
        ),
        "subscription.checkout_failed": gettext_lazy(
            "Paiement refusé pour votre commande %(reference)s : rien n'a été débité"
        ),
        "subscription.abandoned": gettext_lazy("Commande %(reference)s abandonnée, sans paiement"),
        "subscription.confirmation_sent": gettext_lazy(
            "Confirmation de votre contrat %(reference)s envoyée par e-mail, avec les conditions "
            "générales de vente et le formulaire de rétractation"
        ),
        "subscription.documents_deposited": gettext_lazy(
            "Documents de votre contrat %(reference)s déposés dans votre coffre"
        ),
        "subscription.resumed": gettext_lazy(
            "Résiliation annulée : votre abonnement %(reference)s continue"
        ),
        "subscription.cancelled_by_staff": gettext_lazy(
            "Abonnement %(reference)s terminé par notre équipe"
        ),
        "subscription.ended": gettext_lazy("Fin de votre abonnement %(reference)s"),
        "subscription.withdrawn": gettext_lazy(
            "Rétractation : votre contrat %(reference)s prend fin immédiatement"
        ),
    }
    for action, head in simple.items():
        journal.register_describer(action, _simple(head))
    journal.register_describer("subscription.ordered", _describe_ordered)
    journal.register_describer("subscription.precontract_shown", _describe_precontract)
    journal.register_describer("subscription.activated", _describe_activated)
    journal.register_describer("subscription.renewed", _describe_renewed)
    journal.register_describer("subscription.renewal_notice_sent", _describe_renewal_notice)
    journal.register_describer("subscription.payment_failed", _describe_payment_failed)
    journal.register_describer("subscription.payment_reminder_sent", _describe_reminder)
    journal.register_describer("subscription.cancel_scheduled", _describe_cancel_scheduled)
    journal.register_describer("cancellation.requested", _describe_cancellation_requested)
    journal.register_describer("withdrawal.declared", _describe_withdrawal_declared)
    journal.register_describer("invoice", _describe_invoice)
    journal.register_describer("credit_note", _describe_credit_note)
    for action in _REFUND_STEPS:
        journal.register_describer(action, _describe_refund)
    for action in _CLAIM_STEPS:
        journal.register_describer(action, _describe_claim)


# --- Dashboard ------------------------------------------------------------------------


def subscription_panel(request) -> dict:
    """The "Mon abonnement" panel: one query (the open subscription with its plan)."""
    from . import deadlines, selectors
    from .views import status_summary

    subscription = selectors.subscription_current_for(request.user)
    if subscription is None:
        return {"subscription": None}
    return {
        "subscription": subscription,
        "summary": status_summary(subscription),
        "price": format_eur(subscription.plan.price_ttc_cents),
        "is_yearly": subscription.plan.interval == "year",
        # "Renoncer au contrat ici" stays visible for the whole withdrawal period.
        "withdrawal_last_day": deadlines.withdrawal_last_day(
            deadlines.local_date(subscription.concluded_at)
        )
        if subscription.withdrawal_deadline
        and subscription.withdrawal_deadline > timezone.now()
        and subscription.can_become(Subscription.Status.WITHDRAWN)
        else None,
    }


# --- Data export ---------------------------------------------------------------------


def subscription_export(user) -> list[ExportFile]:
    """Every subscription row of ``user``, and their invoices and credit notes as PDF."""
    from .pdf import issued_document_pdf

    files = [
        ExportFile(
            "abonnements.json",
            to_json_bytes(model_rows(Subscription.objects.filter(customer=user))),
        ),
        ExportFile(
            "paiements.json", to_json_bytes(model_rows(Payment.objects.filter(customer=user)))
        ),
        ExportFile(
            "factures.json", to_json_bytes(model_rows(Invoice.objects.filter(customer=user)))
        ),
        ExportFile(
            "avoirs.json", to_json_bytes(model_rows(CreditNote.objects.filter(customer=user)))
        ),
        ExportFile(
            "retractations.json",
            to_json_bytes(model_rows(WithdrawalDeclaration.objects.filter(customer=user))),
        ),
        ExportFile(
            "resiliations.json",
            to_json_bytes(model_rows(CancellationRequest.objects.filter(customer=user))),
        ),
        ExportFile(
            "satisfait-ou-rembourse.json",
            to_json_bytes(model_rows(SatisfactionClaim.objects.filter(customer=user))),
        ),
        ExportFile(
            "remboursements.json",
            to_json_bytes(model_rows(Refund.objects.filter(customer=user), exclude=("note",))),
        ),
    ]
    invoices = Invoice.objects.filter(customer=user).select_related("payment", "subscription")
    for invoice in invoices.order_by("pk"):
        files.append(ExportFile(f"factures/{invoice.number}.pdf", issued_document_pdf(invoice)))
    notes = CreditNote.objects.filter(customer=user).select_related("invoice")
    for note in notes.order_by("pk"):
        files.append(ExportFile(f"avoirs/{note.number}.pdf", issued_document_pdf(note)))
    return files


# --- Account closure -----------------------------------------------------------------


def closure_check(user) -> None:
    """Refuse to close an account while one of its contracts is open."""
    subscription = (
        Subscription.objects.open().filter(customer=user).only("status", "reference").first()
    )
    if subscription is None:
        return
    if subscription.status == Subscription.Status.PENDING_PAYMENT:
        raise ClosureRefused(
            _(
                "Votre commande %(reference)s attend encore son paiement : abandonnez-la avant "
                "de fermer votre compte."
            )
            % {"reference": subscription.reference},
            "subscription_pending",
            link="/abonnement/",
            link_label=_("Voir ma commande"),
        )
    if subscription.status == Subscription.Status.CANCEL_SCHEDULED:
        message = _(
            "Votre abonnement %(reference)s est résilié mais court jusqu'à la fin de la période "
            "payée : vous pourrez fermer votre compte une fois qu'il aura pris fin."
        )
    else:
        message = _(
            "Votre abonnement %(reference)s est en cours : résiliez-le d'abord. Vous pourrez "
            "fermer votre compte une fois qu'il aura pris fin."
        )
    raise ClosureRefused(
        message % {"reference": subscription.reference},
        "subscription_open",
        link="/resilier/",
        link_label=_("Résilier votre contrat"),
    )


def register() -> None:
    """Fill the accounts registries (called once from ``SubscriptionsConfig.ready()``)."""
    register_journal()
    register_panel(
        "subscription",
        template="subscriptions/dashboard_panel.html",
        context_func=subscription_panel,
        order=20,
    )
    register_export_section(
        "subscriptions",
        subscription_export,
        description=gettext_lazy(
            "Vos abonnements, paiements, factures et avoirs (avec leurs PDF), vos demandes de "
            "résiliation, de rétractation et « satisfait ou remboursé », et vos remboursements."
        ),
    )
    register_closure_hook("subscriptions", check=closure_check)
