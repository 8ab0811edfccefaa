"""``manage.py audit_verify``: exit codes and what the report says."""

from __future__ import annotations

import json

import pytest

from audit import services, verify
from audit.models import Event

from .factories import UserFactory, small_log
from .helpers import run_verify, tampering

pytestmark = pytest.mark.django_db


def test_empty_log_is_clean():
    code, output = run_verify()
    assert code == 0
    assert output.strip() == (
        "audit_verify OK: 0 chains, 0 events, 0 outbound and 0 inbound emails, "
        "0 content versions, 0 checkpoints"
    )


def test_clean_log_across_small_fetch_chunks(monkeypatch):
    """GIVEN chunks smaller than a chain THEN chain boundaries across chunks still verify."""
    monkeypatch.setattr(verify, "EVENT_CHUNK", 3)
    small_log(customers=3, events_per_customer=5)
    services.checkpoint_create()
    code, output = run_verify()
    assert code == 0, output
    assert "4 chains, 18 events, 1 outbound and 1 inbound emails, 1 content versions" in output


def test_changed_field_is_reported_with_expected_and_found_hash():
    user = UserFactory()
    for i in range(3):
        services.record(action="x.y", subject=user, data={"i": i})
    second = Event.objects.get(chain_key=f"user:{user.pk}", seq=2)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_event SET ip = '192.0.2.1' WHERE id = %s", [second.pk])
    code, output = run_verify()
    assert code == 1
    lines = output.strip().splitlines()
    assert lines[0] == (
        f"[event] chain user:{user.pk} seq 2: stored content does not match its hash "
        f"(hash: expected {lines[0].split('expected ')[1][:64]}, found {second.hash})"
    )
    assert lines[-1].startswith("audit_verify 1 PROBLEM(S)")


def test_deleted_event_is_reported_as_a_gap():
    user = UserFactory()
    for _ in range(4):
        services.record(action="x.y", subject=user)
    with tampering() as cursor:
        cursor.execute(
            "DELETE FROM audit_event WHERE chain_key = %s AND seq = 2", [f"user:{user.pk}"]
        )
    code, output = run_verify()
    assert code == 1
    assert f"[event] chain user:{user.pk} seq 2: events 2 to 2 are missing" in output


def test_deleted_tail_is_caught_by_the_head_row():
    user = UserFactory()
    for _ in range(3):
        services.record(action="x.y", subject=user)
    with tampering() as cursor:
        cursor.execute(
            "DELETE FROM audit_event WHERE chain_key = %s AND seq = 3", [f"user:{user.pk}"]
        )
    code, output = run_verify()
    assert code == 1
    assert (
        f"[chain] chain user:{user.pk} seq 3: events 3 to 3 named by the head row are missing "
        "(length: expected 3, found 2)"
    ) in output


def test_changed_prev_hash_is_reported_as_a_broken_link():
    services.record(action="x.y")
    services.record(action="x.y")
    with tampering() as cursor:
        cursor.execute(
            "UPDATE audit_event SET prev_hash = %s WHERE chain_key = 'system' AND seq = 2",
            ["ab" * 32],
        )
    code, output = run_verify()
    assert code == 1
    assert "[event] chain system seq 2: not linked to the previous event (prev_hash:" in output


def test_email_and_content_problems_name_the_row():
    small_log(customers=1, events_per_customer=1)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_outboundemail SET sha256 = %s", ["0" * 64])
        cursor.execute("UPDATE audit_contentversion SET body = 'Article 1 modifié.'")
    code, output = run_verify()
    assert code == 1
    assert "[outbound email] outbound email " in output
    assert "raw message does not match its hash (sha256: expected " in output
    assert "[content] content version " in output
    assert "(legal:cgv v1 fr): text does not match its hash" in output


def test_a_later_checkpoint_with_a_shorter_chain_is_reported():
    """GIVEN two checkpoints WHEN the second is rewritten to show a chain shorter than in
    the first (and re-signed with the real key) THEN the sequence check reports it."""
    from audit import merkle, signing
    from audit.hashing import format_timestamp
    from audit.models import Checkpoint

    user = UserFactory()
    services.record(action="x.y", subject=user)
    services.record(action="x.y", subject=user)
    services.checkpoint_create()
    second = services.checkpoint_create()
    heads = [[k, (1 if k == f"user:{user.pk}" else n), h] for k, n, h in second.heads]
    heads = [
        [k, n, Event.objects.get(chain_key=k, seq=n).hash if k.startswith("user:") else h]
        for k, n, h in heads
    ]
    root = merkle.root_from_leaf_hashes(merkle.head_leaf_hashes(heads)).hex()
    message = signing.checkpoint_message(
        created_at=format_timestamp(second.created_at),
        tree_size=len(heads),
        root_hash=root,
        key_id=second.key_id,
    )
    signature = signing.sign(signing.current_signing_key(), message)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE audit_checkpoint SET heads = %s, root_hash = %s, signature = %s WHERE id = %s",
            [json.dumps(heads), root, signature, second.pk],
        )
    assert Checkpoint.objects.get(pk=second.pk).heads == heads
    code, output = run_verify()
    assert code == 1
    assert f"chain user:{user.pk}: chain is shorter than in the previous checkpoint" in output
