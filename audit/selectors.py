"""Reads of the evidence log shared by views, exports and evidence bundles."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from . import merkle
from .models import Checkpoint, Event
from .services import chain_key_for


def event_list_for_chain(
    *, chain_key: str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[Event]:
    """The events of one chain in ``seq`` order, optionally within a period."""
    events = Event.objects.filter(chain_key=chain_key)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events.order_by("seq")


def event_list_for_customer(*, customer, **period) -> QuerySet[Event]:
    return event_list_for_chain(chain_key=chain_key_for(customer), **period)


def checkpoint_latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-created_at", "-pk").first()


def checkpoint_inclusion_proof(*, checkpoint: Checkpoint, chain_key: str) -> dict | None:
    """Proof that the head of ``chain_key`` is a leaf of the checkpoint's signed tree.

    Returns ``None`` when the chain is not in that checkpoint; otherwise everything a
    verifier needs besides the checkpoint itself (docs/evidence-format.md, §Checkpoints).
    """
    heads = checkpoint.heads
    index = next((i for i, head in enumerate(heads) if head[0] == chain_key), None)
    if index is None:
        return None
    key, length, head_hash = heads[index]
    proof = merkle.inclusion_proof(merkle.head_leaf_hashes(heads), index)
    return {
        "checkpoint_id": checkpoint.pk,
        "chain_key": key,
        "length": length,
        "head_hash": head_hash,
        "leaf_index": index,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "audit_path": [node.hex() for node in proof],
    }
