"""Verification of the whole evidence log (``manage.py audit_verify``).

Checks, reading everything as a stream so that memory does not grow with the log:

- every chain: ``seq`` contiguous from 1, each ``prev_hash`` equal to the previous
  event's ``hash`` (genesis: 64 zeros), each ``hash`` recomputed from the stored
  columns, the head row equal to the last event (length and hash);
- every outbound and inbound email: ``sha256 == SHA-256(raw)``;
- every content version: ``sha256`` recomputed;
- every checkpoint: signed by a trusted key, root recomputed from its heads, every
  head it names still in its chain with the same hash, and each checkpoint extending
  the previous one (no chain shrinks, disappears or changes a head it already had).

Memory grows with the number of chains (one head per customer), never with the
number of events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q

from . import merkle, signing
from .hashing import GENESIS_HASH, content_hash, format_timestamp
from .models import Chain, Checkpoint, ContentVersion, Event, InboundEmail, OutboundEmail

EVENT_CHUNK = 5000
EMAIL_CHUNK = 50
MAX_PROBLEMS_KEPT = 1000

_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode
_sha256 = hashlib.sha256
_fromhex = bytes.fromhex


@dataclass(frozen=True)
class Problem:
    """One thing found broken: what, where, and the expected versus found value."""

    kind: str
    where: str
    message: str
    field: str = ""
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        text = f"[{self.kind}] {self.where}: {self.message}"
        if self.field:
            text += f" ({self.field}: expected {self.expected!s}, found {self.found!s})"
        return text


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    chains: int = 0
    events: int = 0
    outbound_emails: int = 0
    inbound_emails: int = 0
    content_versions: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)

    def summary(self) -> str:
        status = "OK" if self.ok else f"{self.problem_count} PROBLEM(S)"
        return (
            f"audit_verify {status}: {self.chains} chains, {self.events} events, "
            f"{self.outbound_emails} outbound and {self.inbound_emails} inbound emails, "
            f"{self.content_versions} content versions, {self.checkpoints} checkpoints"
        )


def _ts(value: dt.datetime) -> str:
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


EVENT_COLUMNS = (
    "chain_key",
    "seq",
    "prev_hash",
    "hash",
    "action",
    "actor_id",
    "actor_type",
    "data",
    "ip",
    "occurred_at",
    "on_behalf_of_id",
    "request_id",
    "target_id",
    "target_type",
    "user_agent",
)


def iter_event_rows(chain_key: str | None = None) -> Iterator[tuple]:
    """Events as tuples of :data:`EVENT_COLUMNS`, grouped by chain, in ``seq`` order.

    ``data`` comes back parsed; on PostgreSQL a server-side cursor streams the rows
    without building model instances (the verifier's hot loop).
    """
    if connection.vendor == "postgresql":
        yield from _iter_event_rows_postgresql(chain_key)
        return
    query = Event.objects.all()
    if chain_key is not None:
        query = query.filter(chain_key=chain_key)
    yield from (
        query.order_by("chain_key", "seq")
        .values_list(*EVENT_COLUMNS)
        .iterator(chunk_size=EVENT_CHUNK)
    )


def _iter_event_rows_postgresql(chain_key: str | None) -> Iterator[tuple]:
    sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_event"  # noqa: S608 - constant
    params = []
    if chain_key is not None:
        sql += " WHERE chain_key = %s"
        params.append(chain_key)
    sql += " ORDER BY chain_key, seq"
    loads = json.loads
    with transaction.atomic():
        cursor = connection.chunked_cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(EVENT_CHUNK):
                for row in rows:
                    data = row[7]
                    if isinstance(data, str):  # jsonb arrives as text through Django
                        row = (*row[:7], loads(data), *row[8:])
                    yield row
        finally:
            cursor.close()


def verify_chains(report: Report) -> None:
    heads = {
        key: (length, head)
        for key, length, head in Chain.objects.values_list("key", "length", "head_hash")
    }
    report.chains = len(heads)
    current = None
    expected_seq = 1
    prev = GENESIS_HASH
    last_hash = GENESIS_HASH
    events = 0
    add = report.add

    def close(key: str, last_seq: int, last: str) -> None:
        head = heads.pop(key, None)
        if head is None:
            add(Problem("chain", f"chain {key}", "events exist but the chain has no head row"))
            return
        length, head_hash = head
        if length > last_seq:
            add(
                Problem(
                    "chain",
                    f"chain {key} seq {last_seq + 1}",
                    f"events {last_seq + 1} to {length} named by the head row are missing",
                    "length",
                    str(length),
                    str(last_seq),
                )
            )
        elif length < last_seq:
            add(
                Problem(
                    "chain",
                    f"chain {key} seq {length + 1}",
                    f"events {length + 1} to {last_seq} are beyond the head row",
                    "length",
                    str(length),
                    str(last_seq),
                )
            )
        elif head_hash != last:
            add(
                Problem(
                    "chain",
                    f"chain {key} seq {last_seq}",
                    "head row does not match the last event",
                    "head_hash",
                    head_hash,
                    last,
                )
            )

    for row in iter_event_rows():
        (
            key,
            seq,
            prev_hash,
            stored_hash,
            action,
            actor_id,
            actor_type,
            data,
            ip,
            occurred_at,
            on_behalf_of_id,
            request_id,
            target_id,
            target_type,
            user_agent,
        ) = row
        events += 1
        if key != current:
            if current is not None:
                close(current, expected_seq - 1, last_hash)
            current, expected_seq, prev = key, 1, GENESIS_HASH
        if seq != expected_seq:
            if seq > expected_seq:
                add(
                    Problem(
                        "event",
                        f"chain {key} seq {expected_seq}",
                        f"events {expected_seq} to {seq - 1} are missing",
                        "seq",
                        str(expected_seq),
                        str(seq),
                    )
                )
            else:  # pragma: no cover - the unique constraint prevents it
                add(Problem("event", f"chain {key} seq {seq}", "duplicate sequence number"))
        elif prev_hash != prev:
            add(
                Problem(
                    "event",
                    f"chain {key} seq {seq}",
                    "not linked to the previous event",
                    "prev_hash",
                    prev,
                    prev_hash,
                )
            )
        body = _encode(
            {
                "action": action,
                "actor_id": actor_id,
                "actor_type": actor_type,
                "chain_key": key,
                "data": data,
                "ip": ip,
                "occurred_at": _ts(occurred_at),
                "on_behalf_of_id": on_behalf_of_id,
                "request_id": request_id,
                "seq": seq,
                "target_id": target_id,
                "target_type": target_type,
                "user_agent": user_agent,
            }
        ).encode()
        try:
            computed = _sha256(_fromhex(prev_hash) + body).hexdigest()
        except ValueError:
            computed = None
        if computed != stored_hash:
            add(
                Problem(
                    "event",
                    f"chain {key} seq {seq}",
                    "stored content does not match its hash",
                    "hash",
                    computed or "(prev_hash is not hex)",
                    stored_hash,
                )
            )
        prev = stored_hash
        last_hash = stored_hash
        expected_seq = seq + 1
    if current is not None:
        close(current, expected_seq - 1, last_hash)
    for key, (length, _head) in sorted(heads.items()):
        if length:
            add(
                Problem(
                    "chain",
                    f"chain {key} seq 1",
                    "head row names events that are missing",
                    "length",
                    str(length),
                    "0",
                )
            )
    report.events = events


def _verify_raw(report: Report, model, kind: str) -> int:
    count = 0
    for pk, sha, raw in (
        model.objects.order_by("pk").values_list("pk", "sha256", "raw").iterator(EMAIL_CHUNK)
    ):
        count += 1
        computed = hashlib.sha256(raw).hexdigest()
        if computed != sha:
            report.add(
                Problem(
                    kind,
                    f"{kind} {pk}",
                    "raw message does not match its hash",
                    "sha256",
                    computed,
                    sha,
                )
            )
    return count


def verify_emails(report: Report) -> None:
    report.outbound_emails = _verify_raw(report, OutboundEmail, "outbound email")
    report.inbound_emails = _verify_raw(report, InboundEmail, "inbound email")


def verify_content(report: Report) -> None:
    count = 0
    for version in ContentVersion.objects.order_by("pk").iterator(chunk_size=200):
        count += 1
        computed = content_hash(version)
        if computed != version.sha256:
            report.add(
                Problem(
                    "content",
                    f"content version {version.pk} ({version.key} v{version.version} "
                    f"{version.language})",
                    "text does not match its hash",
                    "sha256",
                    computed,
                    version.sha256,
                )
            )
    report.content_versions = count


def checkpoint_problems(checkpoint: Checkpoint, trusted: dict[str, str]) -> list[Problem]:
    """Signature, key and root of one checkpoint (not yet compared with the chains)."""
    where = f"checkpoint {checkpoint.pk} ({format_timestamp(checkpoint.created_at)})"
    problems = []
    heads = checkpoint.heads
    valid_heads = isinstance(heads, list) and all(
        isinstance(h, list)
        and len(h) == 3
        and isinstance(h[0], str)
        and isinstance(h[1], int)
        and isinstance(h[2], str)
        for h in heads
    )
    if not valid_heads:
        return [Problem("checkpoint", where, "heads are not a list of [chain, length, hash]")]
    trusted_key = trusted.get(checkpoint.key_id)
    if trusted_key is None:
        problems.append(
            Problem(
                "checkpoint",
                where,
                "signed by a key that is not trusted",
                "key_id",
                " or ".join(sorted(trusted)),
                checkpoint.key_id,
            )
        )
    elif trusted_key != checkpoint.public_key:
        problems.append(
            Problem(
                "checkpoint",
                where,
                "public key does not match its key id",
                "public_key",
                trusted_key,
                checkpoint.public_key,
            )
        )
    message = signing.checkpoint_message(
        created_at=format_timestamp(checkpoint.created_at),
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        key_id=checkpoint.key_id,
    )
    if not signing.verify(trusted_key or checkpoint.public_key, checkpoint.signature, message):
        problems.append(Problem("checkpoint", where, "signature does not verify"))
    root = merkle.root_from_leaf_hashes(merkle.head_leaf_hashes(heads)).hex()
    if len(heads) != checkpoint.tree_size:
        problems.append(
            Problem(
                "checkpoint",
                where,
                "tree size does not match its heads",
                "tree_size",
                str(len(heads)),
                str(checkpoint.tree_size),
            )
        )
    if root != checkpoint.root_hash:
        problems.append(
            Problem(
                "checkpoint",
                where,
                "root does not match its heads",
                "root_hash",
                root,
                checkpoint.root_hash,
            )
        )
    if [h[0] for h in heads] != sorted({h[0] for h in heads}):
        problems.append(Problem("checkpoint", where, "heads are not sorted by chain key"))
    return problems


def _check_heads_in_chains(report: Report, pending: list[tuple[str, str, int, str]]) -> None:
    """``pending``: (where, chain_key, length, head_hash) to look up among the events."""
    query = Q()
    for _where, key, length, _hash in pending:
        query |= Q(chain_key=key, seq=length)
    rows = Event.objects.filter(query).values_list("chain_key", "seq", "hash")
    found = {(key, seq): digest for key, seq, digest in rows}
    for where, key, length, head_hash in pending:
        digest = found.get((key, length))
        if digest is None:
            report.add(
                Problem(
                    "checkpoint",
                    f"{where}, chain {key} seq {length}",
                    "checkpointed event is missing from its chain (truncated?)",
                    "hash",
                    head_hash,
                    "(missing)",
                )
            )
        elif digest != head_hash:
            report.add(
                Problem(
                    "checkpoint",
                    f"{where}, chain {key} seq {length}",
                    "chain differs from what the checkpoint signed",
                    "hash",
                    head_hash,
                    digest,
                )
            )


def verify_checkpoints(report: Report) -> None:
    trusted = signing.trusted_public_keys()
    previous: dict[str, tuple[int, str]] = {}
    previous_at = None
    pending: list[tuple[str, str, int, str]] = []
    count = 0
    for checkpoint in Checkpoint.objects.order_by("pk").iterator(chunk_size=20):
        count += 1
        where = f"checkpoint {checkpoint.pk} ({format_timestamp(checkpoint.created_at)})"
        problems = checkpoint_problems(checkpoint, trusted)
        for problem in problems:
            report.add(problem)
        if problems and problems[0].message.startswith("heads are not"):
            continue
        if previous_at is not None and checkpoint.created_at < previous_at:
            report.add(Problem("checkpoint", where, "created before the previous checkpoint"))
        previous_at = checkpoint.created_at
        current = {key: (length, head) for key, length, head in checkpoint.heads}
        for key, (length, head) in previous.items():
            now = current.get(key)
            if now is None:
                report.add(
                    Problem(
                        "checkpoint",
                        f"{where}, chain {key}",
                        "chain of the previous checkpoint is missing",
                    )
                )
            elif now[0] < length:
                report.add(
                    Problem(
                        "checkpoint",
                        f"{where}, chain {key}",
                        "chain is shorter than in the previous checkpoint",
                        "length",
                        f">= {length}",
                        str(now[0]),
                    )
                )
            elif now[0] == length and now[1] != head:
                report.add(
                    Problem(
                        "checkpoint",
                        f"{where}, chain {key} seq {length}",
                        "head differs from the previous checkpoint",
                        "head_hash",
                        head,
                        now[1],
                    )
                )
        # Only heads that moved since the previous checkpoint need a lookup: an unchanged
        # head was looked up already.
        for key, (length, head) in current.items():
            if previous.get(key) != (length, head):
                pending.append((where, key, length, head))
                if len(pending) >= 500:
                    _check_heads_in_chains(report, pending)
                    pending = []
        previous = current
    if pending:
        _check_heads_in_chains(report, pending)
    report.checkpoints = count


def verify_all() -> Report:
    report = Report()
    verify_chains(report)
    verify_emails(report)
    verify_content(report)
    verify_checkpoints(report)
    return report
