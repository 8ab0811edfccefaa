"""The exit pages: "Résilier votre contrat" (/resilier/), "Renoncer au contrat ici"
(/retractation/) and "Satisfait ou remboursé" (/satisfait-ou-rembourse/).

Thin views: a form validates, one service acts, a page renders. Cancellation works
logged in (three interactions from any page: the footer link, "Continuer",
"Confirmer ma demande de résiliation") and logged out (email and contract
reference; the pages say the same whatever the pair, and the form is rate-limited).
The recap carries what was typed in a signed field, so nothing is stored before the
customer confirms.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from mynetspace.core.errors import DomainError

from . import deadlines, selectors, services
from .exit_forms import CancelForm, SatisfactionClaimForm, WithdrawConfirmForm
from .models import (
    CancellationRequest,
    SatisfactionClaim,
    Subscription,
    WithdrawalDeclaration,
)
from .money import format_eur

_RECAP_SALT = "subscriptions.cancel.recap"
#: How long a recap page stays confirmable.
RECAP_MAX_AGE = 3600
#: Logged-out cancellation: at most this many submissions per address per window.
LOGGED_OUT_LIMIT = 10
LOGGED_OUT_WINDOW = 3600


# --- Cancellation -------------------------------------------------------------------------


def _rate_limited(request) -> bool:
    """Count one logged-out submission for the client address; True once over the limit."""
    ip = getattr(getattr(request, "audit_meta", None), "ip", "") or request.META.get(
        "REMOTE_ADDR", ""
    )
    window = int(timezone.now().timestamp()) // LOGGED_OUT_WINDOW
    key = "exit:cancel:" + hashlib.sha256(f"{ip}:{window}".encode()).hexdigest()[:32]
    cache.add(key, 0, timeout=LOGGED_OUT_WINDOW + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=LOGGED_OUT_WINDOW + 60)
        count = 1
    return count > LOGGED_OUT_LIMIT


def _too_many(request):
    return render(request, "subscriptions/cancel_rate_limited.html", status=429)


def _prefill(user, subscription: Subscription) -> dict:
    name = " ".join(p for p in (user.first_name, user.last_name) if p).strip()
    return {"full_name": name, "email": user.email, "contract_reference": subscription.reference}


def _recap_token(data: dict, *, user_id: int | None, subscription_id: int | None) -> str:
    desired = data.get("desired_date")
    return signing.dumps(
        {
            "full_name": data["full_name"],
            "email": data["email"],
            "contract_reference": data["contract_reference"],
            "desired_date": desired.isoformat() if desired else None,
            "user": user_id,
            "subscription": subscription_id,
        },
        salt=_RECAP_SALT,
    )


def _recap_load(token: str) -> dict | None:
    try:
        data = signing.loads(token, salt=_RECAP_SALT, max_age=RECAP_MAX_AGE)
        data["desired_date"] = (
            date.fromisoformat(data["desired_date"]) if data["desired_date"] else None
        )
        return data
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


@require_http_methods(["GET", "HEAD", "POST"])
def cancel(request):
    """``/resilier/``: the form, then the recap (POST ``step=form``), then the confirmation
    (POST ``step=confirm``)."""
    user = request.user if request.user.is_authenticated else None
    subscription = selectors.subscription_current_for(user) if user else None
    logged_in = subscription is not None
    step = request.POST.get("step") if request.method == "POST" else None

    if step == "confirm":
        return _cancel_confirm(request, user=user, subscription=subscription)

    if logged_in and subscription.status == Subscription.Status.CANCEL_SCHEDULED and step != "form":
        return render(
            request, "subscriptions/cancel_scheduled.html", {"subscription": subscription}
        )

    if step == "form":
        if not logged_in and _rate_limited(request):
            return _too_many(request)
        form = CancelForm(
            request.POST,
            logged_in=logged_in,
            initial=_prefill(user, subscription) if logged_in else None,
        )
        if form.is_valid():
            return _cancel_recap(request, form=form, user=user, subscription=subscription)
    else:
        form = CancelForm(
            logged_in=logged_in, initial=_prefill(user, subscription) if logged_in else None
        )
    context = {
        "form": form,
        "logged_in": logged_in,
        "subscription": subscription,
        "no_contract_here": user is not None and not logged_in,
    }
    return render(request, "subscriptions/cancel_form.html", context)


def _cancel_recap(request, *, form, user, subscription):
    data = form.cleaned_data
    plan = None
    if subscription is not None:
        try:
            plan = services.cancellation_plan(
                subscription=subscription, desired_date=data.get("desired_date")
            )
        except DomainError as error:
            form.add_error(None, error.message)
            return render(
                request,
                "subscriptions/cancel_form.html",
                {"form": form, "logged_in": True, "subscription": subscription},
            )
    token = _recap_token(
        data,
        user_id=user.pk if subscription is not None else None,
        subscription_id=subscription.pk if subscription is not None else None,
    )
    context = {
        "data": data,
        "plan": plan,
        "subscription": subscription,
        "logged_in": subscription is not None,
        "token": token,
    }
    return render(request, "subscriptions/cancel_recap.html", context)


def _cancel_confirm(request, *, user, subscription):
    data = _recap_load(request.POST.get("token", ""))
    if data is None:
        messages.error(
            request, _("Ce récapitulatif a expiré ou n'est pas valide : recommencez votre demande.")
        )
        return redirect("cancel")
    if data["subscription"] is not None:
        # A logged-in recap is confirmed by the same customer, for the same contract.
        if user is None or subscription is None or data["user"] != user.pk:
            messages.error(request, _("Reconnectez-vous pour confirmer votre demande."))
            return redirect("cancel")
        if subscription.pk != data["subscription"]:
            messages.error(request, _("Votre contrat a changé : recommencez votre demande."))
            return redirect("cancel")
        try:
            cancellation = services.subscription_cancel(
                subscription=subscription,
                channel=CancellationRequest.Channel.LOGGED_IN,
                full_name=data["full_name"],
                email=data["email"],
                contract_reference=data["contract_reference"],
                desired_date=data["desired_date"],
                acting_user=user,
                meta=request.audit_meta,
            )
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("cancel")
        return redirect("cancel_request", pk=cancellation.pk)
    if _rate_limited(request):
        return _too_many(request)
    services.cancellation_request_logged_out(
        full_name=data["full_name"],
        email=data["email"],
        contract_reference=data["contract_reference"],
        desired_date=data["desired_date"],
        meta=request.audit_meta,
    )
    return redirect("cancel_sent")


@require_safe
def cancel_sent(request):
    """The answer to a logged-out request: the same whatever the email and reference."""
    return render(request, "subscriptions/cancel_sent.html")


@login_required
@require_safe
def cancel_request(request, pk: int):
    """A customer's own cancellation request and its effect (404 for anyone else's)."""
    cancellation = get_object_or_404(
        CancellationRequest.objects.select_related("subscription__plan"),
        pk=pk,
        customer=request.user,
    )
    return render(request, "subscriptions/cancel_done.html", {"cancellation": cancellation})


@login_required
@require_POST
def cancel_resume(request):
    """ "Annuler ma demande de résiliation": the contract renews again."""
    subscription = selectors.subscription_current_for(request.user)
    if subscription is None:
        raise Http404
    try:
        services.subscription_resume(
            subscription=subscription, acting_user=request.user, meta=request.audit_meta
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Votre demande de résiliation est annulée : votre abonnement continue.")
        )
    return redirect("cancel")


# --- Withdrawal ---------------------------------------------------------------------------


def _withdrawal_context(request, subscription: Subscription | None) -> dict:
    context: dict = {"subscription": subscription}
    if subscription is None:
        context["state"] = "no_contract"
        return context
    if subscription.withdrawal_deadline is not None:
        context["deadline"] = subscription.withdrawal_deadline
        context["last_day"] = deadlines.withdrawal_last_day(
            deadlines.local_date(subscription.concluded_at)
        )
    try:
        quote = services.withdrawal_quote(subscription=subscription)
    except DomainError as error:
        context["state"] = error.code
        context["error"] = error.message
        return context
    computation = quote.computation
    context.update(
        state="open",
        quote=quote,
        computation=computation,
        paid=format_eur(computation.paid_cents),
        refund=format_eur(computation.refund_cents),
        retained=format_eur(computation.retained_cents),
        declaration_text=services.withdrawal_declaration_text(
            subscription=subscription, customer=request.user
        ),
        form=WithdrawConfirmForm(initial={"expected_refund_cents": computation.refund_cents}),
    )
    return context


@require_http_methods(["GET", "HEAD", "POST"])
def withdraw(request):
    """``/retractation/``: "Renoncer au contrat ici", the amount, "Confirmer la rétractation"."""
    if not request.user.is_authenticated:
        return render(request, "subscriptions/withdraw_logged_out.html")
    subscription = selectors.subscription_current_for(request.user)
    if request.method == "POST":
        form = WithdrawConfirmForm(request.POST)
        if subscription is None or not form.is_valid():
            messages.error(
                request, _("Votre demande n'a pas pu être lue : vérifiez puis confirmez.")
            )
            return redirect("withdraw")
        try:
            declaration = services.withdrawal_declare(
                subscription=subscription,
                acting_user=request.user,
                expected_refund_cents=form.cleaned_data["expected_refund_cents"],
                meta=request.audit_meta,
            )
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("withdraw")
        return redirect("withdrawal_declaration", pk=declaration.pk)
    return render(
        request, "subscriptions/withdraw.html", _withdrawal_context(request, subscription)
    )


@login_required
@require_safe
def withdrawal_declaration(request, pk: int):
    """A customer's own withdrawal, its acknowledgement and refund (404 for anyone else's)."""
    declaration = get_object_or_404(
        WithdrawalDeclaration.objects.select_related("subscription__plan"),
        pk=pk,
        customer=request.user,
    )
    refund = getattr(declaration, "refund", None)
    context = {
        "declaration": declaration,
        "refund": refund,
        "refund_amount": format_eur(declaration.refund_cents),
        "paid": format_eur(declaration.paid_cents),
    }
    return render(request, "subscriptions/withdraw_done.html", context)


# --- "Satisfait ou remboursé" -------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def satisfaction(request):
    """``/satisfait-ou-rembourse/``: our commercial promise, and the claim form."""
    if not request.user.is_authenticated:
        return render(request, "subscriptions/satisfaction.html", {"logged_in": False})
    form = SatisfactionClaimForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            claim = services.satisfaction_claim_submit(
                customer=request.user, reason=form.cleaned_data["reason"], meta=request.audit_meta
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            return redirect("satisfaction_claim", pk=claim.pk)
    eligible_payment, refusal = None, None
    try:
        eligible_payment = services.satisfaction_eligibility(customer=request.user)
    except DomainError as error:
        refusal = error
    claims = (
        SatisfactionClaim.objects.filter(customer=request.user)
        .select_related("subscription")
        .order_by("-created_at")
    )
    context = {
        "logged_in": True,
        "form": form,
        "payment": eligible_payment,
        "amount": format_eur(eligible_payment.amount_cents) if eligible_payment else "",
        "claim_until": (
            eligible_payment.paid_at + timedelta(days=services.SATISFACTION_DAYS)
            if eligible_payment
            else None
        ),
        "refusal": refusal,
        "claims": list(claims),
    }
    return render(request, "subscriptions/satisfaction.html", context)


@login_required
@require_safe
def satisfaction_claim(request, pk: int):
    """A customer's own claim and its decision (404 for anyone else's)."""
    claim = get_object_or_404(
        SatisfactionClaim.objects.select_related("subscription", "payment"),
        pk=pk,
        customer=request.user,
    )
    return render(
        request,
        "subscriptions/satisfaction_claim.html",
        {"claim": claim, "amount": format_eur(claim.payment.amount_cents)},
    )
