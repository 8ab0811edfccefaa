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
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import Q

from . import merkle, pgbody, signing
from .hashing import GENESIS_HASH, content_hash, event_body, format_timestamp
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


class _ChainChecker:
    """Compares events with their chains' head rows; checks rows in full when asked.

    ``close`` ends a chain (its last ``seq`` and ``hash``) against the head row;
    ``check_rows`` recomputes everything for a stream of rows in Python, reporting
    each problem precisely; ``finish`` reports head rows that no event matched.
    """

    def __init__(self, report: Report, heads: dict[str, tuple[int, str]]) -> None:
        self.report = report
        self.heads = heads

    def close(self, key: str, last_seq: int, last: str) -> None:
        add = self.report.add
        head = self.heads.pop(key, None)
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

    def check_rows(self, rows: Iterator[tuple]) -> int:
        """Check rows of :data:`EVENT_COLUMNS` grouped by chain in ``seq`` order."""
        add = self.report.add
        current = None
        expected_seq = 1
        prev = GENESIS_HASH
        last_hash = GENESIS_HASH
        events = 0
        for row in rows:
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
                    self.close(current, expected_seq - 1, last_hash)
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
                event_body(
                    chain_key=key,
                    seq=seq,
                    occurred_at=_ts(occurred_at),
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
            self.close(current, expected_seq - 1, last_hash)
        return events

    def finish(self) -> None:
        for key, (length, _head) in sorted(self.heads.items()):
            if length:
                self.report.add(
                    Problem(
                        "chain",
                        f"chain {key} seq 1",
                        "head row names events that are missing",
                        "length",
                        str(length),
                        "0",
                    )
                )


def _heads() -> dict[str, tuple[int, str]]:
    return {
        key: (length, head)
        for key, length, head in Chain.objects.values_list("key", "length", "head_hash")
    }


def verify_chains(report: Report, *, full: bool = False) -> None:
    """Every chain, event by event, against its head row.

    On PostgreSQL the events are hashed inside the database, over the canonical body
    that it derives from each row (:mod:`audit.pgbody`), in several key ranges at once
    when not inside a transaction; only chains where something is off are checked
    again in Python, for a precise report. ``full`` recomputes every body from the
    columns in Python instead, independently of the database's derivation.
    """
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:
            _verify_chains_postgresql(report, sessions=1, full=full)
        else:
            # One snapshot for the heads and every session: a consistent picture of
            # the log even while the application goes on appending.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                _verify_chains_postgresql(report, sessions=_sessions(), full=full)
        return
    heads = _heads()
    report.chains = len(heads)
    checker = _ChainChecker(report, heads)
    report.events = checker.check_rows(iter_event_rows())
    checker.finish()


def _sessions() -> int:
    configured = getattr(settings, "AUDIT_VERIFY_SESSIONS", None)
    return max(1, configured or min(4, os.cpu_count() or 1))


# For each chain in a key range: its number of events and last seq, and
# whether every event is in place (seq contiguous from 1, linked to the previous
# hash) and hashes, with its prev_hash, to its stored hash. A prev_hash or hash that is
# not hex makes decode() fail the whole query: the caller then checks in Python. The
# bytes comparison accepts another spelling of the same digest (upper case), but every
# stored hash is also compared as text, with the next event's prev_hash or the head row.
_CHAIN_SUMMARY_SQL = """
SELECT chain_key, count(*), max(seq), bool_and(ok)
FROM (
    SELECT chain_key,
        seq,
        seq = row_number() OVER w
        AND prev_hash = coalesce(lag(hash) OVER w, %(genesis)s)
        AND sha256(decode(prev_hash, 'hex') || body) = decode(hash, 'hex') AS ok
    FROM audit_event
    WHERE {where}
    WINDOW w AS (PARTITION BY chain_key ORDER BY seq)
) AS checked
GROUP BY chain_key
"""


def _body_problem(cursor) -> Problem | None:
    """Is ``audit_event.body`` still generated by :data:`pgbody.BODY_EXPRESSION`, and is
    the function it calls still exactly ours?"""
    definition = (
        "SELECT a.attgenerated, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = %s::regclass AND a.attname = 'body' AND NOT a.attisdropped"
    )
    cursor.execute(definition, ["audit_event"])
    found = cursor.fetchone()
    where = "table audit_event, column body"
    if found is None:
        return Problem("schema", where, "the generated canonical body column is missing")
    cursor.execute(
        "SELECT p.prosrc, p.provolatile, l.lanname FROM pg_proc p"
        " JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = to_regprocedure(%s)",
        [pgbody.FUNCTION_SIGNATURE],
    )
    function = cursor.fetchone()
    if function is None or tuple(function) != (pgbody.FUNCTION_SOURCE, "i", "plpgsql"):
        return Problem(
            "schema",
            f"function {pgbody.FUNCTION_SIGNATURE}",
            "missing, or no longer the canonical body function",
        )
    expected = _reference_definition(cursor, definition)
    if tuple(found) != expected:
        return Problem(
            "schema",
            where,
            "no longer generated from the event's columns by the canonical expression",
            "definition",
            "generated by audit.pgbody.BODY_EXPRESSION",
            "generated by another expression" if found[0] == "s" else "an ordinary column",
        )
    return None


_reference_definitions: dict[tuple, tuple] = {}


def _reference_definition(cursor, definition: str) -> tuple:
    """PostgreSQL's own rendering of the canonical expression, once per server version."""
    key = (connection.settings_dict["NAME"], connection.pg_version)
    if key in _reference_definitions:
        return _reference_definitions[key]
    columns = ", ".join(name for name, _kind in pgbody.BODY_COLUMNS)
    cursor.execute("SAVEPOINT audit_body_reference")
    try:
        cursor.execute(
            f"CREATE TEMPORARY TABLE audit_body_reference AS SELECT {columns}"  # noqa: S608
            " FROM audit_event WITH NO DATA"
        )
        cursor.execute(
            "ALTER TABLE audit_body_reference ADD COLUMN body bytea GENERATED ALWAYS AS"
            f" ({pgbody.BODY_EXPRESSION}) STORED"
        )
        cursor.execute(definition, ["audit_body_reference"])
        expected = cursor.fetchone()
    finally:
        cursor.execute("ROLLBACK TO SAVEPOINT audit_body_reference")
        cursor.execute("RELEASE SAVEPOINT audit_body_reference")
    _reference_definitions[key] = tuple(expected)
    return _reference_definitions[key]


#: Below this many events per session, opening another session costs more than it saves.
EVENTS_PER_SESSION = 10_000


def _key_ranges(lengths: dict[str, int], parts: int) -> list[tuple[str | None, str | None]]:
    """Contiguous ranges of chain keys covering every key, existing or not, each with
    about the same number of events (by the heads' lengths)."""
    keys = sorted(lengths)
    total = sum(lengths.values())
    if parts <= 1 or len(keys) < parts or total == 0:
        return [(None, None)]
    bounds, running, share = [], 0, total / parts
    for key in keys:
        if running >= share * (len(bounds) + 1) and len(bounds) < parts - 1:
            bounds.append(key)
        running += lengths[key]
    return list(zip([None, *bounds], [*bounds, None], strict=True))


def _summary_query(low: str | None, high: str | None) -> tuple[str, dict]:
    conditions, params = ["true"], {"genesis": GENESIS_HASH}
    if low is not None:
        conditions.append("chain_key >= %(low)s")
        params["low"] = low
    if high is not None:
        conditions.append("chain_key < %(high)s")
        params["high"] = high
    return _CHAIN_SUMMARY_SQL.format(where=" AND ".join(conditions)), params


#: The summary reads in (chain_key, seq) order through the unique index. Left to
#: itself, PostgreSQL may prefer a (parallel) scan of the table followed by a sort of
#: every row, spilled to disk: about half as fast.
_SUMMARY_SETTINGS = (
    "SET LOCAL max_parallel_workers_per_gather = 0",
    "SET LOCAL enable_sort = off",
)
_SUMMARY_SETTINGS_RESET = ("RESET max_parallel_workers_per_gather", "RESET enable_sort")


def _summaries(cursor, lengths: dict[str, int], sessions: int) -> list[tuple] | None:
    """Chain summaries from the database, or ``None`` if it could not hash every event."""
    ranges = _key_ranges(lengths, sessions)
    try:
        if len(ranges) == 1:
            with transaction.atomic():  # a refused query leaves the transaction usable
                for statement in _SUMMARY_SETTINGS:
                    cursor.execute(statement)
                cursor.execute(*_summary_query(None, None))
                rows = cursor.fetchall()
                for statement in _SUMMARY_SETTINGS_RESET:
                    cursor.execute(statement)
                return rows
        cursor.execute("SELECT pg_export_snapshot()")
        return _summaries_in_sessions(ranges, cursor.fetchone()[0])
    except (DataError, connection.Database.DataError):
        return None  # e.g. a prev_hash that is not hex


def _summaries_in_sessions(ranges, snapshot: str) -> list[tuple]:
    """Run the summary of each key range in its own session, on one snapshot."""
    if not all(c.isalnum() or c == "-" for c in snapshot):  # pragma: no cover
        raise ValueError(f"unexpected snapshot id {snapshot!r}")

    def run(bounds):
        raw = connection.get_new_connection(connection.get_connection_params())
        try:
            with raw.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                for statement in _SUMMARY_SETTINGS:
                    cursor.execute(statement)
                cursor.execute(*_summary_query(*bounds))
                rows = cursor.fetchall()
                cursor.execute("COMMIT")
                return rows
        finally:
            raw.close()

    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        return [row for rows in pool.map(run, ranges) for row in rows]


def _verify_chains_postgresql(report: Report, *, sessions: int, full: bool) -> None:
    heads = _heads()
    report.chains = len(heads)
    checker = _ChainChecker(report, heads)
    summaries = None
    if not full:
        with connection.cursor() as cursor:
            problem = _body_problem(cursor)
            if problem is None:
                lengths = {key: length for key, (length, _hash) in heads.items()}
                sessions = max(1, min(sessions, sum(lengths.values()) // EVENTS_PER_SESSION))
                summaries = _summaries(cursor, lengths, sessions)
            else:
                # The database's own derivation cannot be trusted: all in Python.
                report.add(problem)
    if summaries is None:
        report.events = checker.check_rows(iter_event_rows())
        checker.finish()
        return
    # The event each head row names: one index lookup per chain.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.key, (SELECT e.hash FROM audit_event e"
            " WHERE e.chain_key = c.key AND e.seq = c.length) FROM audit_chain c"
        )
        named = dict(cursor.fetchall())
    events = 0
    suspects = []
    for key, count, last_seq, ok in sorted(summaries):
        if ok and count == last_seq:
            events += count
            checker.close(key, last_seq, named.get(key, "(none)"))
        else:
            suspects.append(key)
    for key in suspects:
        events += checker.check_rows(iter_event_rows(key))
    report.events = events
    checker.finish()


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


def verify_all(*, full: bool = False) -> Report:
    report = Report()
    verify_chains(report, full=full)
    verify_emails(report)
    verify_content(report)
    verify_checkpoints(report)
    return report
