"""Emails through a real broker (our own redis-server) and real Celery workers.

These tests are transactional: the worker processes connect to the test database
and only see committed rows. Each test starts and stops its own Redis, SMTP server
and workers.
"""

from __future__ import annotations

import hashlib
import logging
import time

import pytest
from django.db import transaction

from audit.emails import email_queue, email_requeue
from audit.models import Event, OutboundEmail
from audit.tasks import email_send
from mynetspace.core.tasks import enqueue, sweep_pending_work
from tests.fixtures.services import wait_until

pytestmark = [
    pytest.mark.usefixtures("postgres"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.smtp,
    pytest.mark.redis,
]


def queue_test_email(**overrides) -> OutboundEmail:
    arguments = {
        "template": "test_message",
        "to": ["claire@example.org"],
        "context": {"sent_on": "1 mars 2026", "requested_by": "test d'intégration"},
    }
    arguments.update(overrides)
    with transaction.atomic():
        return email_queue(**arguments)


def status_of(email: OutboundEmail) -> str:
    email.refresh_from_db()
    return email.status


def smtp_url(smtp_server) -> str:
    return f"smtp://{smtp_server.host}:{smtp_server.port}"


def test_email_queued_while_broker_is_down_is_sent_once_when_it_is_back(
    redis_server, smtp_server, celery_worker, publish_to, caplog
):
    """GIVEN a stopped broker
    WHEN a service queues an email
    THEN the call succeeds at once, the email stays queued, and once the broker is
    back the sweeper and a real worker send it, exactly once, as stored."""
    publish_to(redis_server.url)
    redis_server.stop()

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="mynetspace.core.tasks"):
        email = queue_test_email()
    elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert "Broker unavailable" in caplog.text
    assert status_of(email) == OutboundEmail.Status.QUEUED
    assert email.attempts == 0

    redis_server.start()
    celery_worker(redis_server.url, EMAIL_URL=smtp_url(smtp_server), PENDING_WORK_GRACE_SECONDS=0)
    # The sweeper runs on the worker, as beat would run it; twice, to show that a
    # second sweep does not send the email again.
    assert enqueue(sweep_pending_work)
    wait_until(lambda: status_of(email) == "sent", timeout=20, what="email sent")
    assert enqueue(sweep_pending_work)
    time.sleep(1.0)

    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0].data
    assert received == bytes(email.raw)
    assert hashlib.sha256(received).hexdigest() == email.sha256
    assert Event.objects.filter(action="email.sent", target_id=str(email.pk)).count() == 1
    email.refresh_from_db()
    assert email.attempts == 1


def test_two_workers_given_the_same_email_send_it_once(
    redis_server, smtp_server, celery_worker, publish_to
):
    """GIVEN two workers and several messages for the same queued email (a sweep
    re-enqueued it while the first message was still queued)
    WHEN both workers process them at the same time
    THEN the row lock lets exactly one of them send it."""
    publish_to(redis_server.url)
    smtp_server.handler.delay = 0.8  # keeps the first sender inside its lock
    env = {"EMAIL_URL": smtp_url(smtp_server)}
    workers = [celery_worker(redis_server.url, name=name, wait=False, **env) for name in "ab"]
    for worker in workers:
        worker.wait_ready()

    email = queue_test_email()  # one message on commit
    for _ in range(3):
        assert enqueue(email_send, email.pk)

    wait_until(lambda: status_of(email) == "sent", timeout=20, what="email sent")

    def all_four_ran():
        return "".join(worker.log() for worker in workers).count("succeeded") >= 4

    wait_until(all_four_ran, timeout=20, what="the four messages to be processed")

    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].data == bytes(email.raw)
    assert Event.objects.filter(action="email.sent", target_id=str(email.pk)).count() == 1
    email.refresh_from_db()
    assert email.attempts == 1
    assert "'skipped'" in "".join(worker.log() for worker in workers)


def test_worker_retries_a_refusing_server_then_marks_failed_and_staff_requeue_sends(
    redis_server, smtp_server, celery_worker, publish_to, django_user_model
):
    """GIVEN an SMTP server answering 451 to everything
    WHEN a worker sends an email (3 attempts allowed, 1 s backoff)
    THEN it retries, never marks it sent, ends failed; after staff requeue it is sent."""
    publish_to(redis_server.url)
    smtp_server.refuse_with("451 4.3.0 Try again later")
    celery_worker(
        redis_server.url,
        EMAIL_URL=smtp_url(smtp_server),
        EMAIL_MAX_ATTEMPTS=3,
        EMAIL_RETRY_BACKOFF_SECONDS=1,
    )

    email = queue_test_email()
    wait_until(lambda: email.refresh_from_db() or email.attempts >= 1, timeout=20, what="try 1")
    assert email.status == "queued" and email.sent_at is None
    wait_until(lambda: status_of(email) == "failed", timeout=20, what="email failed")

    assert email.attempts == 3
    assert smtp_server.handler.refused == 3
    assert smtp_server.messages == []
    assert not Event.objects.filter(action="email.sent").exists()
    assert Event.objects.filter(action="email.failed", target_id=str(email.pk)).count() == 1

    smtp_server.refuse_with(None)
    staff = django_user_model.objects.create_user("agent@example.org", is_staff=True)
    email_requeue(email=email, acting_user=staff)
    wait_until(lambda: status_of(email) == "sent", timeout=20, what="email sent")

    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].data == bytes(email.raw)
