"""`manage.py check --deploy` refuses every missing production requirement."""

from __future__ import annotations

import base64
import re

import pytest
from django.core import checks

from mynetspace.core import checks as core_checks
from tests.core.envs import clean_env, manage, production_env

EMBEDDED_DEFAULT_ERRORS = {
    "mynetspace.E001",  # DEBUG on
    "mynetspace.E002",  # generated SECRET_KEY
    "mynetspace.E003",  # generated audit signing key
    "mynetspace.E005",  # SQLite
    "mynetspace.E006",  # no broker
    "mynetspace.E007",  # process-local cache
    "mynetspace.E008",  # console email
    "mynetspace.E010",  # SITE_URL not https
}


def reported_ids(output: str) -> set[str]:
    return set(re.findall(r"\(([a-z_]+\.[EW]\d{3})\)", output))


def test_check_deploy_fails_with_the_embedded_defaults(tmp_path):
    result = manage("check", "--deploy", env=clean_env(tmp_path))

    assert result.returncode != 0
    ids = reported_ids(result.stderr)
    assert ids >= EMBEDDED_DEFAULT_ERRORS
    assert "mynetspace.W001" in ids


def test_check_deploy_passes_with_a_complete_production_environment(tmp_path):
    """GIVEN every production variable set (services need not answer for checks)
    WHEN check --deploy runs, failing on warnings too
    THEN it exits 0 with no issue at all, Django's security checks included, and
    nothing silenced."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_runserver_start_warns_loudly_about_development_keys(tmp_path):
    """`runserver` runs the same system checks as `check` before serving."""
    result = manage("check", env=clean_env(tmp_path))

    assert result.returncode == 0
    expected = "DEVELOPMENT KEYS IN USE: SECRET_KEY, AUDIT_SIGNING_KEY, ENCRYPTION_KEYS"
    assert expected in result.stderr


def test_a_malformed_audit_signing_key_stops_every_command(tmp_path):
    short_key = base64.b64encode(b"x" * 16).decode()
    result = manage("check", env=clean_env(tmp_path, AUDIT_SIGNING_KEY=short_key))

    assert result.returncode != 0
    assert "(mynetspace.E004) AUDIT_SIGNING_KEY decodes to 16 bytes" in result.stderr


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"k" * 31).decode(), "31 bytes"),
        (base64.b64encode(b"k" * 64).decode(), "64 bytes"),
        ("", "0 bytes"),
    ],
)
def test_audit_signing_key_validation(value, problem):
    assert problem in core_checks.audit_signing_key_problem(value)


def test_a_valid_audit_signing_key_passes():
    assert core_checks.audit_signing_key_problem(base64.b64encode(b"k" * 32).decode()) is None


# --- Each requirement on its own, in-process, from an otherwise good production set-up ---


@pytest.fixture
def production_settings(settings, monkeypatch):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = False
    settings.AUDIT_SIGNING_KEY_GENERATED = False
    settings.AUDIT_SIGNING_KEY = base64.b64encode(b"k" * 32).decode()
    settings.ENCRYPTION_KEYS_GENERATED = False
    settings.ENCRYPTION_KEYS = "k1:" + base64.b64encode(b"m" * 32).decode()
    # DATABASES cannot be overridden safely while the test database is open.
    monkeypatch.setattr(core_checks, "database_engine", lambda: "django.db.backends.postgresql")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://redis.internal:6379/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://redis.internal:6379/0",
        }
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.ALLOWED_HOSTS = ["mynetspace.example"]
    settings.SITE_URL = "https://mynetspace.example"
    return settings


def our_errors() -> set[str]:
    return {
        message.id
        for message in checks.run_checks(include_deployment_checks=True)
        if message.id.startswith("mynetspace.") and message.level >= checks.ERROR
    }


def test_good_production_settings_raise_none_of_our_errors(production_settings):
    assert our_errors() == set()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DEBUG": True}, "mynetspace.E001"),
        ({"SECRET_KEY_GENERATED": True}, "mynetspace.E002"),
        ({"AUDIT_SIGNING_KEY_GENERATED": True}, "mynetspace.E003"),
        ({"AUDIT_SIGNING_KEY": "dG9vIHNob3J0"}, "mynetspace.E004"),
        ({"ENCRYPTION_KEYS_GENERATED": True}, "mynetspace.E011"),
        ({"ENCRYPTION_KEYS": "k1:dG9vIHNob3J0"}, "mynetspace.E011"),
        ({"CELERY_TASK_ALWAYS_EAGER": True}, "mynetspace.E006"),
        ({"CELERY_BROKER_URL": "memory://"}, "mynetspace.E006"),
        (
            {"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}},
            "mynetspace.E007",
        ),
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "mynetspace.E008"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}, "mynetspace.E008"),
        ({"ALLOWED_HOSTS": []}, "mynetspace.E009"),
        ({"ALLOWED_HOSTS": ["mynetspace.example", "*"]}, "mynetspace.E009"),
        ({"SITE_URL": "http://mynetspace.example"}, "mynetspace.E010"),
        ({"SITE_URL": "https://"}, "mynetspace.E010"),
    ],
)
def test_each_missing_requirement_is_an_error(production_settings, change, expected):
    for name, value in change.items():
        setattr(production_settings, name, value)

    assert our_errors() == {expected}


def test_sqlite_is_refused(production_settings, monkeypatch):
    monkeypatch.setattr(core_checks, "database_engine", lambda: "django.db.backends.sqlite3")
    assert our_errors() == {"mynetspace.E005"}


def test_apps_add_their_own_requirements(production_settings):
    """GIVEN an app declaring a production requirement of its own (as the vault will)
    WHEN it is not met
    THEN check --deploy reports it with its id and hint, like ours."""

    @core_checks.production_requirement("vault.E999", hint="Set CLAMD_URL.")
    def scanner_configured():
        return "No malware scanner is configured."

    try:
        messages = [
            m for m in checks.run_checks(include_deployment_checks=True) if m.id == "vault.E999"
        ]
    finally:
        core_checks._requirements.pop("vault.E999")

    assert len(messages) == 1
    assert messages[0].level == checks.ERROR
    assert messages[0].hint == "Set CLAMD_URL."


def test_requirements_are_not_run_outside_deploy_checks(production_settings):
    production_settings.DEBUG = True
    ids = {m.id for m in checks.run_checks(include_deployment_checks=False)}
    assert "mynetspace.E001" not in ids
