"""The contract confirmation on a durable medium (L221-13), read from the stored email."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email import message_from_bytes, policy
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from audit.models import Event, OutboundEmail
from guides.models import LegalDocument
from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.ordering import EXPRESS_START_VERSION
from tests.accounts.factories import publish_legal

from .factories import CustomerFactory, PlanFactory

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def texts():
    """The terms and the withdrawal form in force, as on a seeded site."""
    publish_legal(LegalDocument.Kind.TERMS, body_fr="# 1. Objet\n\nArticle unique des CGV.")
    publish_legal(
        LegalDocument.Kind.WITHDRAWAL_FORM,
        body_fr="# Formulaire de rétractation\n\nJe vous notifie ma rétractation du contrat.",
    )


def place(customer, plan, *, express_start: bool) -> Subscription:
    from accounts.selectors import legal_version_in_force

    return services.subscription_order_place(
        customer=customer,
        plan_code=plan.code,
        accept_terms=True,
        terms_version_shown=legal_version_in_force("terms", language="fr").version,
        express_start=express_start,
        express_start_version_shown=EXPRESS_START_VERSION,
    )


def pay(subscription, *, paid_at: datetime, captured) -> None:
    with captured(execute=True):
        services.subscription_activate(
            subscription=subscription,
            provider_payment_id=f"pay_{subscription.pk}",
            amount_cents=subscription.plan.price_ttc_cents,
            paid_at=paid_at,
        )


def parts(email: OutboundEmail):
    message = message_from_bytes(bytes(email.raw), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    return message, " ".join(text.split()), html, attachments


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages).split()
    )


def test_activation_sends_the_confirmation_with_recap_terms_and_withdrawal_form(
    texts, django_capture_on_commit_callbacks
):
    """GIVEN a yearly order without express start, paid on Monday 2 March 2026
    WHEN the payment activates it
    THEN one email is stored with the recap the law asks for and both PDFs."""
    customer = CustomerFactory(first_name="Camille")
    plan = PlanFactory(name_fr="Annuelle", interval="year", price_ttc_cents=9900)
    subscription = place(customer, plan, express_start=False)

    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    email = OutboundEmail.objects.get(template="subscription_confirmation")
    assert email.to == [customer.email]
    assert email.customer == customer
    assert hashlib.sha256(bytes(email.raw)).hexdigest() == email.sha256
    message, text, html, attachments = parts(email)
    assert subscription.reference in message["Subject"]
    assert "Bonjour Camille" in text
    assert f"Référence du contrat : {subscription.reference}" in text
    assert "Formule : Annuelle" in text
    assert "99,00 € TTC par an (TVA de 20 % incluse)" in text.replace("\u202f", " ")
    assert "reconduit tacitement pour un an" in text
    # Concluded 2 March: 14 days later is Monday 16 March, a working day.
    assert "Contrat conclu le : 2 mars 2026" in text
    assert "jusqu'au 16 mars 2026 inclus" in text
    # Without express start the service starts at the end of the withdrawal period.
    assert "Début du service : 17 mars 2026" in text
    assert "Vous n'avez pas demandé que le service commence" in text
    assert "http://testserver/retractation/" in text or "/retractation/" in text
    assert "Renoncer au contrat ici" in text and "Renoncer au contrat ici" in html
    assert "Résilier votre contrat" in text
    assert "/resilier/" in text
    # The mediator and the independence statement come with every email.
    assert "Médiateur de la consommation" in text
    assert "indépendants de l'administration" in text

    terms_name = "CGV-MyNetSpace-version-1.pdf"
    assert set(attachments) == {terms_name, "formulaire-de-retractation.pdf"}
    terms_pdf = pdf_text(attachments[terms_name])
    assert "Article unique des CGV." in terms_pdf
    assert "Version 1" in terms_pdf
    assert "Je vous notifie ma rétractation du contrat." in pdf_text(
        attachments["formulaire-de-retractation.pdf"]
    )

    event = Event.objects.get(action="subscription.confirmation_sent")
    assert event.chain_key == f"user:{customer.pk}"
    assert event.data["email_id"] == email.pk
    assert event.data["terms_version"] == 1
    assert {a["filename"] for a in event.data["attachments"]} == set(attachments)
    assert "Camille" not in str(event.data)


def test_the_express_start_answer_is_quoted_with_its_exact_wording(
    texts, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    subscription = place(customer, PlanFactory(), express_start=True)

    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    subscription.refresh_from_db()
    _message, text, _html, _attachments = parts(
        OutboundEmail.objects.get(template="subscription_confirmation")
    )
    wording = " ".join(subscription.express_start_wording.split())
    assert f"« {wording} »" in text
    assert "Début du service : 2 mars 2026" in text
    assert "montant correspondant au service fourni" in text


def test_the_confirmation_goes_once_however_often_it_is_asked_for(
    texts, django_capture_on_commit_callbacks
):
    subscription = place(CustomerFactory(), PlanFactory(), express_start=False)
    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    first = OutboundEmail.objects.get(template="subscription_confirmation")
    again = services.subscription_confirmation_send(subscription=subscription)
    # A replayed payment event changes nothing either.
    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    assert again == first
    assert OutboundEmail.objects.filter(template="subscription_confirmation").count() == 1
    assert Event.objects.filter(action="subscription.confirmation_sent").count() == 1


def test_nothing_is_sent_before_the_payment(texts):
    subscription = place(CustomerFactory(), PlanFactory(), express_start=False)

    assert services.subscription_confirmation_send(subscription=subscription) is None
    assert not OutboundEmail.objects.filter(template="subscription_confirmation").exists()


def test_the_sweeper_finds_a_concluded_subscription_whose_confirmation_is_missing(texts):
    """GIVEN a subscription paid while the broker was down (the task was lost)
    THEN the pending-work finder lists it, and no longer once it is sent."""
    from datetime import timedelta

    from django.utils import timezone

    subscription = place(CustomerFactory(), PlanFactory(), express_start=True)
    services.subscription_activate(
        subscription=subscription,
        provider_payment_id="pay_lost",
        amount_cents=990,
        paid_at=timezone.now(),
    )
    later = timezone.now() + timedelta(minutes=5)

    assert services.subscriptions_pending_confirmation(later, 10) == [subscription.pk]
    services.subscription_confirmation_send(subscription=subscription)
    assert services.subscriptions_pending_confirmation(later, 10) == []


def test_the_terms_attached_are_the_version_accepted_even_after_a_new_one(
    texts, django_capture_on_commit_callbacks
):
    """GIVEN an order under CGV version 1, and version 2 published before payment
    THEN the confirmation carries version 1, the one the customer accepted."""
    subscription = place(CustomerFactory(), PlanFactory(), express_start=False)
    publish_legal(LegalDocument.Kind.TERMS, body_fr="# 1. Objet\n\nNouvelle rédaction.")

    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    _message, _text, _html, attachments = parts(
        OutboundEmail.objects.get(template="subscription_confirmation")
    )
    assert "CGV-MyNetSpace-version-1.pdf" in attachments
    assert "Article unique des CGV." in pdf_text(attachments["CGV-MyNetSpace-version-1.pdf"])


def test_the_attached_documents_are_deposited_in_the_vault_once(
    texts, django_capture_on_commit_callbacks
):
    """GIVEN a paid order WHEN the confirmation goes THEN the very bytes attached to it
    are in the customer's vault, as documents produced by the service, once."""
    from vault.models import Document, DocumentOrigin, DocumentSource

    customer = CustomerFactory()
    subscription = place(customer, PlanFactory(), express_start=False)
    pay(subscription, paid_at=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS),
        captured=django_capture_on_commit_callbacks)  # fmt: skip

    _message, _text, _html, attachments = parts(
        OutboundEmail.objects.get(template="subscription_confirmation")
    )
    origins = DocumentOrigin.objects.filter(
        source_app="subscriptions",
        related_type="subscriptions.subscription",
        related_id=str(subscription.pk),
    )
    documents = Document.objects.filter(owner=customer, origin__in=origins)
    assert documents.count() == 2
    assert {document.source for document in documents} == {DocumentSource.SERVICE}
    assert {document.doc_type for document in documents} == {"contract"}
    assert {document.sha256 for document in documents} == {
        hashlib.sha256(content).hexdigest() for content in attachments.values()
    }
    assert services.subscription_contract_documents_deposit(subscription=subscription) == []
    assert Document.objects.filter(owner=customer, origin__in=origins).count() == 2
    assert Event.objects.filter(action="subscription.documents_deposited").count() == 1
