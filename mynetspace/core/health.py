"""Health of the services the product depends on, served as JSON at ``/healthz``.

Each component is a function registered with :func:`register_health_check`; it
returns a short detail on success and raises on failure. The view answers 200 when
every component is healthy and 503 otherwise. The answer names each component with
its ``ok`` flag and a short, safe detail: on failure only the exception's class
name (or the message of a :class:`HealthCheckFailed`), never a message that could
carry a host, a user name or a password, and never a traceback; the full error is
logged. Every probe uses short timeouts so that the endpoint never hangs.

Apps add their own components in ``AppConfig.ready()``, e.g. the vault's scanner::

    register_health_check("scanner", check_scanner)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0
PROBE_DIRECTORY = "healthz"


class HealthCheckFailed(Exception):
    """A failure whose message is safe to show publicly."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str
    duration_ms: int

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
        }


_checks: dict[str, Callable[[], str]] = {}


def register_health_check(name: str, check: Callable[[], str]) -> None:
    """Add (or replace) the component ``name``; ``check()`` returns a detail or raises."""
    _checks[name] = check


def health_check_names() -> list[str]:
    return list(_checks)


def run_health_checks() -> list[ComponentStatus]:
    results = []
    for name, check in _checks.items():
        started = time.monotonic()
        try:
            detail, ok = check() or "ok", True
        except HealthCheckFailed as exc:
            detail, ok = str(exc)[:200], False
        except Exception as exc:
            logger.warning("Health check %s failed", name, exc_info=True)
            detail, ok = type(exc).__name__, False
        results.append(
            ComponentStatus(
                name=name,
                ok=ok,
                detail=detail,
                duration_ms=round((time.monotonic() - started) * 1000),
            )
        )
    return results


@never_cache
def healthz_view(request):
    results = run_health_checks()
    healthy = all(result.ok for result in results)
    return JsonResponse(
        {
            "status": "ok" if healthy else "error",
            "components": [result.as_dict() for result in results],
        },
        status=200 if healthy else 503,
    )


# --- The platform's components ----------------------------------------------------------


def check_database() -> str:
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise HealthCheckFailed("unexpected answer to SELECT 1")
    return connection.vendor


def check_cache() -> str:
    cache = caches["default"]
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    try:
        if cache.get(key) != "1":
            raise HealthCheckFailed("value written was not read back")
    finally:
        cache.delete(key)
    if getattr(cache, "degraded", False):
        # mynetspace/core/cache.py: pages keep working from process memory.
        raise HealthCheckFailed("Redis unreachable, each process uses its own memory")
    return cache.__class__.__name__


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER or settings.CELERY_BROKER_URL.startswith("memory://"):
        return "eager"
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options={
            **getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        },
    ) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )
    return "connected"


def check_storage() -> str:
    storage = storages["default"]
    payload = uuid.uuid4().hex.encode()
    name = storage.save(f"{PROBE_DIRECTORY}/probe-{uuid.uuid4().hex}.txt", ContentFile(payload))
    try:
        with storage.open(name, "rb") as stored:
            if stored.read() != payload:
                raise HealthCheckFailed("file written was not read back")
    finally:
        storage.delete(name)
    return storage.__class__.__name__


register_health_check("database", check_database)
register_health_check("cache", check_cache)
register_health_check("broker", check_broker)
register_health_check("storage", check_storage)
