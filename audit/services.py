"""Writing evidence: events, content versions, checkpoints.

Every other app calls :func:`record` inside its own transaction, so that the change
and its event commit or roll back together. The hash formulas live in
:mod:`audit.hashing` and are specified in ``docs/evidence-format.md``.

Concurrency: appending first moves (and so locks) the head row of one chain, so
writers of the same chain queue up (no fork, no duplicate ``seq``; the unique
constraint on ``(chain_key, seq)`` backs this up) while writers of different chains
never wait for each other.
"""

from __future__ import annotations

import base64
import re

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from mynetspace.core.errors import DomainError

from . import merkle, signing
from .context import RequestMeta, current_meta
from .hashing import (
    body_around_seq,
    body_of,
    canonical_json,
    chain_hash,
    content_hash,
    format_timestamp,
    validate_json_value,
    validate_text,
)
from .models import GENESIS_HASH, Chain, Checkpoint, ContentVersion, Event

SYSTEM_CHAIN = "system"
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_ACTOR_TYPES = frozenset(Event.ActorType.values)


def chain_key_for(subject) -> str:
    """``user:<pk>`` for a customer, ``system`` when there is none."""
    if subject is None:
        return SYSTEM_CHAIN
    if subject.pk is None:
        raise ValueError("the subject of an event must be saved first")
    return f"user:{subject.pk}"


def _field(value: str, *, name: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    validate_text(value, where=name)
    if len(value) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    return value


def _clean_meta_text(value: str, max_length: int) -> str:
    # Request metadata comes from outside: keep it, but make it storable.
    return value.replace("\x00", "\ufffd")[:max_length]


_PG_LOCK_HEAD = "SELECT id, length, head_hash FROM audit_chain WHERE key = %s FOR UPDATE"
_PG_CREATE_HEAD = (
    "INSERT INTO audit_chain (key, length, head_hash, updated_at) VALUES (%s, 0, %s, %s)"
    " ON CONFLICT (key) DO NOTHING"
)
# One statement, one round trip. The UPDATE moves the chain's head one event forward;
# it locks the row, and a writer of the same chain that was waiting re-evaluates it on
# the head this one left (READ COMMITTED), so the chain cannot fork. It hashes the
# previous head with the event's canonical JSON, which Python encoded in two parts
# around the only value it cannot know, the seq (``hashing.body_around_seq``). The
# INSERT stores the event with what the UPDATE returned. No row back: the chain has no
# head row yet.
_PG_APPEND = """
WITH head AS (
    UPDATE audit_chain SET
        length = length + 1,
        previous_head_hash = head_hash,
        head_hash = encode(sha256(
            decode(head_hash, 'hex') || %(before_seq)s::bytea
            || convert_to((length + 1)::text, 'UTF8') || %(after_seq)s::bytea
        ), 'hex'),
        updated_at = %(occurred_at)s::timestamptz
    WHERE key = %(chain_key)s::text
    RETURNING key, length, previous_head_hash, head_hash
)
INSERT INTO audit_event (chain_key, seq, occurred_at, actor_type, actor_id,
    on_behalf_of_id, action, target_type, target_id, data, ip, user_agent, request_id,
    prev_hash, hash)
SELECT head.key, head.length, %(occurred_at)s::timestamptz, %(actor_type)s,
    %(actor_id)s, %(on_behalf_of_id)s, %(action)s, %(target_type)s, %(target_id)s,
    %(data)s, %(ip)s, %(user_agent)s, %(request_id)s, head.previous_head_hash,
    head.head_hash
FROM head
RETURNING id, seq, prev_hash, hash
"""
#: The statement's parameters taken as they are from the event's body.
_APPEND_COLUMNS = (
    "chain_key",
    "actor_type",
    "actor_id",
    "on_behalf_of_id",
    "action",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
)


def _pg_cursor():
    """A server-side-binding psycopg cursor on Django's connection (same transaction).

    Appends run on every audited action: a prepared statement with bound parameters
    saves the client-side quoting and the server's parsing and planning of the append
    on every call (benchmarks/bench_audit.py). Settings turn psycopg's preparing on
    (``DATABASE_PREPARED_STATEMENTS``); without it the statement is simply planned
    each time.
    """
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _lock_head(chain_key: str) -> tuple[int, int, str]:
    """Lock the chain's head row, creating it first if needed; returns (id, length, hash).

    Two first writers of a chain may race to create it: ``ON CONFLICT DO NOTHING``
    makes the second wait for the first's commit, then find (and lock) the same row.
    """
    if connection.vendor == "postgresql":
        with connection.wrap_database_errors, _pg_cursor() as cursor:
            return _pg_fetch_creating_head(cursor, _PG_LOCK_HEAD, [chain_key], chain_key)
    query = Chain.objects.select_for_update().filter(key=chain_key)
    row = query.values_list("id", "length", "head_hash").first()
    if row is None:
        Chain.objects.bulk_create([Chain(key=chain_key)], ignore_conflicts=True)
        row = query.values_list("id", "length", "head_hash").first()
    return row


def _pg_fetch_creating_head(cursor, sql: str, params, chain_key: str):
    """The row of the prepared statement ``sql`` on the chain's head; when the chain
    has no head row yet, create it and run ``sql`` again."""
    cursor.execute(sql, params, prepare=True)
    row = cursor.fetchone()
    if row is None:
        cursor.execute(_PG_CREATE_HEAD, [chain_key, GENESIS_HASH, timezone.now()])
        cursor.execute(sql, params, prepare=True)
        row = cursor.fetchone()
    return row


def _append_pg(event: Event) -> None:
    """Append ``event`` (all but seq, prev_hash and hash set) in one statement."""
    body = body_of(event)
    before_seq, after_seq = body_around_seq(body)
    params = {name: body[name] for name in _APPEND_COLUMNS}
    params.update(
        before_seq=before_seq,
        after_seq=after_seq,
        data=canonical_json(event.data).decode(),
        occurred_at=event.occurred_at,
    )
    with connection.wrap_database_errors, _pg_cursor() as cursor:
        row = _pg_fetch_creating_head(cursor, _PG_APPEND, params, event.chain_key)
    event.pk, event.seq, event.prev_hash, event.hash = row
    event._state.adding = False
    event._state.db = connection.alias


def _append_portable(event: Event) -> None:
    """Lock the head, then insert and move it, through the ORM (SQLite)."""
    head_id, length, prev_hash = _lock_head(event.chain_key)
    event.seq = length + 1
    event.prev_hash = prev_hash
    event.hash = chain_hash(prev_hash, body_of(event))
    event.save(force_insert=True)
    Chain.objects.filter(pk=head_id).update(
        length=event.seq,
        previous_head_hash=prev_hash,
        head_hash=event.hash,
        updated_at=event.occurred_at,
    )


def record(
    *,
    action: str,
    subject=None,
    actor=None,
    actor_type: str | None = None,
    on_behalf_of=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    data: dict | None = None,
    meta: RequestMeta | None = None,
) -> Event:
    """Append one event to the chain of ``subject`` (a customer) or to the system chain.

    Call it inside the transaction that makes the change. ``data`` must be canonical
    JSON material (see :func:`audit.hashing.validate_json_value`): a ``TypeError`` or
    ``ValueError`` names what is refused.
    """
    if not isinstance(action, str) or not ACTION_RE.match(action) or len(action) > 100:
        raise ValueError(f"invalid action name {action!r} (dotted lower-case, at most 100)")
    chain_key = chain_key_for(subject)
    if actor_type is None:
        if actor is None:
            actor_type = Event.ActorType.SYSTEM
        elif actor.is_staff:
            actor_type = Event.ActorType.STAFF
        else:
            actor_type = Event.ActorType.USER
    if actor_type not in _ACTOR_TYPES:
        raise ValueError(f"unknown actor_type {actor_type!r}")
    actor_type = str(actor_type)
    if target is not None:
        if target_type or target_id:
            raise ValueError("give either target or target_type/target_id, not both")
        if target.pk is None:
            raise ValueError("the target of an event must be saved first")
        target_type = f"{target._meta.app_label}.{target._meta.model_name}"
        target_id = str(target.pk)
    target_type = _field(target_type, name="target_type", max_length=100)
    target_id = _field(str(target_id), name="target_id", max_length=100)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict, not {type(data).__name__}")
    validate_json_value(data)
    meta = meta or current_meta()
    ip = _clean_meta_text(meta.ip, 45)
    user_agent = _clean_meta_text(meta.user_agent, 500)
    request_id = _clean_meta_text(meta.request_id, 64)
    actor_id = actor.pk if actor is not None else None
    on_behalf_of_id = on_behalf_of.pk if on_behalf_of is not None else None

    event = Event(
        chain_key=chain_key,
        occurred_at=timezone.now(),
        actor_type=actor_type,
        actor_id=actor_id,
        on_behalf_of_id=on_behalf_of_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        data=data,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
    )
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _append_pg(event)
        else:
            _append_portable(event)
    return event


def content_version_publish(
    *,
    key: str,
    language: str,
    title: str,
    body: str,
    summary: str = "",
    published_by=None,
    meta: RequestMeta | None = None,
) -> ContentVersion:
    """Publish the next immutable version of a text, with its ``content.published`` event."""
    key = (key or "").strip()
    language = (language or "").strip()
    if not key or len(key) > 150:
        raise DomainError(_("Le texte doit avoir une clé de 1 à 150 caractères."), "invalid_key")
    if not language or len(language) > 8:
        raise DomainError(_("La langue du texte est invalide."), "invalid_language")
    if not (title or "").strip():
        raise DomainError(_("Le titre est obligatoire."), "title_required")
    if len(title) > 300:
        raise DomainError(_("Le titre dépasse 300 caractères."), "title_too_long")
    if not (body or "").strip():
        raise DomainError(_("Le texte ne peut pas être vide."), "body_required")
    for name, value in (("key", key), ("title", title), ("body", body), ("summary", summary)):
        try:
            validate_text(value, where=name)
        except ValueError:
            raise DomainError(
                _("Le texte contient des caractères non autorisés."), "invalid_text"
            ) from None

    with transaction.atomic(savepoint=False):
        # Publications are rare: serialising them on the system chain's head row makes
        # the next version number race-free and matches the order of their events.
        _lock_head(SYSTEM_CHAIN)
        last = ContentVersion.objects.filter(key=key, language=language).aggregate(
            last=Max("version")
        )["last"]
        version = ContentVersion(
            key=key,
            version=(last or 0) + 1,
            language=language,
            title=title,
            body=body,
            summary=summary,
            published_at=timezone.now(),
            published_by=published_by,
        )
        version.sha256 = content_hash(version)
        version.save(force_insert=True)
        record(
            action="content.published",
            actor=published_by,
            target=version,
            data={
                "key": key,
                "version": version.version,
                "language": language,
                "sha256": version.sha256,
            },
            meta=meta,
        )
    return version


def _checkpoint_lock() -> None:
    """Serialise checkpoint creation so their order matches their snapshots."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('audit.checkpoint'))")


def checkpoint_create(*, meta: RequestMeta | None = None) -> Checkpoint:
    """Sign a Merkle root over every chain head, as committed right now.

    The heads are read in one statement (one consistent snapshot), then the
    checkpoint is stored and a ``audit.checkpoint_created`` event naming its root is
    appended to the system chain.
    """
    private_key = signing.current_signing_key()
    public_raw = signing.public_key_raw(private_key)
    with transaction.atomic():
        _checkpoint_lock()
        heads = sorted(
            [key, length, head]
            for key, length, head in Chain.objects.filter(length__gt=0).values_list(
                "key", "length", "head_hash"
            )
        )
        created_at = timezone.now()
        root_hash = merkle.root_from_leaf_hashes(merkle.head_leaf_hashes(heads)).hex()
        kid = signing.key_id(public_raw)
        message = signing.checkpoint_message(
            created_at=format_timestamp(created_at),
            tree_size=len(heads),
            root_hash=root_hash,
            key_id=kid,
        )
        checkpoint = Checkpoint(
            created_at=created_at,
            tree_size=len(heads),
            root_hash=root_hash,
            heads=heads,
            key_id=kid,
            public_key=base64.b64encode(public_raw).decode("ascii"),
            signature=signing.sign(private_key, message),
        )
        checkpoint.save(force_insert=True)
        record(
            action="audit.checkpoint_created",
            target=checkpoint,
            data={"root_hash": root_hash, "tree_size": len(heads)},
            meta=meta,
        )
    return checkpoint


__all__ = [
    "GENESIS_HASH",
    "SYSTEM_CHAIN",
    "chain_key_for",
    "checkpoint_create",
    "content_version_publish",
    "record",
]
