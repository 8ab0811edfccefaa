"""Background work: Celery configuration, enqueue-on-commit, the pending-work sweeper."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import timedelta

import pytest
from celery import shared_task
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from mynetspace.celery import app
from mynetspace.core import tasks as core_tasks
from mynetspace.core.tasks import enqueue, enqueue_on_commit, register_pending_work, sweep
from tests.conftest import port_open, require_service
from tests.fixtures.services import free_port

SHARED_REDIS = "redis://127.0.0.1:6379/2"


@shared_task(name="tests.core.record_call", ignore_result=True)
def record_call(value):
    CALLS.append(value)


CALLS: list = []


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


# --- Configuration ---------------------------------------------------------------------


def test_queues_routes_and_serialization_are_declared():
    assert {queue.name for queue in app.conf.task_queues} == {
        "default",
        "email",
        "scan",
        "export",
    }
    router = app.amqp.router
    assert router.route({}, "audit.tasks.email_send")["queue"].name == "email"
    assert router.route({}, "vault.tasks.document_scan")["queue"].name == "scan"
    assert router.route({}, "accounts.tasks.data_export_build")["queue"].name == "export"
    assert router.route({}, "mynetspace.core.tasks.sweep_pending_work")["queue"].name == "default"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == app.conf.result_serializer == "json"
    assert app.conf.task_acks_late is True
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_publishing_is_configured_to_fail_fast():
    assert app.conf.task_publish_retry is False
    options = app.conf.broker_transport_options
    assert options["max_retries"] == 0
    assert options["socket_connect_timeout"] <= 2
    assert options["socket_timeout"] <= 3


def test_every_scheduled_job_names_a_registered_task():
    app.loader.import_default_modules()
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert {"sweep-pending-work", "audit-checkpoint"} <= set(schedule)
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, f"{name}: {entry['task']} is not a task"


def test_checkpoint_interval_comes_from_settings():
    from mynetspace.schedule import beat_schedule

    assert beat_schedule(checkpoint_minutes=15)["audit-checkpoint"]["schedule"] == 900
    with pytest.raises(ValueError):
        beat_schedule(checkpoint_minutes=0)


@pytest.mark.django_db
def test_checkpoint_task_signs_a_checkpoint():
    from audit.models import Checkpoint
    from audit.tasks import checkpoint_create

    checkpoint_create.apply().get()

    assert Checkpoint.objects.count() == 1


# --- enqueue / enqueue_on_commit -------------------------------------------------------------


@pytest.mark.redis
def test_enqueue_publishes_to_the_broker(publish_to):
    import redis

    client = redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=1)
    try:
        client.ping()
        available = True
    except redis.RedisError:
        available = False
    require_service("Redis", available, f"start Redis on {SHARED_REDIS}")
    client.delete("default")
    publish_to(SHARED_REDIS)
    try:
        assert enqueue(record_call, 1) is True
        assert client.llen("default") == 1
        assert CALLS == []  # published, not run here
    finally:
        client.delete("default")


def test_enqueue_logs_a_stopped_broker_instead_of_raising(publish_to, caplog):
    port = free_port()
    assert not port_open("127.0.0.1", port)
    publish_to(f"redis://127.0.0.1:{port}/0")

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="mynetspace.core.tasks"):
        assert enqueue(record_call, 1) is False
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert "Broker unavailable" in caplog.text
    assert "tests.core.record_call" in caplog.text


def test_enqueue_gives_up_on_a_broker_that_never_answers(publish_to, caplog):
    """GIVEN a broker address that accepts connections and never replies (hung server)
    WHEN a task is enqueued
    THEN the call returns False within the socket timeout instead of hanging."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept_and_stay_silent():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    publish_to(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    try:
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="mynetspace.core.tasks"):
            assert enqueue(record_call, 1) is False
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()

    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"]
    assert elapsed < timeout + 1.5
    assert "Broker unavailable" in caplog.text


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_on_commit(record_call, "kept")
            assert CALLS == []
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit(record_call, "rolled back")
            raise RuntimeError

    assert CALLS == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_transaction_commits_even_when_the_broker_is_down(publish_to, caplog):
    """GIVEN a stopped broker
    WHEN a service saves a row and enqueues its task on commit
    THEN the row is committed, no exception escapes and the outage is logged."""
    from accounts.models import User

    publish_to(f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.ERROR, logger="mynetspace.core.tasks"), transaction.atomic():
        user = User.objects.create_user("broker-down@example.org")
        enqueue_on_commit(record_call, user.pk)

    assert User.objects.filter(pk=user.pk).exists()
    assert "Broker unavailable" in caplog.text


# --- The sweeper -------------------------------------------------------------------------------


class FailingAfter:
    """A task stand-in whose publishing fails after ``ok`` successes (broker dies)."""

    name = "tests.core.failing_after"

    def __init__(self, ok: int) -> None:
        self.ok = ok
        self.published: list = []

    def apply_async(self, args=(), kwargs=None):
        if len(self.published) >= self.ok:
            raise ConnectionError("broker went away")
        self.published.append(args[0])


@pytest.fixture
def registry(monkeypatch):
    """An empty pending-work registry for the test (the apps' kinds are put back after)."""
    monkeypatch.setattr(core_tasks, "_registry", {})
    return core_tasks._registry


def test_sweeper_enqueues_what_each_kind_finds_and_marks_it(registry, settings):
    settings.PENDING_WORK_GRACE_SECONDS = 120
    seen = {}
    marked = []

    def find(older_than, limit):
        seen["older_than"], seen["limit"] = older_than, limit
        return [1, 2, 3]

    register_pending_work("test.kind", find=find, task=record_call, on_enqueued=marked.extend)
    before = timezone.now()

    counts = sweep(limit=10)

    assert counts == {"test.kind": 3}
    assert CALLS == [1, 2, 3]  # eager: enqueued means run
    assert marked == [1, 2, 3]
    expected = before - timedelta(seconds=120)
    assert abs((seen["older_than"] - expected).total_seconds()) < 5
    assert seen["limit"] == 10


def test_sweeper_stops_at_the_first_publishing_failure(registry, caplog):
    broken = FailingAfter(ok=2)
    later_kind_calls = []
    register_pending_work("first", find=lambda older_than, limit: [1, 2, 3, 4], task=broken)
    register_pending_work(
        "second", find=lambda older_than, limit: later_kind_calls.append(1) or [9], task=broken
    )

    with caplog.at_level(logging.ERROR):
        counts = sweep()

    assert counts == {"first": 2}
    assert broken.published == [1, 2]
    assert later_kind_calls == []  # the broker is down: no point trying the others


def test_a_broken_kind_does_not_stop_the_others(registry, caplog):
    def explode(older_than, limit):
        raise RuntimeError("bug in one app")

    register_pending_work("broken", find=explode, task=record_call)
    register_pending_work("fine", find=lambda older_than, limit: [7], task=record_call)

    with caplog.at_level(logging.ERROR):
        counts = sweep()

    assert counts == {"fine": 1}
    assert CALLS == [7]
    assert "listing broken failed" in caplog.text


def test_sweeper_respects_the_limit_even_if_a_kind_returns_more(registry):
    register_pending_work("greedy", find=lambda older_than, limit: range(100), task=record_call)

    assert sweep(limit=5) == {"greedy": 5}
    assert CALLS == [0, 1, 2, 3, 4]


def test_audit_registers_outbound_emails_as_pending_work():
    from audit import emails
    from audit.tasks import email_send

    kinds = {kind.name: kind for kind in core_tasks.pending_work_kinds()}
    kind = kinds["audit.outbound_email"]
    assert kind.task is email_send
    assert kind.find is emails.pending_email_ids
