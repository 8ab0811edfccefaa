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

# SMTP server, private Redis, Celery worker fixtures (tests/fixtures/services.py);
# clamd with the EICAR test signature (tests/fixtures/clamd.py).
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.clamd"]

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


def _flush_past_evidence_triggers():
    """Let the test runner empty a PostgreSQL test database despite the audit triggers.

    The evidence tables refuse TRUNCATE (audit migration 0002), and transactional
    tests flush the database with TRUNCATE. The test database is owned by a
    superuser, so the flush alone runs with ``session_replication_role = replica``
    (``SET LOCAL``: ordinary triggers stay active for everything else, which
    tests/audit/test_triggers.py checks).
    """
    from django.db import transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    def execute_sql_flush(self, sql_list):
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for sql in sql_list:
                cursor.execute(sql)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_past_evidence_triggers()


@pytest.fixture(autouse=True)
def _default_language():
    """Start and end every test in the default language.

    LocaleMiddleware activates the request's language for the thread and never
    deactivates it, so one English request would turn later tests English.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
