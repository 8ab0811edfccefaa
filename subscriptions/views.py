"""Customer pages of subscriptions: pricing, ordering, "my subscription", documents.

``/tarifs/`` lists the plans; ``/abonnement/`` is the order page for a customer
without a live contract (the pre-contract information of L221-5, the
express-start choice of L221-25, the terms, "Commander avec obligation de
paiement") and "my subscription" for the others (state, dates, invoices and
credit notes). The cancellation, withdrawal and satisfaction pages live in
``exit_views.py``. Views stay thin: a form, one service, a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import Consent
from accounts.selectors import legal_version_in_force
from mynetspace.core.errors import DomainError

from . import deadlines, ordering, selectors, services
from .forms import AbandonForm, OrderForm
from .models import CreditNote, Invoice, Plan, Subscription
from .money import format_eur
from .providers import simulated

#: The ordering page (built on these foundations; linked by its stable path).
ORDER_PATH = "/abonnement/"


def _plan_card(plan: Plan) -> dict:
    return {
        "plan": plan,
        "price": format_eur(plan.price_ttc_cents),
        "is_yearly": plan.interval == Plan.Interval.YEAR,
        "monthly_equivalent": format_eur(plan.price_ttc_cents // 12)
        if plan.interval == Plan.Interval.YEAR
        else "",
        "quota": filesizeformat(plan.vault_quota_bytes),
        "order_url": f"{ORDER_PATH}?formule={plan.code}",
    }


@require_safe
def pricing(request):
    """``/tarifs/``: the plans on sale, prices incl. VAT, duration and renewal."""
    cards = [_plan_card(plan) for plan in selectors.plan_list_active()]
    return render(request, "subscriptions/pricing.html", {"cards": cards})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def simulated_checkout(request, token: str):
    """The demo checkout: the customer chooses whether the payment succeeds.

    Only the customer who ordered sees it (anyone else gets a 404); no card data
    is asked for.
    """
    subscription = (
        Subscription.objects.select_related("plan")
        .filter(provider=simulated.NAME, provider_checkout_id=token, customer=request.user)
        .first()
    )
    if subscription is None:
        raise Http404
    success_url, cancel_url = simulated.return_urls(request.GET.get("r", ""))
    payable = subscription.status == Subscription.Status.PENDING_PAYMENT
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if not payable:
            messages.info(request, _("Cette commande est déjà réglée ou close."))
            return redirect(success_url)
        if outcome not in ("success", "failure"):
            messages.error(request, _("Choisissez l'issue du paiement de démonstration."))
            return redirect(request.get_full_path())
        simulated.checkout_complete(
            subscription=subscription, succeeded=outcome == "success", meta=request.audit_meta
        )
        if outcome == "success":
            messages.success(request, _("Paiement de démonstration accepté."))
            return redirect(success_url)
        messages.error(request, _("Paiement de démonstration refusé : rien n'a été débité."))
        return redirect(cancel_url)
    context = {
        "subscription": subscription,
        "price": format_eur(subscription.plan.price_ttc_cents),
        "payable": payable,
    }
    return render(request, "subscriptions/simulated_checkout.html", context)


# --- Ordering and "my subscription" ----------------------------------------------------


def _language(request) -> str:
    return (translation.get_language() or "fr").split("-")[0]


@dataclass(frozen=True)
class StatusSummary:
    """A subscription's state in plain words, for ``/abonnement/`` and the dashboard."""

    label: str
    sentence: str
    tone: str  # "success", "warning" or "info": the notice style
    next_date_label: str = ""
    next_date: datetime | None = None


def status_summary(subscription: Subscription, *, now: datetime | None = None) -> StatusSummary:
    """What the customer should understand of their subscription's state now."""
    now = now or timezone.now()
    status = subscription.status
    label = str(subscription.get_status_display())
    yearly = subscription.plan.interval == Plan.Interval.YEAR
    renew_label = _("Reconduction tacite le") if yearly else _("Prochain renouvellement le")
    if status == Subscription.Status.ACTIVE:
        starts_at = subscription.service_starts_at
        if starts_at is not None and now < starts_at:
            return StatusSummary(
                label=_("payé, service à venir"),
                sentence=_(
                    "Votre abonnement est payé. Comme vous l'avez choisi, le service commence "
                    "le %(date)s, à la fin du délai de rétractation."
                )
                % {"date": _day_text(starts_at)},
                tone="info",
                next_date_label=renew_label,
                next_date=subscription.current_period_end,
            )
        return StatusSummary(
            label=label,
            sentence=_("Votre abonnement est actif."),
            tone="success",
            next_date_label=renew_label,
            next_date=subscription.current_period_end,
        )
    if status == Subscription.Status.CANCEL_SCHEDULED:
        return StatusSummary(
            label=label,
            sentence=_(
                "Vous avez résilié votre abonnement : il prend fin le %(date)s et ne sera pas "
                "renouvelé. Vous gardez l'accès au service jusque-là."
            )
            % {"date": _day_text(subscription.cancel_at)},
            tone="warning",
            next_date_label=_("Fin de l'abonnement le"),
            next_date=subscription.cancel_at,
        )
    if status == Subscription.Status.PAST_DUE:
        return StatusSummary(
            label=label,
            sentence=_(
                "Le dernier paiement de votre abonnement a été refusé. Nous réessayons "
                "automatiquement et vous gardez l'accès au service pendant ce temps : "
                "vérifiez que votre carte est valide et approvisionnée."
            ),
            tone="warning",
            next_date_label=_("Période en cours jusqu'au"),
            next_date=subscription.current_period_end,
        )
    if status == Subscription.Status.PENDING_PAYMENT:
        return StatusSummary(
            label=label,
            sentence=_("Votre commande attend son paiement : le contrat n'est pas encore conclu."),
            tone="info",
        )
    return StatusSummary(
        label=label,
        sentence=_("Cet abonnement est terminé depuis le %(date)s.")
        % {"date": _day_text(subscription.ended_at)},
        tone="info",
    )


def _day_text(moment: datetime | None) -> str:
    from django.utils import formats

    if moment is None:
        return ""
    return formats.date_format(deadlines.local_date(moment), "DATE_FORMAT")


def _within_withdrawal_period(subscription: Subscription, now: datetime) -> bool:
    return (
        subscription.status in (Subscription.Status.ACTIVE, Subscription.Status.CANCEL_SCHEDULED)
        and subscription.withdrawal_deadline is not None
        and now < subscription.withdrawal_deadline
    )


def _documents(user) -> dict:
    """The customer's invoices and credit notes with their download links (two queries)."""
    invoices = [
        {
            "document": invoice,
            "amount": format_eur(invoice.total_ttc_cents),
            "url": reverse("subscription_invoice_pdf", args=[invoice.number]),
        }
        for invoice in selectors.invoice_list_for(user)
    ]
    credit_notes = [
        {
            "document": note,
            "amount": format_eur(note.total_ttc_cents),
            "url": reverse("subscription_credit_note_pdf", args=[note.number]),
        }
        for note in selectors.credit_note_list_for(user)
    ]
    return {"invoices": invoices, "credit_notes": credit_notes}


def _order_context(request, *, plans: list[Plan], plan: Plan | None, form, pending, terms) -> dict:
    from guides import selectors as guide_selectors

    language = _language(request)
    withdrawal_form = guide_selectors.legal_version_current(
        kind="formulaire-retractation", language=language
    )
    if form is None and plan is not None:
        form = OrderForm(
            initial={
                "formule": plan.code,
                "terms_version": terms.version if terms else None,
                "express_start_version": ordering.EXPRESS_START_VERSION,
            },
            terms_version=terms.version if terms else None,
        )
    now = timezone.now()
    return {
        "plans": [_plan_card(p) for p in plans],
        "plan": plan,
        "card": _plan_card(plan) if plan is not None else None,
        "form": form,
        "terms": terms,
        "withdrawal_form": withdrawal_form,
        "pending": pending,
        "pending_price": format_eur(pending.plan.price_ttc_cents) if pending else "",
        "express_start_wording": ordering.EXPRESS_START_WORDING,
        "withdrawal_last_day_if_today": deadlines.withdrawal_last_day(deadlines.local_date(now)),
        "withdrawal_start_if_today": deadlines.local_date(deadlines.withdrawal_deadline(now)),
        **_documents(request.user),
    }


def _order(request, *, pending: Subscription | None):
    plans = selectors.plan_list_active()
    code = (request.POST.get("formule") if request.method == "POST" else None) or request.GET.get(
        "formule", ""
    )
    code = code.strip()[:50]
    plan = next((p for p in plans if p.code == code), None)
    if code and plan is None:
        messages.error(
            request,
            _("Cette formule n'existe pas ou n'est plus proposée : choisissez parmi nos formules."),
        )
        if request.method == "POST":
            return redirect("subscription")
    form = None
    terms = legal_version_in_force(Consent.Purpose.TERMS, language=_language(request))
    if request.method == "POST" and plan is not None:
        form = OrderForm(request.POST, terms_version=terms.version if terms else None)
        if form.is_valid():
            try:
                subscription = services.subscription_order_place(
                    customer=request.user,
                    plan_code=form.cleaned_data["formule"],
                    accept_terms=form.cleaned_data["accept_terms"],
                    terms_version_shown=form.cleaned_data["terms_version"],
                    express_start=form.cleaned_data["express_start"],
                    express_start_version_shown=form.cleaned_data["express_start_version"],
                    language=_language(request),
                    meta=request.audit_meta,
                )
            except DomainError as error:
                if error.code == "already_subscribed":
                    messages.error(request, error.message)
                    return redirect("subscription")
                if error.code in ("terms_stale", "express_start_stale"):
                    # Show the page again with what is in force now, boxes unticked.
                    messages.error(request, error.message)
                    form = None
                else:
                    form.add_error("accept_terms" if error.code == "terms_required" else None,
                                   error.message)  # fmt: skip
            else:
                return _checkout_redirect(request, subscription)
    context = _order_context(
        request, plans=plans, plan=plan, form=form, pending=pending, terms=terms
    )
    return render(request, "subscriptions/order.html", context)


def _checkout_redirect(request, subscription: Subscription):
    """Open the provider's checkout for an order and send the customer there."""
    cancel_query = urlencode({"formule": subscription.plan.code, "paiement": "interrompu"})
    try:
        url = services.subscription_checkout_start(
            subscription=subscription,
            success_url=reverse("subscription_confirmation", args=[subscription.reference]),
            cancel_url=f"{reverse('subscription')}?{cancel_query}",
            meta=request.audit_meta,
        )
    except DomainError as error:
        messages.error(
            request,
            _("Le paiement n'a pas pu être ouvert (%(reason)s). Réessayez dans un instant.")
            % {"reason": error.message},
        )
        return redirect("subscription")
    return redirect(url)


def _my_subscription(request, subscription: Subscription):
    now = timezone.now()
    context = {
        "subscription": subscription,
        "summary": status_summary(subscription, now=now),
        "price": format_eur(subscription.plan.price_ttc_cents),
        "is_yearly": subscription.plan.interval == Plan.Interval.YEAR,
        "can_withdraw": _within_withdrawal_period(subscription, now),
        "withdrawal_last_day": (
            deadlines.local_date(subscription.withdrawal_deadline - timedelta(days=1))
            if subscription.withdrawal_deadline
            else None
        ),
        "quota": filesizeformat(subscription.plan.vault_quota_bytes),
        **_documents(request.user),
    }
    return render(request, "subscriptions/subscription_detail.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def subscription(request):
    """``/abonnement/``: order (no live contract) or "my subscription"."""
    current = selectors.subscription_current_for(request.user)
    if current is not None and current.status != Subscription.Status.PENDING_PAYMENT:
        if request.method == "POST":
            messages.error(
                request,
                _("Vous avez déjà un abonnement en cours (référence %(reference)s).")
                % {"reference": current.reference},
            )
            return redirect("subscription")
        return _my_subscription(request, current)
    return _order(request, pending=current)


def _own_pending(request) -> Subscription:
    form = AbandonForm(request.POST)
    if not form.is_valid():
        raise Http404
    subscription = (
        Subscription.objects.select_related("plan")
        .filter(customer=request.user, reference=form.cleaned_data["reference"])
        .first()
    )
    if subscription is None:
        raise Http404
    return subscription


@login_required
@require_POST
def subscription_order_abandon(request):
    """ "Abandonner cette commande": an unpaid order is given up (nothing was paid)."""
    subscription = _own_pending(request)
    try:
        services.subscription_abandon(
            subscription=subscription, reason="customer", meta=request.audit_meta
        )
    except DomainError:
        messages.info(request, _("Cette commande est déjà réglée ou close."))
    else:
        messages.success(request, _("Votre commande non payée est abandonnée."))
    return redirect("subscription")


@login_required
@require_POST
def subscription_order_resume(request):
    """ "Reprendre le paiement" of an unpaid order: a new checkout for the same order."""
    subscription = _own_pending(request)
    if subscription.status != Subscription.Status.PENDING_PAYMENT:
        messages.info(request, _("Cette commande est déjà réglée ou close."))
        return redirect("subscription")
    return _checkout_redirect(request, subscription)


@login_required
@require_safe
def subscription_confirmation(request, reference: str):
    """Where the provider sends the customer back after paying."""
    subscription = (
        Subscription.objects.select_related("plan")
        .filter(customer=request.user, reference=reference)
        .first()
    )
    if subscription is None:
        raise Http404
    context = {
        "subscription": subscription,
        "paid": subscription.concluded_at is not None,
        "price": format_eur(subscription.plan.price_ttc_cents),
        "is_yearly": subscription.plan.interval == Plan.Interval.YEAR,
        "starts_on": deadlines.local_date(subscription.service_starts_at)
        if subscription.service_starts_at
        else None,
        "withdrawal_last_day": (
            deadlines.withdrawal_last_day(deadlines.local_date(subscription.concluded_at))
            if subscription.concluded_at
            else None
        ),
    }
    return render(request, "subscriptions/confirmation.html", context)


def _pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def invoice_pdf(request, number: str):
    """An invoice of the logged-in customer, as PDF; anyone else's is a 404."""
    from .pdf import issued_document_pdf

    invoice = (
        Invoice.objects.select_related("payment", "subscription")
        .filter(customer=request.user, number=number)
        .first()
    )
    if invoice is None:
        raise Http404
    return _pdf_response(issued_document_pdf(invoice), f"{invoice.number}.pdf")


@login_required
@require_safe
def credit_note_pdf(request, number: str):
    """A credit note of the logged-in customer, as PDF; anyone else's is a 404."""
    from .pdf import issued_document_pdf

    note = (
        CreditNote.objects.select_related("invoice")
        .filter(customer=request.user, number=number)
        .first()
    )
    if note is None:
        raise Http404
    return _pdf_response(issued_document_pdf(note), f"{note.number}.pdf")
