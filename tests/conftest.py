"""Shared fixtures, and the rule for tests that need a real service.

A test that needs PostgreSQL, Redis, a Celery worker, clamd, an S3 endpoint or
Chromium asks for it with :func:`require_service`. On a developer machine without
the service the test is skipped with the reason; in CI (``CI=true``) it fails, so a
missing service can never turn the build green.
"""

from __future__ import annotations

import os
import socket

import pytest
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, available: bool, hint: str = "") -> None:
    if available:
        return
    message = f"{name} is not available{': ' + hint if hint else ''}"
    if IN_CI:
        pytest.fail(f"{message} (CI must provide every service)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres():
    """Skip (or fail in CI) unless the test database is PostgreSQL."""
    require_service(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/mynetspace",
    )
    return connection
