"""Public pricing page and the simulated provider's checkout page.

The ordering, cancellation, withdrawal and satisfaction pages build on the same
services (``services.py``) and selectors (``selectors.py``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from . import selectors
from .models import Plan, Subscription
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
