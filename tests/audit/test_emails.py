"""Emails as evidence: rendering, stored raw bytes, delivery, retries, inbound storage."""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from audit import emails
from audit.emails import (
    email_deliver,
    email_queue,
    email_requeue,
    inbound_email_store,
    pending_email_ids,
)
from audit.models import Event, InboundEmail, OutboundEmail
from audit.tasks import email_send
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed
from mynetspace.core.tasks import sweep

TEST_TEMPLATES = Path(__file__).parent / "templates"
STATEMENT = "MyNetSpace est un service privé et payant"
INDEPENDENCE = "indépendants de l'administration"


@pytest.fixture
def customer(db):
    return User.objects.create_user("claire@example.org", "un-mot-de-passe-long")


@pytest.fixture
def staff(db):
    return User.objects.create_user("agent@example.org", "un-mot-de-passe-long", is_staff=True)


@pytest.fixture
def probe_templates(settings):
    """Adds tests/audit/templates, whose ``emails/probe`` renders ``title`` and ``body``."""
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEST_TEMPLATES]
    settings.TEMPLATES = templates


def queue_probe(**overrides):
    arguments = {
        "template": "probe",
        "to": ["claire@example.org"],
        "context": {"title": "Votre demande", "body": "Bonjour Claire."},
    }
    arguments.update(overrides)
    return email_queue(**arguments)


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def events(action: str):
    return list(Event.objects.filter(action=action).order_by("chain_key", "seq"))


class RefusingBackend(BaseEmailBackend):
    """A backend that returns without sending (what a misconfigured backend may do)."""

    def send_messages(self, email_messages):
        return 0


# --- Queueing -------------------------------------------------------------------------


@pytest.mark.django_db
def test_stored_raw_message_hashes_to_recorded_hash(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        email = email_queue(
            template="test_message",
            to=["claire@example.org"],
            context={"sent_on": "1 mars 2026", "requested_by": "Dupont & Fils"},
            customer=customer,
        )

    email.refresh_from_db()
    raw = bytes(email.raw)
    assert hashlib.sha256(raw).hexdigest() == email.sha256
    assert email.status == OutboundEmail.Status.QUEUED
    assert email.attempts == 0
    assert email.to == ["claire@example.org"]
    message = parsed(raw)
    assert message["To"] == "claire@example.org"
    assert message["Subject"] == email.subject == "Message de test de MyNetSpace"
    assert message["Message-ID"] == email.message_id
    assert message["Content-Language"] == "fr"
    # One line ending everywhere: the bytes are what goes over SMTP.
    assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.django_db
def test_every_email_carries_the_company_identity_and_independence_statement(
    customer, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        email = email_queue(
            template="test_message",
            to=["claire@example.org"],
            context={"sent_on": "1 mars 2026", "requested_by": "test"},
        )

    message = parsed(bytes(email.raw))
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert STATEMENT in part
        assert INDEPENDENCE in part
        assert settings.COMPANY_SIREN in part
        assert "service-public.fr" in part


@pytest.mark.django_db
def test_text_part_is_not_html_escaped_but_html_part_is(
    probe_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        email = queue_probe(context={"title": "Dupont & Fils", "body": "<b>Dupont & Fils</b>"})

    message = parsed(bytes(email.raw))
    assert email.subject == "Dupont & Fils"
    assert "<b>Dupont & Fils</b>" in message.get_body(("plain",)).get_content()
    assert "&lt;b&gt;Dupont &amp; Fils&lt;/b&gt;" in message.get_body(("html",)).get_content()


@pytest.mark.django_db
def test_subject_cannot_inject_headers(probe_templates, django_capture_on_commit_callbacks):
    """GIVEN a subject value carrying a newline and a header
    WHEN the email is queued
    THEN the subject is one line and the message has no Bcc header."""
    with django_capture_on_commit_callbacks():
        email = queue_probe(context={"title": "Salut\r\nBcc: intrus@example.net", "body": "x"})

    message = parsed(bytes(email.raw))
    assert message["Bcc"] is None
    assert email.subject == "Salut Bcc: intrus@example.net"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"), [(None, "fr"), ("en", "en"), ("en-gb", "en"), ("xx", "fr")]
)
def test_email_is_written_in_the_recipients_language_french_by_default(
    language, expected, probe_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        email = queue_probe(language=language)

    message = parsed(bytes(email.raw))
    assert message["Content-Language"] == expected
    assert f'<html lang="{expected}">' in message.get_body(("html",)).get_content()
    event = Event.objects.get(action="email.queued")
    assert event.data["language"] == expected


@pytest.mark.django_db
def test_queued_event_is_on_the_customers_chain(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        email = email_queue(
            template="test_message",
            to=["claire@example.org"],
            context={"sent_on": "hier", "requested_by": "test"},
            customer=customer,
            related=customer,
        )

    (event,) = events("email.queued")
    assert event.chain_key == f"user:{customer.pk}"
    assert (event.target_type, event.target_id) == ("audit.outboundemail", str(email.pk))
    assert event.data["sha256"] == email.sha256
    assert event.data["to"] == ["claire@example.org"]
    assert (email.related_type, email.related_id) == ("accounts.user", str(customer.pk))


@pytest.mark.django_db
def test_email_without_customer_goes_on_the_system_chain(
    probe_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        queue_probe()

    (event,) = events("email.queued")
    assert event.chain_key == "system"


@pytest.mark.django_db
def test_rolled_back_change_stores_and_sends_no_email(
    probe_templates, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queue_probe()
        raise RuntimeError("the change the email was about failed")

    assert callbacks == []
    assert not OutboundEmail.objects.exists()
    assert not Event.objects.filter(action="email.queued").exists()
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("to", "code"),
    [
        ([], "no_recipient"),
        (["pas-une-adresse"], "invalid_to"),
        (["claire@example.org\r\nBcc: intrus@example.net"], "invalid_to"),
        (["Claire <claire@example.org>"], "invalid_to"),
    ],
)
def test_bad_recipients_are_refused_and_nothing_is_stored(to, code, probe_templates):
    with pytest.raises(DomainError) as excinfo:
        queue_probe(to=to)

    assert excinfo.value.code == code
    assert not OutboundEmail.objects.exists()


# --- Delivery ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_send_task_runs_after_commit_and_delivers_the_stored_message(
    customer, probe_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        email = queue_probe(customer=customer)
        assert mail.outbox == []
    assert len(callbacks) == 1
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.QUEUED

    callbacks[0]()  # the commit happens: the (eager) task sends it

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    assert email.sent_at is not None
    assert email.attempts == 1
    (delivered,) = mail.outbox
    assert delivered.message().as_bytes() == bytes(email.raw)
    assert "Bonjour Claire." in delivered.body
    assert "<p>Bonjour Claire.</p>" in delivered.alternatives[0][0]
    assert delivered.attachments == []
    (sent_event,) = events("email.sent")
    assert sent_event.chain_key == f"user:{customer.pk}"
    assert sent_event.data["sha256"] == email.sha256


@pytest.mark.django_db
@pytest.mark.smtp
def test_smtp_server_receives_exactly_the_stored_bytes(
    smtp_backend, probe_templates, django_capture_on_commit_callbacks
):
    """GIVEN a body with accents, a line starting with a dot, a very long line and an attachment
    WHEN the email is sent over SMTP
    THEN the server receives the stored bytes, which hash to the recorded hash."""
    body = "Réponse à « votre demande » ✓\n.ligne qui commence par un point\n" + "x" * 1200
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe(
            context={"title": "Reçu n° 42", "body": body},
            attachments=[("reçu.txt", b"contenu\r\n.\r\n", "text/plain")],
        )

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    (received,) = smtp_backend.messages
    assert received.data == bytes(email.raw)
    assert hashlib.sha256(received.data).hexdigest() == email.sha256
    assert received.rcpt_tos == ["claire@example.org"]
    assert received.mail_from == "bonjour@mynetspace.test"


@pytest.mark.django_db
@pytest.mark.smtp
def test_recipients_refused_by_the_server_are_recorded_with_the_sent_event(
    smtp_backend, probe_templates, django_capture_on_commit_callbacks
):
    smtp_backend.handler.unknown_recipients = {"inconnu@example.org"}
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe(to=["claire@example.org", "inconnu@example.org"])

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    (received,) = smtp_backend.messages
    assert received.rcpt_tos == ["claire@example.org"]
    (sent_event,) = events("email.sent")
    assert sent_event.data["refused"] == {"inconnu@example.org": "550 5.1.1 No such user"}


@pytest.mark.django_db
@pytest.mark.smtp
@pytest.mark.parametrize(
    "reply", ["451 4.3.0 Mailbox temporarily unavailable", "554 5.7.1 Message refused"]
)
def test_refusing_smtp_server_keeps_email_queued_then_failed(
    reply, smtp_backend, settings, probe_templates, django_capture_on_commit_callbacks
):
    settings.EMAIL_MAX_ATTEMPTS = 3
    smtp_backend.refuse_with(reply)
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe()

    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboundEmail.Status.QUEUED, 1)
    assert reply.split()[0] in email.last_error

    assert email_send.apply(args=[email.pk]).get() == "retry"
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboundEmail.Status.QUEUED, 2)

    assert email_send.apply(args=[email.pk]).get() == "failed"
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboundEmail.Status.FAILED, 3)
    assert email.sent_at is None
    assert smtp_backend.handler.refused == 3
    assert smtp_backend.messages == []
    assert events("email.sent") == []
    (failed,) = events("email.failed")
    assert failed.data["attempts"] == 3

    # A failed email is never picked up again by a stray task.
    assert email_send.apply(args=[email.pk]).get() == "skipped"
    assert smtp_backend.handler.refused == 3


@pytest.mark.django_db
def test_attachments_are_part_of_the_stored_message(
    probe_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe(attachments=[("facture.pdf", b"%PDF-1.7 fake", "application/pdf")])

    (delivered,) = mail.outbox
    assert delivered.attachments == [("facture.pdf", b"%PDF-1.7 fake", "application/pdf")]
    assert b"facture.pdf" in bytes(email.raw)


@pytest.mark.django_db
def test_closed_smtp_port_counts_as_a_failed_attempt(
    settings, probe_templates, django_capture_on_commit_callbacks
):
    from tests.fixtures.services import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe()

    email.refresh_from_db()
    assert (email.status, email.attempts, email.sent_at) == ("queued", 1, None)
    assert "ConnectionRefusedError" in email.last_error


@pytest.mark.django_db
def test_backend_that_sends_nothing_never_marks_the_email_sent(
    settings, probe_templates, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.audit.test_emails.RefusingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe()

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.QUEUED
    assert email.sent_at is None
    assert events("email.sent") == []


def test_retry_delay_doubles_and_is_capped(settings):
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 60
    assert [emails.retry_delay(n) for n in range(4)] == [0, 60, 120, 240]
    assert emails.retry_delay(30) == emails.MAX_RETRY_DELAY


@pytest.mark.django_db
def test_sent_email_is_never_sent_again(probe_templates, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe()
    assert len(mail.outbox) == 1

    assert email_deliver(email_id=email.pk).status == "skipped"
    assert email_send.apply(args=[email.pk]).get() == "skipped"
    assert len(mail.outbox) == 1
    assert len(events("email.sent")) == 1


# --- Staff requeue -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.smtp
def test_staff_requeue_a_failed_email_which_is_then_sent(
    smtp_backend, settings, staff, customer, probe_templates, django_capture_on_commit_callbacks
):
    settings.EMAIL_MAX_ATTEMPTS = 1
    smtp_backend.refuse_with("554 5.0.0 Nope")
    with django_capture_on_commit_callbacks(execute=True):
        email = queue_probe(customer=customer)
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED

    with pytest.raises(NotAllowed):
        email_requeue(email=email, acting_user=customer)
    smtp_backend.refuse_with(None)
    with django_capture_on_commit_callbacks(execute=True):
        email_requeue(email=email, acting_user=staff)

    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    assert len(smtp_backend.messages) == 1
    (requeued,) = events("email.requeued")
    assert requeued.actor_id == staff.pk
    assert requeued.actor_type == "staff"
    assert requeued.chain_key == f"user:{customer.pk}"
    with pytest.raises(InvalidState) as excinfo:
        email_requeue(email=email, acting_user=staff)
    assert excinfo.value.code == "email_not_failed"


# --- Pending work --------------------------------------------------------------------------


def _age(email: OutboundEmail, seconds: int) -> None:
    email.updated_at = timezone.now() - timedelta(seconds=seconds)
    email.save(update_fields=["updated_at"])


@pytest.mark.django_db
def test_sweeper_finds_only_stale_queued_emails_respecting_retry_delay(settings, probe_templates):
    """GIVEN queued, sent and failed emails of various ages and attempts
    WHEN the sweeper lists pending emails older than the grace period
    THEN only queued ones untouched for the grace period plus their retry delay come back."""
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 600
    settings.PENDING_WORK_GRACE_SECONDS = 120
    with transaction.atomic():  # no on_commit: the emails stay queued
        fresh, stale, sent, failed, backing_off, due_retry = (queue_probe() for _ in range(6))
    _age(stale, 300)
    for email, status in ((sent, "sent"), (failed, "failed")):
        email.status = status
        email.save(update_fields=["status"])
        _age(email, 3000)
    for email in (backing_off, due_retry):
        email.attempts = 1
        email.save(update_fields=["attempts"])
    _age(backing_off, 300)  # older than the grace period, not grace + 600 s
    _age(due_retry, 900)

    older_than = timezone.now() - timedelta(seconds=settings.PENDING_WORK_GRACE_SECONDS)
    assert pending_email_ids(older_than, 100) == [due_retry.pk, stale.pk]
    assert pending_email_ids(older_than, 1) == [due_retry.pk]
    assert fresh.pk not in pending_email_ids(older_than, 100)


@pytest.mark.django_db
def test_sweeper_sends_a_stale_queued_email_once_and_not_sent_ones(settings, probe_templates):
    with transaction.atomic():  # enqueue lost: nothing runs on commit in this test
        stale = queue_probe()
    with transaction.atomic():
        already_sent = queue_probe()
    already_sent.status = "sent"
    already_sent.save(update_fields=["status"])
    _age(stale, 3600)
    _age(already_sent, 3600)

    counts = sweep()

    assert counts["audit.outbound_email"] == 1
    stale.refresh_from_db()
    assert stale.status == OutboundEmail.Status.SENT
    assert [m.outbound_email_id for m in mail.outbox] == [stale.pk]
    assert sweep()["audit.outbound_email"] == 0
    assert len(mail.outbox) == 1


# --- Two workers racing -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.smtp
def test_two_concurrent_deliveries_send_the_email_once(
    postgres, smtp_backend, probe_templates, monkeypatch
):
    """GIVEN one queued email and a slow SMTP server
    WHEN two workers try to deliver it at the same moment
    THEN the second skips the locked row and the server receives the message once."""
    monkeypatch.setattr("mynetspace.core.tasks.enqueue", lambda task, *args: False)
    with transaction.atomic():
        email = queue_probe()  # committed, its send message "lost"
    smtp_backend.handler.delay = 1.0
    outcomes: dict[str, tuple[str, float]] = {}

    def deliver(name: str) -> None:
        started = time.monotonic()
        try:
            outcomes[name] = (email_deliver(email_id=email.pk).status, time.monotonic() - started)
        finally:
            connection.close()

    first = threading.Thread(target=deliver, args=("first",))
    second = threading.Thread(target=deliver, args=("second",))
    first.start()
    time.sleep(0.3)  # the first holds the row lock while the server waits
    second.start()
    first.join(10)
    second.join(10)

    assert outcomes["first"][0] == "sent"
    assert outcomes["second"][0] == "skipped"
    assert outcomes["second"][1] < 0.5  # SKIP LOCKED: no waiting for the first
    assert len(smtp_backend.messages) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 1)
    assert len(events("email.sent")) == 1


# --- Inbound ------------------------------------------------------------------------------


INBOUND = (
    b"From: =?utf-8?q?Claire_B=C3=A9rard?= <claire@example.org>\r\n"
    b"To: depot+abc@mynetspace.test\r\n"
    b"Subject: =?utf-8?q?R=C3=A9ponse_=C3=A0_votre_demande?=\r\n"
    b"Message-ID: <123@example.org>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Voici le document.\r\n"
)


@pytest.mark.django_db
def test_inbound_email_is_stored_raw_with_readable_headers(customer):
    inbound = inbound_email_store(
        raw=INBOUND, envelope_to="depot+abc@mynetspace.test", customer=customer
    )

    inbound.refresh_from_db()
    assert bytes(inbound.raw) == INBOUND
    assert inbound.sha256 == hashlib.sha256(INBOUND).hexdigest()
    assert inbound.from_email == "claire@example.org"
    assert inbound.subject == "Réponse à votre demande"
    assert inbound.message_id == "<123@example.org>"
    assert inbound.envelope_to == "depot+abc@mynetspace.test"
    (event,) = events("email.received")
    assert event.chain_key == f"user:{customer.pk}"
    assert event.data["sha256"] == inbound.sha256


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: caf\xe9 \xff\xfe\x00\r\nFrom: \x00<a@b>\r\n\r\nbody",
        b"Subject: =?x-unknown?q?abc?= =?utf-8?b?!!!?=\r\nMessage-ID: <\r\n\r\n",
        b"\x00\x01\x02 no headers at all",
        b"From: " + b"a" * 5000 + b"\r\n\r\n",
        b"Subject: =?utf-8?q?=E9t=E9?=\r\n\r\n",
        b"Subject: r\xc3\xa9ponse brute en UTF-8\r\n\r\n",
    ],
)
def test_hostile_inbound_bytes_are_stored_without_crashing(raw):
    inbound = inbound_email_store(raw=raw)

    inbound.refresh_from_db()
    assert bytes(inbound.raw) == raw
    for value in (inbound.subject, inbound.from_email, inbound.message_id):
        assert "\x00" not in value
        assert len(value) <= 998


@pytest.mark.django_db
def test_raw_utf8_header_is_read_as_utf8():
    inbound = inbound_email_store(raw=b"Subject: r\xc3\xa9ponse brute\r\n\r\nx")
    assert inbound.subject == "réponse brute"


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"From", b"Subject", b"Message-ID", b"To", b"X"]),
            st.binary(max_size=200),
        ),
        max_size=6,
    ),
    body=st.binary(max_size=300),
)
def test_any_inbound_bytes_are_stored_exactly(headers, body):
    raw = b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    inbound = inbound_email_store(raw=raw, envelope_to="x\x00@y\r\n")

    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert bytes(stored.raw) == raw
    assert stored.sha256 == hashlib.sha256(raw).hexdigest()
    assert "\x00" not in stored.envelope_to


@pytest.mark.django_db
def test_empty_or_oversized_inbound_email_is_refused(settings):
    settings.INBOUND_EMAIL_MAX_BYTES = 100
    with pytest.raises(DomainError) as empty:
        inbound_email_store(raw=b"")
    with pytest.raises(DomainError) as large:
        inbound_email_store(raw=b"x" * 101)

    assert (empty.value.code, large.value.code) == ("empty_email", "email_too_large")
    assert not InboundEmail.objects.exists()


# --- Operator command -----------------------------------------------------------------------


@pytest.mark.django_db
def test_send_test_email_command_sends_through_the_evidence_path(
    django_capture_on_commit_callbacks,
):
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_test_email", "ops@example.org", stdout=out)

    email = OutboundEmail.objects.get()
    assert email.template == "test_message"
    assert email.to == ["ops@example.org"]
    assert f"Email {email.pk} queued" in out.getvalue()
    (delivered,) = mail.outbox
    assert delivered.message().as_bytes() == bytes(email.raw)
    assert "manage.py send_test_email" in delivered.body


@pytest.mark.django_db(transaction=True)
def test_send_test_email_wait_reports_the_sent_email():
    out = StringIO()
    # Real commits here: the (eager) send task runs when the email is committed.
    call_command("send_test_email", "ops@example.org", "--wait", stdout=out)

    email = OutboundEmail.objects.get()
    assert email.status == OutboundEmail.Status.SENT
    assert f"Email {email.pk} sent." in out.getvalue()


@pytest.mark.django_db
def test_send_test_email_command_rejects_a_bad_address():
    with pytest.raises(CommandError):
        call_command("send_test_email", "not an address", stdout=StringIO())
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db
def test_send_test_email_wait_fails_when_the_email_is_not_sent(settings):
    settings.EMAIL_BACKEND = "tests.audit.test_emails.RefusingBackend"
    with pytest.raises(CommandError, match="queued after 0 attempt"):
        # Inside the test transaction nothing is sent: the email stays queued.
        call_command("send_test_email", "ops@example.org", "--wait", "0.6", stdout=StringIO())
