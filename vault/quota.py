"""How much a customer may keep in the vault.

The vault sits below ``subscriptions`` (DESIGN §3: a lower app never imports a
higher one), so the subscription app registers the quota of its plans here
(``register_quota_source`` in its ``AppConfig.ready()``). A source returns the
customer's quota in bytes, or ``None`` when it has nothing to say (no active
subscription): the free quota ``VAULT_FREE_QUOTA_MB`` applies then.

Decisions (docs/decisions.md, "Vault quota"):

- without an active subscription a customer keeps a small free quota, so that the
  documents they already hold stay readable and exportable (export is free and
  unlimited, CPCE L103) and a customer between two subscriptions is not locked out;
- documents the service itself deposits (sources ``service`` and ``staff``) are
  counted but never refused for quota: the service must always be able to hand over
  what it produced (invoices, answers to requests);
- usage counts every document not yet destroyed, trashed ones included (their blob
  is still stored until the trash is purged).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db.models import Sum

QuotaSource = Callable[[object], "int | None"]

_sources: list[QuotaSource] = []


def register_quota_source(func: QuotaSource) -> None:
    """Add ``func(user) -> bytes | None`` (idempotent); the first non-None answer wins."""
    if func not in _sources:
        _sources.append(func)


def unregister_quota_source(func: QuotaSource) -> None:
    if func in _sources:
        _sources.remove(func)


def free_quota_bytes() -> int:
    return settings.VAULT_FREE_QUOTA_MB * 1024 * 1024


def quota_bytes_for(user) -> int:
    """The customer's quota in bytes (the first registered source, else the free quota)."""
    for source in _sources:
        value = source(user)
        if value is not None:
            return int(value)
    return free_quota_bytes()


def usage_bytes_for(user) -> int:
    """Plaintext bytes of every document of ``user`` not yet destroyed (one query)."""
    from .models import Document

    total = Document.objects.filter(owner=user).not_destroyed().aggregate(total=Sum("size"))
    return int(total["total"] or 0)
