"""The refund task: exactly one refund at the provider, however often it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from mynetspace.core.errors import DomainError
from mynetspace.core.tasks import pending_work_kinds
from subscriptions import services, tasks
from subscriptions.models import CreditNote, Refund

from .exit_helpers import email_text, emails, use_recording_provider
from .factories import activated

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording_provider(monkeypatch):
    return use_recording_provider(monkeypatch)


def approved_refund() -> Refund:
    subscription = activated(express_start=False)
    declaration = services.withdrawal_declare(
        subscription=subscription, acting_user=subscription.customer
    )
    return declaration.refund


def test_the_task_sends_the_refund_with_its_idempotency_key_and_issues_the_credit_note(
    recording_provider,
):
    refund = approved_refund()

    tasks.refund_send.apply(args=[refund.pk]).get()

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert recording_provider.calls == [f"refund:{refund.pk}"]
    assert refund.provider_refund_id == f"re_refund_{refund.pk}"
    note = CreditNote.objects.get(refund=refund)
    assert note.total_ttc_cents == refund.amount_cents
    assert [e.to for e in emails("refund_succeeded")] == [[refund.customer.email]]
    assert note.number in email_text(emails("refund_succeeded")[0])


def test_running_the_task_three_times_refunds_once(recording_provider):
    refund = approved_refund()

    for _ in range(3):
        tasks.refund_send.apply(args=[refund.pk]).get()

    assert recording_provider.calls == [f"refund:{refund.pk}"]
    assert len(recording_provider.refunds) == 1
    assert CreditNote.objects.filter(refund=refund).count() == 1
    assert Event.objects.filter(action="refund.succeeded").count() == 1


def test_a_crash_after_the_provider_call_is_retried_with_the_same_key(
    recording_provider, monkeypatch
):
    """GIVEN the provider made the refund but our process died before recording it
    WHEN the sweeper runs the task again
    THEN the provider is asked again with the same key and makes no second refund."""
    refund = approved_refund()
    real = services.refund_mark_succeeded

    def crash(**kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(services, "refund_mark_succeeded", crash)
    with pytest.raises(RuntimeError):
        services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SENT and refund.provider_refund_id == ""
    later = timezone.now() + timedelta(minutes=10)
    assert refund.pk in services.refunds_pending(later, 100)

    monkeypatch.setattr(services, "refund_mark_succeeded", real)
    services.refund_send(refund_id=refund.pk)
    services.refund_send(refund_id=refund.pk)

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert recording_provider.calls == [f"refund:{refund.pk}"] * 2
    assert len(recording_provider.refunds) == 1
    assert refund.pk not in services.refunds_pending(later, 100)


def test_a_refused_refund_fails_alerts_staff_and_can_be_retried(
    recording_provider, django_user_model, settings
):
    staff = django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )
    recording_provider.answer = "failed"
    refund = approved_refund()

    services.refund_send(refund_id=refund.pk)

    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert refund.failure_reason == "card_closed"
    assert [e.to for e in emails("refund_failed_staff")] == [[settings.SUPPORT_EMAIL]]
    assert not CreditNote.objects.exists()

    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_failed_attempt")
    services.refund_retry(refund=refund, acting_user=staff)
    recording_provider.answer = "succeeded"
    refund.refresh_from_db()
    # The failed attempt's provider id is forgotten, so the task asks the provider again.
    assert refund.provider_refund_id == ""
    services.refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert set(recording_provider.calls) == {f"refund:{refund.pk}"}


def test_only_a_failed_refund_can_be_retried(django_user_model):
    staff = django_user_model.objects.create_user(
        email="agent@example.test", password="x", is_staff=True
    )
    refund = approved_refund()
    with pytest.raises(DomainError) as error:
        services.refund_retry(refund=refund, acting_user=staff)
    assert error.value.code == "refund_not_failed"


def test_webhook_confirmations_are_idempotent_and_order_safe():
    refund = approved_refund()

    # The provider's notification overtook our own record of sending it.
    services.refund_mark_succeeded(refund=refund, provider_refund_id="re_1")
    services.refund_mark_succeeded(refund=refund, provider_refund_id="re_1")

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert [e.action for e in Event.objects.filter(action__startswith="refund.")].count(
        "refund.succeeded"
    ) == 1
    assert CreditNote.objects.filter(refund=refund).count() == 1


def test_a_failure_reported_after_success_keeps_the_refund_and_alerts_staff():
    refund = approved_refund()
    services.refund_mark_succeeded(refund=refund, provider_refund_id="re_1")

    services.refund_mark_failed(refund=refund, reason="bank_returned")

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert Event.objects.filter(action="refund.failed_after_success").count() == 1
    assert len(emails("refund_failed_staff")) == 1


def test_the_sweeper_knows_about_pending_refunds():
    kinds = {kind.name: kind for kind in pending_work_kinds()}
    assert kinds["subscriptions.refund_send"].task is tasks.refund_send


def test_staff_are_alerted_once_about_withdrawal_refunds_not_done_after_seven_days(settings):
    refund = approved_refund()
    Refund.objects.filter(pk=refund.pk).update(requested_at=timezone.now() - timedelta(days=6))
    assert services.refunds_overdue_alert() == 0

    Refund.objects.filter(pk=refund.pk).update(requested_at=timezone.now() - timedelta(days=8))
    assert services.refunds_overdue_alert() == 1
    assert services.refunds_overdue_alert() == 0  # once

    [email] = emails("refund_overdue_staff")
    assert email.to == [settings.SUPPORT_EMAIL]
    assert "L221-24" in email_text(email)


def test_a_succeeded_refund_raises_no_alert(recording_provider):
    refund = approved_refund()
    services.refund_send(refund_id=refund.pk)
    Refund.objects.filter(pk=refund.pk).update(requested_at=timezone.now() - timedelta(days=9))

    assert services.refunds_overdue_alert() == 0
