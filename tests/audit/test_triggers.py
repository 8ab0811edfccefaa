"""PostgreSQL itself refuses to change or remove evidence (audit migration 0002)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit import services

from .factories import outbound_email, small_log

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

FROZEN = ["audit_event", "audit_checkpoint", "audit_inboundemail", "audit_contentversion"]


@pytest.fixture
def log(postgres):
    small_log()
    services.checkpoint_create()


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as c:
        c.execute(sql)
    return str(excinfo.value)


def test_triggers_fire_in_an_ordinary_session(log):
    """GIVEN the test runner's flush bypass (tests/conftest.py)
    THEN ordinary sessions still run with the triggers active."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"


@pytest.mark.parametrize("table", FROZEN)
def test_update_is_refused(log, table):
    assert "append-only" in _refused(f"UPDATE {table} SET id = id")


@pytest.mark.parametrize("table", [*FROZEN, "audit_outboundemail", "audit_chain"])
def test_delete_is_refused(log, table):
    assert "append-only" in _refused(f"DELETE FROM {table}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", [*FROZEN, "audit_outboundemail", "audit_chain"])
def test_truncate_is_refused(log, table):
    """Committed rows (a test transaction would hold pending FK checks); the runner's flush
    after this test also shows that emptying the test database still works."""
    assert "append-only" in _refused(f"TRUNCATE {table} CASCADE")


def test_rows_survive_the_refused_statements(log):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event")
        before = cursor.fetchone()[0]
    _refused("DELETE FROM audit_event")
    _refused("TRUNCATE audit_event")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event")
        assert cursor.fetchone()[0] == before > 0


def test_outbound_email_delivery_columns_may_change_but_not_the_message(postgres):
    email = outbound_email()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_outboundemail SET status = 'sent', attempts = 1, last_error = '',"
            " sent_at = now(), updated_at = now() WHERE id = %s",
            [email.pk],
        )
    for column, value in [("raw", "'\\x00'::bytea"), ("subject", "'x'"), ("sha256", "'0'")]:
        message = _refused(f"UPDATE audit_outboundemail SET {column} = {value}")
        assert "may only change" in message
    email.refresh_from_db()
    assert email.status == "sent"


def test_chain_heads_move_forward_but_cannot_be_deleted(postgres):
    services.record(action="x.y")
    services.record(action="x.y")  # the head row is updated by every append
    assert "append-only" in _refused("DELETE FROM audit_chain")
