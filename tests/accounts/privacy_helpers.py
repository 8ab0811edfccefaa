"""Helpers shared by the journal, export, closure and retention tests."""

from __future__ import annotations

import functools
import time

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from audit.hashing import chain_hash, event_body
from audit.models import Chain, Event
from audit.services import chain_key_for

PASSWORD = "correct horse battery staple 42"

LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


@functools.cache
def _password_hash() -> str:
    # Hashing is slow on purpose; one hash of the same password serves every test user.
    return make_password(PASSWORD)


def make_user(email: str, **extra) -> User:
    """A user whose password is :data:`PASSWORD`."""
    user = User.objects.create_user(email, None, **extra)
    user.password = _password_hash()
    user.save(update_fields=["password"])
    return user


def login_recently_reauthenticated(client, user) -> None:
    """Log ``client`` in as ``user`` as if the password had just been typed again.

    The same session records allauth's reauthentication flow writes
    (``allauth.account.internal.flows.login.record_authentication``).
    """
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


def fill_chain(user, count: int, *, action: str = "auth.login", data=None) -> None:
    """Append ``count`` correctly chained events to ``user``'s chain in one bulk insert."""
    key = chain_key_for(user)
    with transaction.atomic():
        head, _ = Chain.objects.select_for_update().get_or_create(key=key)
        prev, seq = head.head_hash, head.length
        now = timezone.now()
        events = []
        for _i in range(count):
            seq += 1
            body = event_body(
                chain_key=key, seq=seq, occurred_at=now, actor_type="user", actor_id=user.pk,
                on_behalf_of_id=None, action=action, target_type="", target_id="",
                data=data or {}, ip="203.0.113.5", user_agent=LINUX_FIREFOX, request_id="",
            )  # fmt: skip
            digest = chain_hash(prev, body)
            events.append(
                Event(
                    chain_key=key,
                    seq=seq,
                    occurred_at=now,
                    actor_type="user",
                    actor_id=user.pk,
                    action=action,
                    data=data or {},
                    ip="203.0.113.5",
                    user_agent=LINUX_FIREFOX,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest
        Event.objects.bulk_create(events, batch_size=1000)
        Chain.objects.filter(pk=head.pk).update(length=seq, head_hash=prev)


def tamper_event(event_id: int, *, data: dict) -> None:
    """Change a stored event behind the application's back (as an attacker with SQL would)."""
    import json

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test database is owned by a superuser: bypass the append-only triggers
            # for this statement only.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cast = "::jsonb" if connection.vendor == "postgresql" else ""
        cursor.execute(
            f"UPDATE audit_event SET data = %s{cast} WHERE id = %s",
            [json.dumps(data), event_id],
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
