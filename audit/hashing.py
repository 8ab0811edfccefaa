"""Canonical JSON and the hash formulas of the evidence log.

Everything here is specified in ``docs/evidence-format.md`` so that a third party
can recompute every hash from the stored columns without this code:

- canonical JSON: objects with keys sorted by Unicode code point, no whitespace,
  UTF-8, strings escaped as below, integers only (no floats), timestamps as strings
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six fraction digits);
- event hash: ``SHA-256(bytes.fromhex(prev_hash) || canonical_json(event_body))``;
- content version hash: ``SHA-256(canonical_json(content_body))``;
- email hash: ``SHA-256(raw message bytes)``.

The value rules are enforced when data enters the log (:func:`validate_json_value`)
so that what PostgreSQL (jsonb) and SQLite give back re-encodes to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping

GENESIS_HASH = "0" * 64

#: Integers must survive every JSON parser a verifier may use (JavaScript's included).
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

#: The fields of an event covered by its hash, as they appear in the canonical body.
EVENT_FIELDS = (
    "action",
    "actor_id",
    "actor_type",
    "chain_key",
    "data",
    "ip",
    "occurred_at",
    "on_behalf_of_id",
    "request_id",
    "seq",
    "target_id",
    "target_type",
    "user_agent",
)

CONTENT_FIELDS = (
    "body",
    "key",
    "language",
    "published_at",
    "published_by_id",
    "summary",
    "title",
    "version",
)

_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
_encode = _encoder.encode


class CanonicalJSONError(ValueError):
    """A value cannot be part of the evidence log's canonical JSON."""


def validate_text(value: str, *, where: str = "value") -> None:
    """Text must be valid Unicode (no lone surrogates) without NUL (PostgreSQL refuses it)."""
    if "\x00" in value:
        raise CanonicalJSONError(f"{where}: NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"{where}: not valid Unicode text ({exc.reason})") from None


def validate_json_value(value, *, where: str = "data", depth: int = 0) -> None:
    """Check that ``value`` is made only of what canonical JSON allows.

    Allowed: ``dict`` with ``str`` keys, ``list``, ``str``, ``int`` within
    ±(2**53 - 1), ``bool`` and ``None``. Floats (and so NaN/Infinity), tuples,
    bytes, dates and other objects are refused with a ``TypeError`` naming the path;
    out-of-range integers and bad text with a ``ValueError``.
    """
    if depth > MAX_DEPTH:
        raise CanonicalJSONError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"{where}: integer {value} is outside ±(2**53 - 1)")
        return
    if isinstance(value, str):
        validate_text(value, where=where)
        return
    if isinstance(value, float):
        raise TypeError(f"{where}: floats are not allowed in evidence data (use int or str)")
    if isinstance(value, list):
        for index, item in enumerate(value):
            validate_json_value(item, where=f"{where}[{index}]", depth=depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be str, not {type(key).__name__}")
            validate_text(key, where=f"{where} key {key!r}")
            validate_json_value(item, where=f"{where}.{key}", depth=depth + 1)
        return
    raise TypeError(f"{where}: {type(value).__name__} is not allowed in evidence data")


def canonical_json(value) -> bytes:
    """The canonical UTF-8 encoding of an already validated JSON value."""
    return _encode(value).encode("utf-8")


def format_timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``: ``2026-01-31T09:05:00.000000Z``."""
    if value.tzinfo is None:
        raise ValueError("evidence timestamps must be timezone-aware")
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts(value) -> str:
    return value if isinstance(value, str) else format_timestamp(value)


def event_body(
    *,
    chain_key: str,
    seq: int,
    occurred_at,
    actor_type: str,
    actor_id,
    on_behalf_of_id,
    action: str,
    target_type: str,
    target_id: str,
    data,
    ip: str,
    user_agent: str,
    request_id: str,
) -> dict:
    """The object whose canonical JSON an event's hash covers (every column but the hashes)."""
    return {
        "action": action,
        "actor_id": actor_id,
        "actor_type": actor_type,
        "chain_key": chain_key,
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


def chain_hash(prev_hash: str, body: Mapping) -> str:
    """``SHA-256(bytes.fromhex(prev_hash) || canonical_json(body))`` as lowercase hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_json(body)).hexdigest()


def body_around_seq(body: Mapping) -> tuple[bytes, bytes]:
    """The canonical JSON of ``body`` cut where its ``seq`` goes.

    ``before + str(seq).encode() + after == canonical_json(body)`` for any ``seq``: the
    append sends both parts, and the database, which alone knows the next ``seq``,
    hashes ``prev || before || seq || after`` without encoding anything itself.
    """
    before = {key: value for key, value in body.items() if key < "seq"}
    after = {key: value for key, value in body.items() if key > "seq"}
    return canonical_json(before)[:-1] + b',"seq":', b"," + canonical_json(after)[1:]


def event_hash(event) -> str:
    """Recompute the hash of an :class:`audit.models.Event` (stored or about to be)."""
    return chain_hash(event.prev_hash, body_of(event))


def body_of(event) -> dict:
    """The body of an :class:`audit.models.Event`, as its hash covers it."""
    return event_body(
        chain_key=event.chain_key,
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        on_behalf_of_id=event.on_behalf_of_id,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        data=event.data,
        ip=event.ip,
        user_agent=event.user_agent,
        request_id=event.request_id,
    )


def content_body(
    *,
    key: str,
    version: int,
    language: str,
    title: str,
    body: str,
    summary: str,
    published_at,
    published_by_id,
) -> dict:
    return {
        "body": body,
        "key": key,
        "language": language,
        "published_at": _ts(published_at),
        "published_by_id": published_by_id,
        "summary": summary,
        "title": title,
        "version": version,
    }


def content_hash(version) -> str:
    """``SHA-256(canonical_json(content_body))`` of an :class:`audit.models.ContentVersion`."""
    return hashlib.sha256(
        canonical_json(
            content_body(
                key=version.key,
                version=version.version,
                language=version.language,
                title=version.title,
                body=version.body,
                summary=version.summary,
                published_at=version.published_at,
                published_by_id=version.published_by_id,
            )
        )
    ).hexdigest()


def raw_hash(raw: bytes | memoryview) -> str:
    """SHA-256 of a raw email message exactly as stored."""
    return hashlib.sha256(bytes(raw)).hexdigest()
