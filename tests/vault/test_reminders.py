"""Expiry reminders: 90, 30 and 7 days before, once each, whatever the runs."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from audit.models import Event, OutboundEmail
from tests.vault.factories import UserFactory, document_store
from vault import reminders
from vault.models import DocumentType, ExpiryReminder

pytestmark = pytest.mark.django_db

EXPIRES = date(2031, 3, 12)


def day(days_before: int) -> date:
    return EXPIRES - timedelta(days=days_before)


def sent_stages(document) -> list[int]:
    return list(
        ExpiryReminder.objects.filter(document=document)
        .order_by("sent_at", "pk")
        .values_list("days_before", flat=True)
    )


def reminder_emails(owner) -> list[OutboundEmail]:
    return list(
        OutboundEmail.objects.filter(customer=owner, template="vault_expiry").order_by("pk")
    )


@pytest.fixture
def passport():
    owner = UserFactory()
    return document_store(
        owner=owner, title="Passeport de Léa", doc_type=DocumentType.PASSPORT, expires_on=EXPIRES
    )


@pytest.mark.parametrize(
    ("days_left", "stage"),
    [(120, None), (91, None), (90, 90), (31, 90), (30, 30), (8, 30), (7, 7), (0, 7), (-1, None)],
)
def test_the_stage_due_depends_on_the_days_left(days_left, stage):
    assert reminders.reminder_stage(days_left) == stage


def test_a_daily_run_sends_90_30_and_7_once_each(passport):
    for days_before in range(120, -5, -1):
        reminders.expiry_reminders_send(today=day(days_before))

    assert sent_stages(passport) == [90, 30, 7]
    assert len(reminder_emails(passport.owner)) == 3


def test_running_twice_the_same_day_sends_nothing_more(passport):
    first = reminders.expiry_reminders_send(today=day(90))
    second = reminders.expiry_reminders_send(today=day(90))

    assert (first.sent, second.sent) == (1, 0)
    assert sent_stages(passport) == [90]


def test_a_document_first_seen_20_days_before_gets_the_30_day_reminder_only(passport):
    """GIVEN a document added 20 days before its expiry WHEN the job runs every day
    THEN the 30-day reminder goes at once, then the 7-day one; never the 90-day one."""
    for days_before in range(20, 0, -1):
        reminders.expiry_reminders_send(today=day(days_before))

    assert sent_stages(passport) == [30, 7]


def test_a_late_run_sends_only_the_latest_stage(passport):
    """GIVEN the job did not run for months WHEN it runs 5 days before THEN one reminder."""
    reminders.expiry_reminders_send(today=day(5))
    reminders.expiry_reminders_send(today=day(4))

    assert sent_stages(passport) == [7]


def test_a_new_expiry_date_starts_a_new_series(passport):
    reminders.expiry_reminders_send(today=day(7))
    passport.expires_on = EXPIRES + timedelta(days=3650)
    passport.save(update_fields=["expires_on"])

    reminders.expiry_reminders_send(today=passport.expires_on - timedelta(days=90))

    assert sorted(sent_stages(passport)) == [7, 90]


def test_trashed_expired_and_dateless_documents_get_nothing():
    from django.utils import timezone

    owner = UserFactory()
    document_store(owner=owner, expires_on=EXPIRES, trashed_at=timezone.now())
    document_store(owner=owner, expires_on=day(100))
    document_store(owner=owner)

    run = reminders.expiry_reminders_send(today=EXPIRES)

    assert run.sent == 0
    assert not ExpiryReminder.objects.exists()


def test_the_email_links_the_document_the_free_procedure_and_our_request_page(passport, settings):
    settings.SITE_URL = "https://mynetspace.example"

    reminders.expiry_reminders_send(today=day(30))

    [email] = reminder_emails(passport.owner)
    assert email.to == [passport.owner.email]
    assert "Passeport de Léa" in email.subject and "2031" in email.subject
    raw = bytes(email.raw).decode("utf-8", "replace")
    from email import message_from_bytes, policy

    body = message_from_bytes(bytes(email.raw), policy=policy.default).get_body(("plain",))
    text = body.get_content()
    assert f"https://mynetspace.example/coffre/{passport.uuid}/" in text
    assert "https://www.service-public.fr/particuliers/vosdroits/N360" in text
    assert "https://mynetspace.example/demarches/?renouveler=passport" in text
    assert "30 jours" in text
    assert raw  # the stored message is the evidence of what was sent
    [event] = Event.objects.filter(action="vault.expiry_reminder_sent")
    assert event.data["days_before"] == 30 and event.data["email"] == email.pk


def test_a_concurrent_second_send_of_the_same_stage_is_refused(passport):
    today = day(30)

    first = reminders.expiry_reminder_send(document=passport, stage=30, today=today)
    again = reminders.expiry_reminder_send(document=passport, stage=30, today=today)

    assert first is not None and again is None
    assert len(reminder_emails(passport.owner)) == 1


def test_the_operator_command_sends_what_is_due(passport):
    out = io.StringIO()

    call_command("vault_send_reminders", "--date", day(7).isoformat(), stdout=out)
    call_command("vault_send_reminders", "--date", day(7).isoformat(), stdout=out)

    assert out.getvalue().splitlines()[0].startswith("1 reminder(s) sent")
    assert out.getvalue().splitlines()[1].startswith("0 reminder(s) sent")


def test_the_daily_job_is_scheduled_and_registered():
    from django.conf import settings

    from mynetspace.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["vault-expiry-reminders"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 24 * 3600
