"""/healthz: what a load balancer or an operator reads to know the service is whole."""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.db.utils import load_backend

from mynetspace.core import health
from tests.conftest import port_open, require_service


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def components(response) -> dict[str, dict]:
    return {c["name"]: c for c in response.json()["components"]}


@pytest.fixture(autouse=True)
def probe_storage(settings, tmp_path):
    """Probe files go to a private directory, never to the developer's var/media."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BROKER_URL = "memory://"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.mark.django_db
def test_healthy_service_answers_200_with_every_component(client, eager, probe_storage):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    body = response.json()
    assert body["status"] == "ok"
    found = components(response)
    assert set(found) >= {"database", "cache", "broker", "storage"}
    assert all(c["ok"] for c in found.values())
    assert found["broker"]["detail"] == "eager"
    assert list(probe_storage.rglob("*.txt")) == [], "the probe file is deleted"


@pytest.mark.django_db
def test_database_down_is_503(client, eager, monkeypatch):
    """GIVEN the database does not answer (a closed port, or an unopenable file)
    THEN /healthz is 503, database is false with the error class only, the rest ok."""
    settings_dict = dict(connections["default"].settings_dict)
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        settings_dict["NAME"] = "/nonexistent-directory/db.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    broken = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    monkeypatch.setattr(health, "connections", {"default": broken})
    try:
        response = client.get("/healthz")
    finally:
        broken.close()

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    found = components(response)
    assert found["database"]["ok"] is False
    assert found["database"]["detail"] == "OperationalError"
    assert all(found[name]["ok"] for name in ("cache", "broker", "storage"))


@pytest.mark.django_db
def test_cache_down_is_503(client, eager, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = client.get("/healthz")

    assert response.status_code == 503
    found = components(response)
    assert found["cache"]["ok"] is False
    assert found["cache"]["detail"] == "ConnectionError"
    assert found["database"]["ok"] and found["storage"]["ok"]


@pytest.mark.django_db
def test_broker_down_is_503_quickly(client, eager, settings):
    port = closed_port()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{port}/0"

    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    found = components(response)
    assert found["broker"]["ok"] is False
    assert elapsed < 5
    text = response.content.decode()
    assert "hunter2" not in text and str(port) not in text, "no secret, no address"
    assert "Traceback" not in text


@pytest.mark.django_db
def test_storage_unwritable_is_503(client, eager, settings, tmp_path):
    """A location below a regular file cannot be created, even by root."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "media")},
        },
    }
    response = client.get("/healthz")

    assert response.status_code == 503
    found = components(response)
    assert found["storage"]["ok"] is False
    assert found["storage"]["detail"] in {"NotADirectoryError", "FileExistsError"}
    assert found["database"]["ok"] and found["cache"]["ok"] and found["broker"]["ok"]


@pytest.mark.django_db
def test_registered_components_are_reported_and_safe(client, eager):
    """GIVEN an app registers a component (as the vault will for its scanner)
    THEN it appears; a HealthCheckFailed message is shown, any other message is not."""

    def scanner_down():
        raise health.HealthCheckFailed("clamd ne répond pas")

    def leaky():
        raise RuntimeError("password=hunter2")

    registered = dict(health._checks)  # the real scanner component comes back after
    health.register_health_check("scanner", scanner_down)
    health.register_health_check("leaky", leaky)
    try:
        response = client.get("/healthz")
    finally:
        health._checks.clear()
        health._checks.update(registered)

    assert response.status_code == 503
    found = components(response)
    assert found["scanner"] == {**found["scanner"], "ok": False, "detail": "clamd ne répond pas"}
    assert found["leaky"]["detail"] == "RuntimeError"
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_healthz_is_exempt_from_the_https_redirect(client, eager, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/").status_code == 301
    assert client.get("/healthz").status_code == 200


@pytest.mark.redis
@pytest.mark.django_db
def test_real_redis_broker_and_cache_are_ok(client, settings):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/5"
    parts = urlsplit(url)
    require_service("Redis", port_open(parts.hostname, parts.port or 6379), "set REDIS_URL")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "mns-test-health",
        }
    }
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    found = components(response)
    assert found["broker"] == {**found["broker"], "ok": True, "detail": "connected"}
    assert found["cache"] == {**found["cache"], "ok": True, "detail": "RedisCache"}
