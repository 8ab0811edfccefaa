"""Subscribing in a real browser: pricing, pre-contract information, order, demo payment."""

from __future__ import annotations

import hashlib
from email import message_from_bytes, policy

import pytest

from accounts.models import User
from audit.models import OutboundEmail
from guides.models import LegalDocument
from subscriptions.models import Plan, Subscription
from subscriptions.plans import plans_ensure
from tests.accounts.factories import (
    UserFactory,
    accept_current_texts,
    publish_legal,
    publish_required_texts,
)
from tests.browser.steps import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_subscribe_with_the_simulated_provider(page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    publish_required_texts()
    publish_legal(LegalDocument.Kind.WITHDRAWAL_FORM)
    plans_ensure(Plan)  # transactional tests start from an empty database
    customer: User = UserFactory(verified_email=True, first_name="Camille")
    accept_current_texts(customer)

    # Log in, then choose a plan on the pricing page.
    log_in(page, customer.email)
    page.goto("/tarifs/")
    page.get_by_role("link", name="Souscrire").first.click()
    page.wait_for_url("**/abonnement/?formule=*")

    # The pre-contract information is there before the button.
    main = page.locator("main")
    assert main.get_by_role("heading", name="Votre droit de rétractation").is_visible()
    assert main.get_by_role("link", name="Renoncer au contrat ici").is_visible()
    assert main.get_by_role("link", name=settings.MEDIATOR_NAME).is_visible()
    assert "TTC par mois" in main.inner_text()

    # Express start stays unticked; the terms are accepted; the order is placed.
    express = page.locator("#id_express_start")
    assert not express.is_checked()
    page.locator("#id_accept_terms").check()
    page.get_by_role("button", name="Commander avec obligation de paiement").click()

    # The demo provider's checkout: the payment succeeds.
    page.wait_for_url("**/abonnement/paiement-simule/**")
    page.get_by_role("button", name="Simuler un paiement accepté").click()
    page.wait_for_url("**/abonnement/confirmation/**", timeout=60_000)
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "Merci, votre abonnement est confirmé"

    # "My subscription" shows the contract, paid and waiting for the 14 days to pass.
    page.goto("/abonnement/")
    subscription = Subscription.objects.get(customer=customer)
    text = page.locator("main").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Mon abonnement"
    assert subscription.reference in text
    assert "Votre abonnement est payé" in text
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.express_start is False

    # The confirmation on a durable medium: stored, hash verifies, both PDFs attached.
    email = OutboundEmail.objects.get(template="subscription_confirmation", customer=customer)
    raw = bytes(email.raw)
    assert hashlib.sha256(raw).hexdigest() == email.sha256
    message = message_from_bytes(raw, policy=policy.default)
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert sorted(attachments) == ["CGV-MyNetSpace-version-1.pdf", "formulaire-de-retractation.pdf"]
    assert all(content.startswith(b"%PDF") for content in attachments.values())
    body = " ".join(message.get_body(("plain",)).get_content().split())
    assert subscription.reference in body
    assert "Renoncer au contrat ici" in body
