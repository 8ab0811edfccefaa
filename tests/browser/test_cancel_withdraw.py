"""Leaving, in a real browser: cancel in three interactions (logged in), cancel logged
out, withdraw within 14 days; each acknowledgement is stored as evidence and says
what the law requires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import OutboundEmail
from subscriptions.models import CancellationRequest, Subscription, WithdrawalDeclaration
from subscriptions.money import format_eur
from tests.accounts.factories import (
    UserFactory,
    accept_current_texts,
    publish_required_texts,
)
from tests.browser import steps
from tests.subscriptions.exit_helpers import email_is_intact, email_text
from tests.subscriptions.factories import activated

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer():
    publish_required_texts()
    user = UserFactory(verified_email=True, first_name="Camille", last_name="Martin")
    accept_current_texts(user)
    return user


def log_in(page, user) -> None:
    steps.log_in(page, user.email)


def the_email(template: str) -> OutboundEmail:
    [email] = OutboundEmail.objects.filter(template=template)
    assert email_is_intact(email)
    return email


def test_cancel_from_the_dashboard_in_three_interactions(page, customer):
    subscription = activated(customer=customer)
    log_in(page, customer)
    page.goto("/espace/")
    interactions = 0

    page.locator("footer").get_by_role("link", name="Résilier votre contrat").click()
    interactions += 1
    page.wait_for_url("**/resilier/")
    assert page.locator("#id_email").input_value() == customer.email
    assert page.locator("#id_contract_reference").input_value() == subscription.reference
    assert page.locator("#id_full_name").input_value() == "Camille Martin"

    page.get_by_role("button", name="Continuer").click()
    interactions += 1
    assert page.get_by_text("Votre contrat prendra fin le").is_visible()

    page.get_by_role("button", name="Confirmer ma demande de résiliation").click()
    interactions += 1
    page.wait_for_url("**/resilier/demande/**")

    assert interactions <= 3
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "Votre demande de résiliation est enregistrée"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    email = the_email("cancellation_ack")
    text = email_text(email)
    end = timezone.localtime(subscription.cancel_at)
    assert email.to == [customer.email]
    assert "DATE DE FIN" in text and f"{end.year}" in text
    assert "aucun paiement ne sera plus prélevé" in text
    request = CancellationRequest.objects.get()
    assert timezone.localtime(request.requested_at).strftime("%H:%M:%S") in text


def test_cancel_logged_out_with_email_and_reference(page, customer):
    subscription = activated(customer=customer)

    page.goto("/")
    page.locator("footer").get_by_role("link", name="Résilier votre contrat").click()
    page.locator("#id_full_name").fill("Camille Martin")
    page.locator("#id_email").fill(customer.email)
    page.locator("#id_contract_reference").fill(subscription.reference.lower())
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("button", name="Confirmer ma demande de résiliation").click()
    page.wait_for_url("**/resilier/envoyee/")

    assert page.get_by_role("heading", level=1).inner_text() == "Demande de résiliation envoyée"
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    email = the_email("cancellation_ack")
    assert email.to == [customer.email]
    assert "DATE DE FIN" in email_text(email)


def test_withdraw_within_fourteen_days(page, customer):
    subscription = activated(
        customer=customer, express_start=True, paid_at=timezone.now() - timedelta(days=2)
    )
    log_in(page, customer)

    page.goto("/espace/")
    page.get_by_role("link", name="Renoncer au contrat ici").click()
    page.wait_for_url("**/retractation/")
    assert page.get_by_role("heading", level=1).inner_text() == "Renoncer au contrat ici"
    amount = page.locator(".notice strong").inner_text()
    assert "Montant remboursé" in amount
    page.get_by_role("button", name="Confirmer la rétractation").click()
    page.wait_for_url("**/retractation/declaration/**")

    declaration = WithdrawalDeclaration.objects.get()
    assert format_eur(declaration.refund_cents) in amount  # what was shown is what is refunded
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.WITHDRAWN
    text = " ".join(email_text(the_email("withdrawal_ack")).split())
    declared = timezone.localtime(declaration.declared_at)
    assert " ".join(declaration.content.split()) in text
    assert declared.strftime("%H:%M:%S") in text
    assert f"{declared.day} " in text and str(declared.year) in text
