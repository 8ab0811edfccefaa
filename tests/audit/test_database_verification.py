"""Verification inside PostgreSQL: the generated canonical body and its safeguards.

``audit_event.body`` is rebuilt by PostgreSQL from the row's columns; ``audit_verify``
hashes it in the database and checks in Python only the chains where something is off.
These tests hold the two encodings together and show that the shortcut can neither hide
a change nor report one that is not there.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import services, verify
from audit.hashing import body_of, canonical_json, chain_hash
from audit.models import Event

from .factories import UserFactory, small_log
from .helpers import run_verify, tampering

pytestmark = [pytest.mark.postgres]

# Text as record() accepts it (valid Unicode without NUL), quotes, backslashes and
# the control characters that canonical JSON escapes included.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
) | st.sampled_from(['"', "\\", "\n\r\t\b\f", 'a"b\\c', "\u2028é€𝄞", "\x7f"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def stored_body(event: Event) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM audit_event WHERE id = %s", [event.pk])
        return bytes(cursor.fetchone()[0])


def python_body(event: Event) -> bytes:
    return canonical_json(body_of(event))


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.dictionaries(texts, json_values, max_size=4),
    target_id=texts,
    user_agent=texts,
    request_id=texts,
)
def test_database_body_is_the_canonical_body(postgres, data, target_id, user_agent, request_id):
    """GIVEN any event the application may record THEN the append stored the reference
    hash of its canonical JSON, and (control characters outside the five short escapes
    aside) PostgreSQL's generated body is byte for byte that canonical JSON."""
    from audit.context import RequestMeta

    short_escapes = {chr(c) for c in range(32)} - set("\n\r\t\b\f")
    everything = repr(data) + target_id + user_agent + request_id
    with transaction.atomic():
        event = services.record(
            action="test.property",
            target_type="test.thing",
            target_id=target_id[:100],
            data=data,
            meta=RequestMeta(ip="2001:db8::1", user_agent=user_agent, request_id=request_id),
        )
        event = Event.objects.get(pk=event.pk)
        assert event.hash == chain_hash(event.prev_hash, body_of(event))
        body = stored_body(event)
        if short_escapes.isdisjoint(everything):
            assert body == python_body(event)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_rare_control_characters_are_checked_in_python_and_verify(postgres):
    """GIVEN an event whose user agent holds a control character that the database's
    encoding does not escape like canonical JSON THEN its chain is checked in Python
    and the log still verifies (no false alarm)."""
    from audit.context import RequestMeta

    user = UserFactory()
    services.record(action="test.a", subject=user, meta=RequestMeta(user_agent="odd\x01agent"))
    services.record(action="test.b", subject=user, data={"k": "v\x1f"})
    code, output = run_verify()
    assert code == 0, output
    assert "2 events" in output


@pytest.mark.django_db
def test_a_column_changed_behind_the_application_changes_the_body(postgres):
    """GIVEN a column rewritten with the triggers bypassed THEN PostgreSQL recomputes the
    body (it cannot be written directly) and verification names the event."""
    users, _staff = small_log(customers=1, events_per_customer=2)
    event = Event.objects.filter(chain_key=f"user:{users[0].pk}").order_by("seq").last()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET user_agent = 'forged' WHERE id = %s", [event.pk])
        with pytest.raises(Exception, match="generated column"), transaction.atomic():
            cursor.execute("UPDATE audit_event SET body = 'x' WHERE id = %s", [event.pk])
    code, output = run_verify()
    assert code == 1
    assert f"chain user:{users[0].pk} seq {event.seq}" in output


@pytest.mark.django_db
def test_a_body_no_longer_generated_is_reported_and_everything_checked_in_python(postgres):
    """GIVEN an attacker who drops the generation expression, edits a column and writes
    the old body back THEN audit_verify reports the changed schema, and its complete
    check in Python still finds the edited event."""
    users, _staff = small_log(customers=1, events_per_customer=2)
    event = Event.objects.filter(chain_key=f"user:{users[0].pk}").order_by("seq").first()
    original = stored_body(event)
    with tampering() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks before ALTER
        cursor.execute("ALTER TABLE audit_event ALTER COLUMN body DROP EXPRESSION")
        cursor.execute("UPDATE audit_event SET action = 'forged.action' WHERE id = %s", [event.pk])
        cursor.execute("UPDATE audit_event SET body = %s WHERE id = %s", [original, event.pk])
    code, output = run_verify()
    assert code == 1
    assert "[schema] table audit_event, column body" in output
    assert f"chain user:{users[0].pk} seq {event.seq}" in output


def test_key_ranges_cover_every_key_once_with_balanced_events():
    """GIVEN chains of very different lengths THEN the ranges cover every possible key
    exactly once, and split the events rather than the chains evenly."""
    lengths = {f"user:{i}": 10 for i in range(1, 40)} | {"system": 390}
    ranges = verify._key_ranges(lengths, 2)
    # "system" sorts first: its 390 events on one side, the 39 customers' on the other.
    assert ranges == [(None, "user:1"), ("user:1", None)]
    ranges = verify._key_ranges(lengths, 4)
    assert len(ranges) == 4
    assert ranges[0][0] is None and ranges[-1][1] is None
    for key in [*lengths, "", "user:0", "zzz"]:
        inside = [
            (low, high)
            for low, high in ranges
            if (low is None or key >= low) and (high is None or key < high)
        ]
        assert len(inside) == 1, key
    assert verify._key_ranges(dict(list(lengths.items())[:3]), 4) == [(None, None)]
    assert verify._key_ranges({"user:1": 0, "user:2": 0}, 2) == [(None, None)]


@pytest.mark.django_db(transaction=True)
def test_several_sessions_on_one_snapshot(postgres, settings, monkeypatch):
    """GIVEN the command run outside a transaction THEN several database sessions check
    key ranges of one snapshot: a clean log verifies, a changed event is named."""
    settings.AUDIT_VERIFY_SESSIONS = 3
    monkeypatch.setattr(verify, "EVENTS_PER_SESSION", 1)
    sessions = []
    real = verify._summaries_in_sessions
    monkeypatch.setattr(
        verify, "_summaries_in_sessions", lambda r, s: sessions.append(len(r)) or real(r, s)
    )
    users = UserFactory.create_batch(8)
    for round_ in range(3):
        for user in users:
            services.record(action="test.step", subject=user, data={"round": round_})
    report = verify.verify_all()
    assert report.ok, [str(p) for p in report.problems]
    assert (report.chains, report.events) == (8, 24)
    assert sessions == [3]
    victim = Event.objects.get(chain_key=f"user:{users[5].pk}", seq=2)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET data = '{\"round\":7}' WHERE id = %s", [victim.pk])
    report = verify.verify_all()
    assert [p.where for p in report.problems] == [f"chain user:{users[5].pk} seq 2"]
    assert report.events == 24


@pytest.mark.django_db
def test_full_mode_recomputes_every_body_in_python(postgres, monkeypatch):
    """GIVEN ``--full`` THEN the database's derivation is not used at all, and a changed
    event is still named."""
    users, _staff = small_log(customers=2, events_per_customer=2)
    monkeypatch.setattr(verify, "_summaries", lambda *args: pytest.fail("database check used"))
    out = io.StringIO()
    call_command("audit_verify", "--full", stdout=out)
    assert out.getvalue().startswith("audit_verify OK")
    event = Event.objects.filter(chain_key=f"user:{users[1].pk}").order_by("seq").first()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET ip = '198.51.100.9' WHERE id = %s", [event.pk])
    with pytest.raises(SystemExit):
        call_command("audit_verify", "--full", stdout=out, stderr=out)
    assert f"chain user:{users[1].pk} seq 1" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("position", ["first", "last"])
def test_a_hash_respelled_in_capitals_is_reported(postgres, position):
    """GIVEN a stored hash rewritten with the same digest in capital hex digits THEN the
    text comparison with the next event (or the head row) reports it."""
    users, _staff = small_log(customers=1, events_per_customer=3)
    events = Event.objects.filter(chain_key=f"user:{users[0].pk}").order_by("seq")
    event = events.first() if position == "first" else events.last()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET hash = upper(hash) WHERE id = %s", [event.pk])
    code, output = run_verify()
    assert code == 1
    assert f"chain user:{users[0].pk} seq {event.seq}" in output


@pytest.mark.django_db
def test_weekly_full_verification_logs_what_is_broken(postgres, caplog):
    """GIVEN the scheduled full verification THEN a clean log is logged as OK and a
    changed event is logged as an error naming it."""
    from audit.tasks import verify_full
    from mynetspace.schedule import beat_schedule

    assert beat_schedule()["audit-verify-full"]["task"] == "audit.tasks.verify_full"
    users, _staff = small_log(customers=1, events_per_customer=2)
    assert verify_full() == 0
    event = Event.objects.filter(chain_key=f"user:{users[0].pk}").order_by("seq").first()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET target_id = 'x' WHERE id = %s", [event.pk])
    caplog.clear()
    assert verify_full() == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(f"chain user:{users[0].pk} seq 1" in message for message in errors)


@pytest.mark.django_db
def test_a_replaced_body_function_is_reported_and_everything_checked_in_python(postgres):
    """GIVEN the body function replaced by one that ignores a column (so that an edit of
    that column would keep the old body) THEN audit_verify reports the function, and its
    complete check in Python finds the edited event."""
    from audit import pgbody

    users, _staff = small_log(customers=1, events_per_customer=2)
    event = Event.objects.filter(chain_key=f"user:{users[0].pk}").order_by("seq").first()
    forged = pgbody.CREATE_FUNCTION.replace(
        "replace(replace(replace(replace(replace(replace(replace(target_id,",
        "replace(replace(replace(replace(replace(replace(replace('',",
        1,
    )
    assert forged != pgbody.CREATE_FUNCTION
    with tampering() as cursor:
        cursor.execute(forged)
        cursor.execute("UPDATE audit_event SET target_id = 'x' WHERE id = %s", [event.pk])
    code, output = run_verify()
    assert code == 1
    assert f"[schema] function {pgbody.FUNCTION_SIGNATURE}" in output
    assert f"chain user:{users[0].pk} seq {event.seq}" in output
