"""Helpers shared by the audit tests: run audit_verify, tamper with raw SQL."""

from __future__ import annotations

import io
from contextlib import contextmanager

from django.core.management import call_command
from django.db import connection


def run_verify() -> tuple[int, str]:
    """Run ``manage.py audit_verify``; returns (exit code, stdout + stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue() + err.getvalue()


@contextmanager
def tampering():
    """A cursor that bypasses the evidence triggers (PostgreSQL superuser), like an attacker
    with direct database access would; on SQLite there are no triggers to bypass."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
