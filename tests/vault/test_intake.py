"""Automatic intake: service deposits, the private intake address, ``ingest_email``."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse

from audit.models import Event, InboundEmail, OutboundEmail
from mynetspace.core.errors import DomainError
from tests.vault import corpus
from tests.vault.factories import UserFactory, read_back
from vault import intake
from vault.models import Document, DocumentOrigin, DocumentSource, IntakeAddress

pytestmark = pytest.mark.django_db

DOMAIN = "depot.mynetspace.test"


@pytest.fixture(autouse=True)
def intake_domain(settings):
    settings.VAULT_INTAKE_DOMAIN = DOMAIN


def events(user, action):
    return list(Event.objects.filter(chain_key=f"user:{user.pk}", action=action).order_by("seq"))


# --- Service deposit -------------------------------------------------------------------------


def test_a_deposit_from_another_app_lands_in_the_vault_with_its_origin():
    owner = UserFactory()
    related = UserFactory()  # any saved object stands for "what it belongs to"
    pdf = corpus.pdf()

    document = intake.document_deposit(
        owner=owner,
        filename="confirmation-commande.pdf",
        content=pdf,
        title="Confirmation de commande",
        doc_type="contract",
        source_app="subscriptions",
        related=related,
    )

    assert document.source == DocumentSource.SERVICE
    assert (document.title, document.doc_type) == ("Confirmation de commande", "contract")
    assert read_back(document) == pdf
    origin = document.origin
    assert (origin.source_app, origin.related_type, origin.related_id) == (
        "subscriptions",
        "accounts.user",
        str(related.pk),
    )
    [event] = events(owner, "vault.document_deposited")
    assert event.data["source_app"] == "subscriptions"
    assert event.data["sha256"] == document.sha256


def test_a_deposit_streams_chunks_too():
    owner = UserFactory()
    pdf = corpus.pdf()

    document = intake.document_deposit(
        owner=owner,
        filename="a.pdf",
        content=iter([pdf[:100], pdf[100:]]),
        source_app="assistance",
    )

    assert read_back(document) == pdf


def test_a_refused_deposit_leaves_nothing():
    owner = UserFactory()

    with pytest.raises(DomainError) as caught:
        intake.document_deposit(
            owner=owner,
            filename="facture.pdf",
            content=corpus.HTML_PAGE,
            source_app="subscriptions",
        )

    assert caught.value.code.startswith("vault.")
    assert not Document.objects.filter(owner=owner).exists()
    assert not DocumentOrigin.objects.exists()


def test_source_app_must_be_a_name():
    with pytest.raises(ValueError):
        intake.document_deposit(
            owner=UserFactory(), filename="a.pdf", content=corpus.pdf(), source_app="Bad App!"
        )


def test_the_invoice_pdf_lands_in_the_customers_vault():
    from subscriptions import services
    from tests.subscriptions.factories import activated

    invoice = activated().invoices.get()

    services.issued_document_render(kind="invoice", document_id=invoice.pk)

    invoice.refresh_from_db()
    document = Document.objects.get(pk=invoice.vault_document_id)
    assert document.owner == invoice.customer
    assert document.source == DocumentSource.SERVICE
    assert document.title == f"Facture {invoice.number}"
    assert document.doc_type == "invoice"
    assert document.sha256 == invoice.pdf_sha256
    assert (document.origin.related_type, document.origin.related_id) == (
        "subscriptions.invoice",
        str(invoice.pk),
    )


# --- Intake address --------------------------------------------------------------------------


def test_an_address_is_random_and_resolves_whatever_the_case():
    user = UserFactory()

    address = intake.intake_address_create(user=user)
    text = intake.intake_address_text(address)

    assert text == f"coffre-{address.token}@{DOMAIN}"
    assert len(address.token) == intake.TOKEN_LENGTH
    assert str(user.pk) not in address.token and user.email.split("@")[0] not in text
    assert intake.intake_address_resolve(text.upper()) == address
    assert intake.intake_address_resolve(f"<{text}>") == address
    assert intake.intake_address_create(user=user) == address  # one active address
    assert intake.intake_address_resolve(f"coffre-{address.token}@other.test") is None
    assert intake.intake_address_resolve(f"coffre-{'a' * 16}@{DOMAIN}") is None


def test_regenerating_stops_the_former_address():
    user = UserFactory()
    old = intake.intake_address_create(user=user)

    new = intake.intake_address_regenerate(user=user)

    assert new.token != old.token
    assert intake.intake_address_resolve(intake.intake_address_text(old)) is None
    assert intake.intake_address_resolve(intake.intake_address_text(new)) == new
    assert [a.action for a in Event.objects.filter(chain_key=f"user:{user.pk}").order_by("seq")][
        -3:
    ] == [
        "vault.intake_address_created",
        "vault.intake_address_revoked",
        "vault.intake_address_created",
    ]


def test_without_a_domain_intake_is_off(settings):
    settings.VAULT_INTAKE_DOMAIN = ""

    with pytest.raises(DomainError) as caught:
        intake.intake_address_create(user=UserFactory())

    assert caught.value.code == "vault.intake_disabled"


def test_account_closure_revokes_the_address():
    from vault.intake_registrations import intake_closure_perform

    user = UserFactory()
    address = intake.intake_address_create(user=user)

    intake_closure_perform(user, None)

    assert intake.intake_address_resolve(intake.intake_address_text(address)) is None


# --- ingest_email ------------------------------------------------------------------------------


def message(*, to: str, attachments=(), subject="Mes papiers", headers=None) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Léa Dupont <lea@example.org>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content("Bonjour,\nvoici mes documents.\n")
    for filename, content, mimetype in attachments:
        maintype, subtype = mimetype.split("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes()


def ingest(raw: bytes, *recipient: str) -> str:
    out = io.StringIO()
    args = ["--recipient", recipient[0]] if recipient else []
    call_command("ingest_email", *args, stdin=io.BytesIO(raw), stdout=out)
    return out.getvalue()


def reports(user):
    return list(OutboundEmail.objects.filter(customer=user, template="vault_intake_report"))


def report_text(email: OutboundEmail) -> str:
    from email import message_from_bytes, policy

    parsed = message_from_bytes(bytes(email.raw), policy=policy.default)
    return parsed.get_body(("plain",)).get_content()


@pytest.fixture
def customer():
    return UserFactory()


@pytest.fixture
def address(customer):
    return intake.intake_address_text(intake.intake_address_create(user=customer))


def test_a_pdf_sent_by_email_enters_the_vault_with_the_raw_message_as_evidence(customer, address):
    pdf = corpus.pdf()
    raw = message(to=address, attachments=[("avis-impot.pdf", pdf, "application/pdf")])

    output = ingest(raw, address)

    assert output.startswith("processed")
    inbound = InboundEmail.objects.get()
    assert bytes(inbound.raw) == raw and inbound.customer == customer
    assert inbound.envelope_to == address
    document = Document.objects.get(owner=customer)
    assert document.source == DocumentSource.EMAIL
    assert document.original_name == "avis-impot.pdf"
    assert read_back(document) == pdf
    assert document.origin.inbound_email == inbound
    assert document.origin.sender == "lea@example.org"
    [processed] = events(customer, "vault.intake_email_processed")
    assert processed.data["accepted"] == [
        {"document": str(document.uuid), "name": "avis-impot.pdf"}
    ]
    [report] = reports(customer)
    assert report.to == [customer.email]
    assert "avis-impot.pdf" in report_text(report)


def test_the_recipient_may_come_from_the_headers(customer, address):
    raw = message(
        to="someone@example.org",
        headers={"Delivered-To": address},
        attachments=[("a.pdf", corpus.pdf(), "application/pdf")],
    )

    ingest(raw)

    assert Document.objects.filter(owner=customer, source="email").count() == 1


def test_an_unknown_address_keeps_the_message_and_deposits_nothing(customer, address):
    raw = message(
        to=f"coffre-zzzzzzzzzzzzzzzz@{DOMAIN}",
        attachments=[("a.pdf", corpus.pdf(), "application/pdf")],
    )

    output = ingest(raw, f"coffre-zzzzzzzzzzzzzzzz@{DOMAIN}")

    assert output.startswith("unknown_recipient")
    inbound = InboundEmail.objects.get()
    assert inbound.customer is None and bytes(inbound.raw) == raw
    assert not Document.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_a_revoked_address_deposits_nothing(customer, address):
    intake.intake_address_regenerate(user=customer)

    ingest(message(to=address, attachments=[("a.pdf", corpus.pdf(), "application/pdf")]), address)

    assert InboundEmail.objects.get().customer is None
    assert not Document.objects.exists()


def test_refused_attachments_are_reported_with_their_reason(customer, address):
    raw = message(
        to=address,
        attachments=[
            ("bon.pdf", corpus.pdf(), "application/pdf"),
            ("facture.pdf", corpus.HTML_PAGE, "application/pdf"),
            ("vide.pdf", b"", "application/pdf"),
        ],
    )

    ingest(raw, address)

    assert Document.objects.filter(owner=customer).count() == 1
    [processed] = events(customer, "vault.intake_email_processed")
    refused = {item["name"]: item["code"] for item in processed.data["refused"]}
    assert set(refused) == {"facture.pdf", "vide.pdf"}
    assert refused["vide.pdf"] == "vault.file_empty"
    text = report_text(reports(customer)[0])
    assert "Refusés" in text and "facture.pdf" in text and "vide.pdf" in text


def test_too_many_attachments_are_cut(customer, address):
    pdf = corpus.pdf()
    raw = message(
        to=address,
        attachments=[(f"page-{n}.pdf", pdf, "application/pdf") for n in range(15)],
    )

    ingest(raw, address)

    assert Document.objects.filter(owner=customer).count() == intake.MAX_ATTACHMENTS
    [processed] = events(customer, "vault.intake_email_processed")
    codes = [item["code"] for item in processed.data["refused"]]
    assert codes == ["vault.intake_too_many_attachments"] * 5


def test_a_zip_bomb_attachment_is_refused_without_being_opened(customer, address):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (50 * 1024 * 1024))
    bomb = buffer.getvalue()
    assert len(bomb) < 100_000
    raw = message(to=address, attachments=[("documents.zip", bomb, "application/zip")])

    ingest(raw, address)

    assert not Document.objects.filter(owner=customer).exists()
    [processed] = events(customer, "vault.intake_email_processed")
    assert processed.data["refused"][0]["name"] == "documents.zip"


def test_attachments_beyond_the_total_size_are_refused(customer, address, monkeypatch):
    monkeypatch.setattr(intake, "MAX_ATTACHMENTS_BYTES", len(corpus.pdf()) + 10)
    pdf = corpus.pdf()
    raw = message(
        to=address,
        attachments=[("a.pdf", pdf, "application/pdf"), ("b.pdf", pdf, "application/pdf")],
    )

    ingest(raw, address)

    [processed] = events(customer, "vault.intake_email_processed")
    assert [item["code"] for item in processed.data["refused"]] == [
        "vault.intake_attachments_too_large"
    ]


@pytest.mark.parametrize(
    "raw_builder",
    [
        # Not MIME at all.
        lambda to: b"\x00\xff garbage \r\n\r\n\x80\x81",
        # A multipart whose boundary never comes, and a broken base64 attachment.
        lambda to: (
            f"To: {to}\r\nSubject: =?utf-8?q?cass=C3=A9?=\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
            "--XYZ\r\nContent-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename*=utf-8''%FF%FE.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n"
        ).encode(),
        # Thousands of nested multiparts.
        lambda to: (
            f"To: {to}\r\nMIME-Version: 1.0\r\n"
            + "".join(
                f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                for i in range(3000)
            )
            + "Content-Type: text/plain\r\n\r\nfin\r\n"
        ).encode(),
        # Many parts.
        lambda to: (
            f'To: {to}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
            + "".join(
                "--B\r\nContent-Type: text/plain\r\n"
                f'Content-Disposition: attachment; filename="n{i}.txt"\r\n\r\nx\r\n'
                for i in range(500)
            )
            + "--B--\r\n"
        ).encode(),
    ],
    ids=["garbage", "broken-mime", "deep-nesting", "many-parts"],
)
def test_hostile_messages_are_kept_and_never_crash(customer, address, raw_builder):
    raw = raw_builder(address)

    output = ingest(raw, address)

    assert output.startswith("processed")
    assert bytes(InboundEmail.objects.get().raw) == raw
    assert Document.objects.filter(owner=customer).count() <= intake.MAX_ATTACHMENTS
    assert len(events(customer, "vault.intake_email_processed")) == 1


def test_an_oversized_message_is_not_kept_and_the_customer_is_told(customer, address, settings):
    settings.INBOUND_EMAIL_MAX_BYTES = 50_000
    raw = message(
        to=address, attachments=[("big.pdf", b"%PDF-" + b"0" * 60_000, "application/pdf")]
    )

    output = ingest(raw, address)

    assert output.startswith("too_large")
    assert not InboundEmail.objects.exists()
    assert len(events(customer, "vault.intake_email_refused")) == 1
    assert "taille maximale" in report_text(reports(customer)[0])


def test_an_automatic_reply_is_processed_but_not_answered(customer, address):
    raw = message(
        to=address,
        headers={"Auto-Submitted": "auto-replied"},
        attachments=[("a.pdf", corpus.pdf(), "application/pdf")],
    )

    ingest(raw, address)

    assert Document.objects.filter(owner=customer).count() == 1
    assert reports(customer) == []


def test_a_message_without_attachment_is_reported_as_such(customer, address):
    ingest(message(to=address), address)

    assert "aucune pièce jointe" in report_text(reports(customer)[0])


def test_a_database_outage_asks_the_mail_server_to_retry(monkeypatch, address):
    from vault.management.commands import ingest_email

    def unavailable(**kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(ingest_email, "email_ingest", unavailable)

    with pytest.raises(SystemExit) as exited:
        ingest(message(to=address), address)

    assert exited.value.code == 75


# --- Intake page ---------------------------------------------------------------------------------


@pytest.fixture
def logged_in(client):
    from tests.vault.access_helpers import activated_customer

    user = activated_customer(verified_email=True)
    client.force_login(user)
    return user


def test_the_intake_page_creates_and_regenerates_the_address(client, logged_in):
    url = reverse("vault:intake")
    assert "Obtenir mon adresse" in client.get(url).content.decode()

    client.post(url, {"action": "create"})
    first = IntakeAddress.objects.get(user=logged_in)
    assert intake.intake_address_text(first) in client.get(url).content.decode()

    client.post(url, {"action": "regenerate"})
    second = IntakeAddress.objects.get(user=logged_in, revoked_at__isnull=True)
    page = client.get(url).content.decode()
    assert second != first and intake.intake_address_text(second) in page
    assert intake.intake_address_text(first) not in page


def test_the_intake_page_says_when_intake_is_off(client, logged_in, settings):
    settings.VAULT_INTAKE_DOMAIN = ""

    page = client.get(reverse("vault:intake")).content.decode()

    assert "n'est pas disponible" in page
    assert client.post(reverse("vault:intake"), {"action": "create"}).status_code == 302
    assert not IntakeAddress.objects.exists()
