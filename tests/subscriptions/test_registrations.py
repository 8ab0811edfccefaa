"""What subscriptions add to accounts: journal, dashboard panel, data export, closure."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts import closure, dashboard, exports, journal
from audit.models import Event
from mynetspace.core.errors import DomainError
from subscriptions import registrations, services
from subscriptions.models import Subscription
from tests.accounts.factories import UserFactory, accept_current_texts, publish_required_texts
from tests.core.html import read

from .factories import PlanFactory, activated, ordered, succeeded_refund

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def sentence(action: str, data: dict, *, actor_type: str = "system") -> str:
    event = Event(
        action=action,
        data=data,
        actor_type=actor_type,
        occurred_at=datetime(2026, 11, 26, 10, 42, tzinfo=PARIS),
        ip="203.0.113.5" if actor_type == "user" else None,
        user_agent="",
    )
    return journal.describe(event)


# --- Journal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data", "expected"),
    [
        (
            "subscription.ordered",
            {
                "reference": "MNS-7K3P-9QX2",
                "price_ttc_cents": 9900,
                "interval": "year",
                "express_start": False,
            },
            "Commande d'un abonnement annuel à 99,00 € TTC (contrat MNS-7K3P-9QX2)",
        ),
        (
            "subscription.ordered",
            {
                "reference": "MNS-7K3P-9QX2",
                "price_ttc_cents": 990,
                "interval": "month",
                "express_start": True,
            },
            "Commande d'un abonnement mensuel à 9,90 € TTC, avec démarrage immédiat demandé",
        ),
        (
            "subscription.precontract_shown",
            {"terms_version": 3},
            "conditions générales de vente (version 3) présentées avant votre commande",
        ),
        (
            "subscription.activated",
            {"reference": "MNS-7K3P-9QX2", "amount_cents": 990},
            "Paiement de 9,90 € reçu : votre contrat MNS-7K3P-9QX2 est conclu",
        ),
        (
            "subscription.confirmation_sent",
            {"reference": "MNS-7K3P-9QX2"},
            "Confirmation de votre contrat MNS-7K3P-9QX2 envoyée par e-mail",
        ),
        (
            "subscription.renewal_notice_sent",
            {"renewal_on": "2027-03-15"},
            "votre abonnement sera reconduit le 15 mars 2027",
        ),
        (
            "subscription.payment_failed",
            {"previous_status": "active", "status": "past_due"},
            "Paiement de votre abonnement refusé",
        ),
        (
            "subscription.payment_reminder_sent",
            {"number": 2},
            "Rappel n° 2 : le paiement de votre abonnement est toujours en attente",
        ),
        (
            "subscription.cancel_scheduled",
            {"cancel_at": "2027-01-15T10:00:00+01:00"},
            "votre abonnement prend fin le 15 janvier 2027",
        ),
        (
            "subscription.withdrawn",
            {"reference": "MNS-7K3P-9QX2"},
            "Rétractation : votre contrat MNS-7K3P-9QX2 prend fin immédiatement",
        ),
        (
            "invoice.issued",
            {"number": "F-2026-000012", "total_ttc_cents": 9900},
            "Facture F-2026-000012 émise (99,00 € TTC)",
        ),
        (
            "credit_note.issued",
            {"number": "A-2026-000003", "total_ttc_cents": 500, "invoice": "F-2026-000012"},
            "Avoir A-2026-000003 émis (5,00 € TTC), sur la facture F-2026-000012",
        ),
        (
            "refund.succeeded",
            {"amount_cents": 990, "subscription": "MNS-7K3P-9QX2"},
            "Remboursement de 9,90 € effectué",
        ),
        (
            "satisfaction_claim.refused",
            {"reference": "MNS-7K3P-9QX2"},
            "Demande « satisfait ou remboursé » refusée (contrat MNS-7K3P-9QX2)",
        ),
    ],
)
def test_each_subscription_event_reads_as_a_plain_sentence(action, data, expected):
    text = " ".join(sentence(action, data).replace("\u202f", " ").split())

    assert expected in text
    assert text.endswith("le 26 novembre 2026 à 10:42")
    assert "Opération enregistrée" not in text


def test_a_customers_own_action_says_where_it_came_from():
    text = sentence(
        "subscription.ordered",
        {"reference": "MNS-7K3P-9QX2", "price_ttc_cents": 990, "interval": "month"},
        actor_type="user",
    )

    assert "adresse IP 203.0.113.5" in text


@pytest.mark.parametrize(
    ("action", "data", "family"),
    [
        ("subscription.something_new", {"reference": "MNS-7K3P-9QX2"}, "Abonnement"),
        ("refund.something_new", {"subscription": "MNS-7K3P-9QX2"}, "Remboursements"),
        ("subscription.renewed", {}, "Abonnement"),  # known action, data missing
        ("invoice.issued", {"number": 12}, "Factures"),  # malformed data
    ],
)
def test_actions_added_later_or_with_missing_data_get_the_family_sentence(action, data, family):
    text = sentence(action, data)

    assert text.startswith(f"{family} : opération « {action} »")
    assert "()" not in text and "  " not in text


def test_the_journal_filters_on_subscription_families():
    labels = dict(journal.kinds())

    assert labels["subscription"] == "Abonnement"
    assert labels["invoice"] == "Factures"
    assert journal.kind_label("subscription.renewed") == "Abonnement"


def test_the_journal_page_shows_the_order_in_plain_words(client):
    publish_required_texts()
    customer = UserFactory(verified_email=True)
    accept_current_texts(customer)
    activated(customer=customer, plan=PlanFactory(price_ttc_cents=990))
    client.force_login(customer)

    text = " ".join(read(client.get("/journal/?type=subscription")).text.split())

    assert "Commande d'un abonnement mensuel à 9,90 € TTC" in text.replace("\u202f", " ")
    assert "votre contrat" in text and "est conclu" in text


# --- Dashboard -----------------------------------------------------------------------------


def test_the_panel_shows_the_subscription_or_invites_to_subscribe(rf):
    customer = UserFactory()
    request = rf.get("/espace/")
    request.user = customer

    assert registrations.subscription_panel(request) == {"subscription": None}

    subscription = activated(customer=customer, express_start=True)
    context = registrations.subscription_panel(request)
    assert context["subscription"] == subscription
    assert context["summary"].sentence == "Votre abonnement est actif."
    assert "subscription" in [panel.name for panel in dashboard.registered_panels()]


def test_the_dashboard_links_to_my_subscription_and_cancellation(client):
    publish_required_texts()
    customer = UserFactory(verified_email=True)
    accept_current_texts(customer)
    activated(customer=customer, express_start=False)
    client.force_login(customer)

    page = read(client.get("/espace/"))

    assert "/abonnement/" in page.hrefs()
    assert "/resilier/" in page.hrefs()
    assert "le service commence le" in page.text


# --- Export --------------------------------------------------------------------------------


def test_the_export_holds_the_customers_rows_and_pdfs_and_nothing_of_others():
    mine = activated()
    other = activated()
    note = services.credit_note_issue(
        refund=succeeded_refund(payment=mine.payments.get(), amount_cents=300)
    )
    services.credit_note_issue(refund=succeeded_refund(payment=other.payments.get()))

    files = {
        item.filename: item.content for item in registrations.subscription_export(mine.customer)
    }

    subscriptions = json.loads(files["abonnements.json"])
    assert [row["reference"] for row in subscriptions] == [mine.reference]
    assert len(json.loads(files["paiements.json"])) == 1
    (invoice,) = json.loads(files["factures.json"])
    assert files[f"factures/{invoice['number']}.pdf"].startswith(b"%PDF")
    assert files[f"avoirs/{note.number}.pdf"].startswith(b"%PDF")
    assert [row["amount_cents"] for row in json.loads(files["remboursements.json"])] == [300]
    everything = b"".join(files.values())
    assert other.reference.encode() not in everything
    assert other.customer.email.encode() not in everything
    for name in ("retractations.json", "resiliations.json", "satisfait-ou-rembourse.json"):
        assert json.loads(files[name]) == []


def test_the_section_is_part_of_the_account_export():
    customer = activated().customer

    names = [name for name, _file in exports.export_files(customer) if name == "subscriptions"]

    assert names  # the section is registered and yields files for the customer


# --- Closure -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "cancel_scheduled", "past_due"])
def test_closure_is_refused_while_a_contract_is_open_with_a_link_to_cancel(status):
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(
        status=status, cancel_at=subscription.current_period_end
    )

    with pytest.raises(closure.ClosureRefused) as refusal:
        closure.account_close(user=subscription.customer, acting_user=subscription.customer)

    assert refusal.value.link == "/resilier/"
    assert subscription.reference in refusal.value.message
    assert Subscription.objects.get(pk=subscription.pk).customer.is_active


def test_an_unpaid_order_refuses_closure_with_a_link_to_the_order():
    subscription = ordered()

    with pytest.raises(DomainError) as refusal:
        registrations.closure_check(subscription.customer)

    assert refusal.value.link == "/abonnement/"


def test_closure_goes_ahead_once_the_contract_has_ended():
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(status="ended", ended_at=timezone.now())

    registrations.closure_check(subscription.customer)  # no refusal
