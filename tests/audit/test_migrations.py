"""Migrations 0003 and 0006 on a log that already holds events (PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.hashing import chain_hash, event_body
from audit.models import Chain, Event
from audit.services import record
from audit.verify import verify_all

from .factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_existing_events_keep_verifying_after_data_becomes_canonical_text(postgres):
    """GIVEN events stored as jsonb by migration 0002's schema (jsonb reorders keys)
    WHEN the later migrations run THEN their data is the canonical text, the generated
    body exists, every hash still verifies, with and without --full, the head knows the
    hash before it, and the next event chains on."""
    user = UserFactory()
    call_command("migrate", "audit", "0002", verbosity=0)
    try:
        prev = "0" * 64
        with connection.cursor() as cursor:
            for seq in range(1, 4):
                now = timezone.now()
                data = {"zeta": seq, "a": 'é"\\', "list": [1, None, True, {"b": 1, "a": 2}]}
                body = event_body(
                    chain_key=f"user:{user.pk}", seq=seq, occurred_at=now, actor_type="user",
                    actor_id=user.pk, on_behalf_of_id=None, action="test.old", target_type="",
                    target_id="", data=data, ip="", user_agent="UA\t1", request_id="",
                )  # fmt: skip
                digest = chain_hash(prev, body)
                cursor.execute(
                    "INSERT INTO audit_event (chain_key, seq, occurred_at, actor_type, actor_id,"
                    " on_behalf_of_id, action, target_type, target_id, data, ip, user_agent,"
                    " request_id, prev_hash, hash) VALUES (%s, %s, %s, 'user', %s, NULL,"
                    " 'test.old', '', '', %s::jsonb, '', 'UA\t1', '', %s, %s)",
                    [f"user:{user.pk}", seq, now, user.pk, json.dumps(data), prev, digest],
                )
                prev = digest
            cursor.execute(
                "INSERT INTO audit_chain (key, length, head_hash, updated_at)"
                " VALUES (%s, 3, %s, now())",
                [f"user:{user.pk}", prev],
            )
    finally:
        call_command("migrate", "audit", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT data, body IS NOT NULL FROM audit_event ORDER BY seq")
        rows = cursor.fetchall()
    assert rows[0] == ('{"a":"é\\"\\\\","list":[1,null,true,{"a":2,"b":1}],"zeta":1}', True)
    for full in (False, True):
        report = verify_all(full=full)
        assert report.ok, [str(p) for p in report.problems]
        assert report.events == 3
    third = Event.objects.get(chain_key=f"user:{user.pk}", seq=3)
    assert Chain.objects.get(key=f"user:{user.pk}").previous_head_hash == third.prev_hash
    fourth = record(action="test.new", subject=user)
    assert (fourth.seq, fourth.prev_hash) == (4, third.hash)
    assert verify_all().ok
