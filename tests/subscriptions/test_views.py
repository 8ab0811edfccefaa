"""The pricing page and the simulated checkout page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.plans import PLANS, plans_ensure
from tests.core.html import read

from .factories import CustomerFactory, PlanFactory, ordered

pytestmark = pytest.mark.django_db


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def test_the_seeded_plans_exist_once():
    from subscriptions.models import Plan

    Plan.objects.all().delete()
    assert plans_ensure(Plan) == [p["code"] for p in PLANS]
    assert plans_ensure(Plan) == []
    monthly, yearly = Plan.objects.order_by("display_order")
    assert (monthly.interval, monthly.price_ttc_cents) == ("month", 990)
    assert (yearly.interval, yearly.price_ttc_cents) == ("year", 9900)


def test_pricing_lists_active_plans_with_prices_incl_vat_and_renewal(client):
    from subscriptions.models import Plan

    Plan.objects.all().delete()
    PlanFactory(name_fr="Mensuelle", price_ttc_cents=990, interval="month", display_order=1,
                requests_per_month=3, vault_quota_bytes=5 * 1024**3)  # fmt: skip
    PlanFactory(name_fr="Annuelle", price_ttc_cents=9900, interval="year", display_order=2,
                code="annuel")  # fmt: skip
    PlanFactory(name_fr="Ancienne formule", is_active=False)

    response = client.get(reverse("pricing"))

    assert response.status_code == 200
    page = read(response)
    text = _normalise(page.text)
    assert "Mensuelle" in text and "Annuelle" in text
    assert "Ancienne formule" not in text
    assert "9,90 € TTC par mois" in text
    assert "99,00 € TTC par an" in text
    assert "3 demandes d'assistance par mois" in text
    assert "reconduit tacitement" in text
    assert "au plus tôt trois mois et au plus tard un mois avant chaque échéance" in text
    assert "indépendante de l'administration" in text
    hrefs = [link.href for link in page.links]
    assert "https://www.service-public.fr/" in hrefs
    assert "/cgv/" in hrefs
    assert "/abonnement/?formule=annuel" in hrefs


def test_pricing_states_withdrawal_as_the_legal_right_not_as_an_offer(client):
    """L121-4: the 14 days are presented as what the law gives, and the satisfaction
    promise separately, as our own commitment."""
    text = _normalise(read(client.get(reverse("pricing"))).text)

    assert "la loi vous donne un délai de quatorze jours" in text
    assert "L221-18" in text
    assert "En plus de ces droits légaux" in text
    assert "satisfait ou remboursé" in text


def test_pricing_costs_the_same_queries_for_one_or_many_plans(
    client, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from subscriptions.models import Plan

    Plan.objects.all().delete()
    PlanFactory()
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("pricing"))
    PlanFactory.create_batch(5)
    with django_assert_max_num_queries(len(one)):
        response = client.get(reverse("pricing"))
    assert response.content.count(b'class="card plan"') == 6


def test_pricing_in_english_shows_the_english_plan_names(client):
    PlanFactory(name_fr="Formule découverte", name_en="Discovery plan")

    response = client.get(reverse("pricing"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Discovery plan" in read(response).text


# --- Simulated checkout ---------------------------------------------------------------------


def _checkout(customer):
    subscription = ordered(customer=customer)
    url = services.subscription_checkout_start(
        subscription=subscription, success_url="/tarifs/?ok", cancel_url="/tarifs/?ko"
    )
    return subscription, url


def test_the_demo_checkout_says_it_is_a_demo_and_asks_no_card(client):
    customer = CustomerFactory()
    _, url = _checkout(customer)
    client.force_login(customer)

    response = client.get(url)

    assert response.status_code == 200
    page = read(response)
    assert "Ceci n'est pas un vrai paiement" in page.text
    assert "Aucune donnée de carte" in page.text
    html = response.content.decode()
    assert 'autocomplete="cc-' not in html
    assert 'type="text"' not in html and 'type="number"' not in html


def test_the_demo_checkout_success_activates_and_returns(client):
    customer = CustomerFactory()
    subscription, url = _checkout(customer)
    client.force_login(customer)

    response = client.post(url, {"outcome": "success"})

    assert response.status_code == 302
    assert response["Location"] == "/tarifs/?ok"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    # A second submission (back button) pays nothing more.
    client.post(url, {"outcome": "success"})
    assert subscription.payments.count() == 1


def test_the_demo_checkout_failure_changes_nothing(client):
    customer = CustomerFactory()
    subscription, url = _checkout(customer)
    client.force_login(customer)

    response = client.post(url, {"outcome": "failure"})

    assert response["Location"] == "/tarifs/?ko"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PENDING_PAYMENT


def test_a_bad_outcome_is_a_message_not_an_error(client):
    customer = CustomerFactory()
    subscription, url = _checkout(customer)
    client.force_login(customer)

    response = client.post(url, {"outcome": "<script>"}, follow=True)

    assert response.status_code == 200
    assert "Choisissez l'issue du paiement" in read(response).text
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PENDING_PAYMENT


def test_another_customer_gets_a_404_and_anonymous_visitors_log_in(client):
    _, url = _checkout(CustomerFactory())

    assert client.get(url).status_code == 302  # to the login page
    client.force_login(CustomerFactory())
    assert client.get(url).status_code == 404
    assert client.post(url, {"outcome": "success"}).status_code == 404
    assert client.get("/abonnement/paiement-simule/unknown-token/").status_code == 404
