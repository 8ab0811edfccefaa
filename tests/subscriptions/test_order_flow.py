"""``/abonnement/``: the order page, its validation, "my subscription" and documents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Consent
from audit.models import Event, OutboundEmail
from guides.models import LegalDocument
from subscriptions import services
from subscriptions.models import Invoice, Plan, Subscription
from subscriptions.ordering import EXPRESS_START_VERSION, EXPRESS_START_WORDING
from tests.accounts.factories import (
    UserFactory,
    accept_current_texts,
    publish_legal,
    publish_required_texts,
)
from tests.core.html import read

from .factories import PlanFactory, activated, ordered, succeeded_refund

pytestmark = pytest.mark.django_db

ORDER_BUTTON = "Commander avec obligation de paiement"


def normalise(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def texts():
    publish_required_texts()
    publish_legal(
        LegalDocument.Kind.WITHDRAWAL_FORM,
        body_fr="# Formulaire de rétractation\n\nÀ l'attention de MyNetSpace : je notifie ma "
        "rétractation.",
    )


@pytest.fixture
def customer(client, texts):
    user = UserFactory(verified_email=True, first_name="Camille")
    accept_current_texts(user)
    client.force_login(user)
    return user


@pytest.fixture
def yearly():
    Plan.objects.all().delete()
    return PlanFactory(code="annuel", name_fr="Annuelle", interval="year", price_ttc_cents=9900)


def order_data(plan, **overrides) -> dict:
    from accounts.selectors import legal_version_in_force

    data = {
        "formule": plan.code,
        "terms_version": legal_version_in_force("terms", language="fr").version,
        "express_start_version": EXPRESS_START_VERSION,
        "accept_terms": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def nothing_stored(customer) -> None:
    assert not Subscription.objects.filter(customer=customer).exists()
    assert not Event.objects.filter(action__startswith="subscription.").exists()
    assert (
        not Consent.objects.filter(user=customer)
        .exclude(pk__in=Consent.objects.filter(user=customer).order_by("pk")[:2].values("pk"))
        .exists()
    )


# --- Access --------------------------------------------------------------------------


def test_a_visitor_is_sent_to_log_in_and_back_to_the_chosen_plan(client):
    response = client.get("/abonnement/?formule=annuel")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "next=/abonnement/%3Fformule%3Dannuel" in response["Location"]


def test_without_a_plan_the_page_offers_the_plans_on_sale(client, customer, yearly):
    PlanFactory(name_fr="Ancienne", is_active=False)

    page = read(client.get("/abonnement/"))

    assert "Annuelle" in page.text and "Ancienne" not in page.text
    assert "/abonnement/?formule=annuel" in page.hrefs()
    assert ORDER_BUTTON not in page.text


def test_an_unknown_or_withdrawn_plan_is_explained_not_a_crash(client, customer, yearly):
    PlanFactory(code="ancienne", is_active=False)
    for code in ("nexiste-pas", "ancienne", "x" * 500, "<script>"):
        response = client.get("/abonnement/", {"formule": code})
        assert response.status_code == 200
        text = normalise(read(response).text)
        assert "Cette formule n'existe pas ou n'est plus proposée" in text
        assert ORDER_BUTTON not in text


# --- The order page ------------------------------------------------------------------------


def test_the_order_page_gives_the_pre_contract_information(client, customer, yearly, settings):
    response = client.get("/abonnement/?formule=annuel")

    assert response.status_code == 200
    page = read(response)
    text = normalise(page.text)
    # Price incl. VAT, duration, tacit renewal and its notice, payment terms.
    assert "99,00 € TTC par an" in text
    assert "TVA de 20 % incluse" in text
    assert "reconduit tacitement pour un an" in text
    assert "au plus tôt trois mois et au plus tard un mois avant chaque échéance" in text
    assert "Le prix de la première période est débité à la commande" in text
    # The withdrawal right, how to exercise it, its conditions and the standard form.
    assert "quatorze jours" in text and "L221-18" in text
    assert "Renoncer au contrat ici" in text
    assert "/retractation/" in page.hrefs()
    assert "/formulaire-retractation/" in page.hrefs()
    assert "je notifie ma rétractation" in text
    assert "montant correspondant au service fourni" in text
    # Mediator, independence, free official procedures, cancellation.
    assert settings.MEDIATOR_NAME in text
    assert settings.MEDIATOR_URL in page.hrefs()
    assert "indépendant de l'administration" in text
    assert "https://www.service-public.fr/" in page.hrefs()
    assert "/resilier/" in page.hrefs()
    # Terms version in force, linked; the exact button label.
    assert "/cgv/versions/1/" in page.hrefs()
    assert "conditions générales de vente (version 1)" in text
    assert ORDER_BUTTON in text


def test_the_express_start_box_shows_the_exact_wording_and_is_not_ticked(client, customer, yearly):
    response = client.get("/abonnement/?formule=annuel")
    content = response.content.decode()

    assert normalise(str(EXPRESS_START_WORDING)) in normalise(read(response).text)
    start = content.index('name="express_start"')
    box = content[content.rindex("<input", 0, start) : content.index(">", start)]
    assert "checked" not in box
    assert f'value="{EXPRESS_START_VERSION}"' in content


# --- Placing the order -------------------------------------------------------------------


def test_an_order_without_express_start_goes_to_the_checkout(client, customer, yearly):
    response = client.post("/abonnement/?formule=annuel", order_data(yearly))

    subscription = Subscription.objects.get(customer=customer)
    assert response.status_code == 302
    assert response["Location"].startswith("/abonnement/paiement-simule/")
    assert subscription.status == Subscription.Status.PENDING_PAYMENT
    assert subscription.plan == yearly
    assert subscription.express_start is False
    assert subscription.express_start_wording == ""
    assert subscription.terms_version.key == "legal:cgv"
    assert subscription.terms_version.version == 1

    consent = Consent.objects.filter(user=customer, purpose=Consent.Purpose.TERMS).latest("pk")
    assert consent.version == 1
    assert "conditions générales de vente (version 1)" in consent.wording
    shown = Event.objects.get(action="subscription.precontract_shown")
    assert shown.data["terms_version"] == 1
    assert shown.data["withdrawal_form_version"] == 1
    assert shown.data["express_start_version"] == EXPRESS_START_VERSION
    assert shown.data["express_start"] is False
    assert shown.data["price_ttc_cents"] == 9900
    actions = list(
        Event.objects.filter(chain_key=f"user:{customer.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-4:] == [
        "consent.granted",
        "subscription.ordered",
        "subscription.precontract_shown",
        "subscription.checkout_started",
    ]
    # No name or address in the evidence of the order.
    for event in Event.objects.filter(action__startswith="subscription."):
        assert "Camille" not in str(event.data)


def test_an_express_start_records_the_exact_wording_and_its_version(client, customer, yearly):
    client.post("/abonnement/?formule=annuel", order_data(yearly, express_start="on"))

    subscription = Subscription.objects.get(customer=customer)
    assert subscription.express_start is True
    assert subscription.express_start_wording == str(EXPRESS_START_WORDING)
    assert subscription.express_start_version == EXPRESS_START_VERSION
    ordered_event = Event.objects.get(action="subscription.ordered")
    assert ordered_event.data["express_start_wording"] == str(EXPRESS_START_WORDING)


def test_terms_not_accepted_is_a_clear_error_and_stores_nothing(client, customer, yearly):
    consents_before = Consent.objects.filter(user=customer).count()

    response = client.post("/abonnement/?formule=annuel", order_data(yearly, accept_terms=None))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Pour commander, acceptez les conditions générales de vente." in content
    assert 'aria-invalid="true"' in content
    assert not Subscription.objects.filter(customer=customer).exists()
    assert Consent.objects.filter(user=customer).count() == consents_before
    assert not Event.objects.filter(action__startswith="subscription.").exists()


def test_terms_changed_since_the_page_was_shown_are_shown_again(client, customer, yearly):
    """GIVEN the page showed CGV version 1 WHEN version 2 is published before the click
    (and accepted on the site's re-acceptance page meanwhile)
    THEN nothing is ordered, and the page shows version 2 to accept for this order."""
    data = order_data(yearly)
    publish_legal(LegalDocument.Kind.TERMS, body_fr="Nouvelles conditions.")
    accept_current_texts(customer)

    response = client.post("/abonnement/?formule=annuel", data)

    assert response.status_code == 200
    text = normalise(read(response).text)
    assert "ont changé depuis l'affichage de cette page" in text
    assert "conditions générales de vente (version 2)" in text
    assert not Subscription.objects.filter(customer=customer).exists()
    assert not Event.objects.filter(action__startswith="subscription.").exists()


def test_an_old_express_start_wording_is_refused(client, customer, yearly):
    response = client.post(
        "/abonnement/?formule=annuel",
        order_data(yearly, express_start="on", express_start_version="express-start-2020-01"),
    )

    assert response.status_code == 200
    assert "Le texte de la demande de démarrage immédiat a changé" in normalise(
        response.content.decode()
    )
    assert not Subscription.objects.filter(customer=customer).exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"terms_version": "abc"},
        {"terms_version": "99999999999999999999"},
        {"terms_version": "-1"},
        {"terms_version": None},
        {"express_start_version": None},
        {"express_start_version": "x" * 500},
        {"formule": None},
        {"accept_terms": "\x00"},
        {"express_start": "peut-être"},
    ],
)
def test_hostile_order_forms_get_an_answer_never_a_crash(client, customer, yearly, overrides):
    response = client.post("/abonnement/?formule=annuel", order_data(yearly, **overrides))

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        # Only a well-formed order may go on to the payment.
        assert overrides in ({"accept_terms": "\x00"}, {"express_start": "peut-être"})
    else:
        assert not Subscription.objects.filter(customer=customer).exists()
        text = normalise(read(response).text)
        assert (
            "Le formulaire de commande est incomplet : rechargez la page." in text
            or "Cette formule n'existe pas" in text
        )


def test_an_inactive_plan_cannot_be_ordered(client, customer, yearly):
    data = order_data(yearly)
    yearly.is_active = False
    yearly.save()

    response = client.post("/abonnement/?formule=annuel", data, follow=True)

    assert "Cette formule n'existe pas ou n'est plus proposée" in normalise(read(response).text)
    assert not Subscription.objects.filter(customer=customer).exists()


def test_the_service_refuses_an_unknown_plan_with_a_code():
    from mynetspace.core.errors import DomainError

    with pytest.raises(DomainError) as error:
        services.subscription_order_place(
            customer=UserFactory(),
            plan_code="inconnue",
            accept_terms=True,
            terms_version_shown=1,
            express_start=False,
            express_start_version_shown=EXPRESS_START_VERSION,
        )
    assert error.value.code == "plan_unknown"


def test_a_customer_with_a_contract_sees_it_and_cannot_order_another(client, customer, yearly):
    subscription = activated(customer=customer, plan=yearly)

    page = client.get("/abonnement/?formule=annuel")
    response = client.post("/abonnement/?formule=annuel", order_data(yearly), follow=True)

    assert "Mon abonnement" in read(page).text
    assert ORDER_BUTTON not in read(page).text
    assert "Vous avez déjà un abonnement en cours" in normalise(response.content.decode())
    assert list(Subscription.objects.filter(customer=customer)) == [subscription]


def test_an_unpaid_order_can_be_resumed_abandoned_or_replaced(client, customer, yearly):
    pending = ordered(customer=customer, plan=yearly, express_start=False)

    page = normalise(read(client.get("/abonnement/?formule=annuel")).text)
    assert "Vous avez une commande en attente de paiement" in page
    assert pending.reference in page

    resumed = client.post("/abonnement/reprendre/", {"reference": pending.reference})
    assert resumed["Location"].startswith("/abonnement/paiement-simule/")

    client.post("/abonnement/?formule=annuel", order_data(yearly))
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.ABANDONED
    newer = Subscription.objects.get(customer=customer, status="pending_payment")

    client.post("/abonnement/abandonner/", {"reference": newer.reference})
    newer.refresh_from_db()
    assert newer.status == Subscription.Status.ABANDONED


def test_another_customers_order_cannot_be_resumed_or_abandoned(client, customer, yearly):
    foreign = ordered(plan=yearly)

    assert (
        client.post("/abonnement/reprendre/", {"reference": foreign.reference}).status_code == 404
    )
    assert (
        client.post("/abonnement/abandonner/", {"reference": foreign.reference}).status_code == 404
    )
    foreign.refresh_from_db()
    assert foreign.status == Subscription.Status.PENDING_PAYMENT


# --- Paying, confirmation, "my subscription" ----------------------------------------------


def test_paying_with_the_simulated_provider_confirms_and_shows_the_subscription(
    client, customer, yearly, django_capture_on_commit_callbacks
):
    checkout = client.post("/abonnement/?formule=annuel", order_data(yearly))["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(checkout, {"outcome": "success"})
    subscription = Subscription.objects.get(customer=customer)

    assert paid.status_code == 302
    assert paid["Location"] == f"/abonnement/confirmation/{subscription.reference}/"
    confirmation = normalise(read(client.get(paid["Location"])).text)
    assert "Merci, votre abonnement est confirmé" in confirmation
    assert subscription.reference in confirmation
    assert (
        OutboundEmail.objects.filter(
            template="subscription_confirmation", customer=customer
        ).count()
        == 1
    )

    page = read(client.get("/abonnement/"))
    text = normalise(page.text)
    assert subscription.reference in text
    assert "Annuelle" in text
    assert "le service commence le" in text  # no express start: after the 14 days
    assert "Non : le service commence à la fin du délai de rétractation." in text
    invoice = Invoice.objects.get(customer=customer)
    assert f"/abonnement/factures/{invoice.number}.pdf" in page.hrefs()
    assert "/resilier/" in page.hrefs()
    assert "/retractation/" in page.hrefs()
    assert "/satisfait-ou-rembourse/" in page.hrefs()

    pdf = client.get(f"/abonnement/factures/{invoice.number}.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_a_failed_demo_payment_leaves_the_order_payable(client, customer, yearly):
    checkout = client.post("/abonnement/?formule=annuel", order_data(yearly))["Location"]

    response = client.post(checkout, {"outcome": "failure"}, follow=True)

    text = normalise(response.content.decode())
    assert "Paiement de démonstration refusé" in text
    assert "Vous avez une commande en attente de paiement" in text
    assert Subscription.objects.get(customer=customer).status == "pending_payment"


def test_the_withdrawal_link_is_offered_only_during_the_withdrawal_period(client, customer, yearly):
    subscription = activated(customer=customer, plan=yearly, express_start=True)
    assert "/retractation/" in read(client.get("/abonnement/")).hrefs()

    Subscription.objects.filter(pk=subscription.pk).update(
        withdrawal_deadline=timezone.now() - timedelta(minutes=1)
    )
    assert "/retractation/" not in read(client.get("/abonnement/")).hrefs()


def test_nobody_sees_another_customers_subscription_or_documents(client, customer, yearly):
    other = activated(plan=yearly)
    invoice = Invoice.objects.get(customer=other.customer)
    note = services.credit_note_issue(
        refund=succeeded_refund(payment=other.payments.get(), amount_cents=500)
    )

    page = client.get("/abonnement/")
    assert other.reference not in page.content.decode()
    assert invoice.number not in page.content.decode()
    assert client.get(f"/abonnement/factures/{invoice.number}.pdf").status_code == 404
    assert client.get(f"/abonnement/avoirs/{note.number}.pdf").status_code == 404
    assert client.get(f"/abonnement/confirmation/{other.reference}/").status_code == 404
    assert client.get("/abonnement/factures/F-0000-000000.pdf").status_code == 404


def test_credit_notes_are_listed_and_downloadable_by_their_owner(client, customer, yearly):
    subscription = activated(customer=customer, plan=yearly)
    note = services.credit_note_issue(
        refund=succeeded_refund(payment=subscription.payments.get(), amount_cents=500)
    )

    page = read(client.get("/abonnement/"))

    assert f"/abonnement/avoirs/{note.number}.pdf" in page.hrefs()
    response = client.get(f"/abonnement/avoirs/{note.number}.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/abonnement/")
    assert response.status_code == 200
    return len(queries)


def test_my_subscription_costs_the_same_queries_for_1_or_20_invoices(client, customer):
    monthly = PlanFactory()
    subscription = activated(customer=customer, plan=monthly)
    one = _queries(client)

    for index in range(19):
        services.subscription_renew(
            subscription=subscription,
            provider_payment_id=f"renewal_{index}",
            amount_cents=990,
            paid_at=timezone.now(),
        )
        subscription.refresh_from_db()
    services.credit_note_issue(
        refund=succeeded_refund(payment=subscription.payments.first(), amount_cents=100)
    )
    assert Invoice.objects.filter(customer=customer).count() == 20
    twenty = _queries(client)

    assert one == twenty
