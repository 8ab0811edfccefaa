"""System checks for missing production requirements (see docs/deploy.md).

Two kinds of rule live here:

* **Production requirements**, run by ``manage.py check --deploy``: each is a small
  function that returns a problem description (or ``None``) and is declared with
  :func:`production_requirement`. Any app adds its own the same way in its
  ``checks.py``, imported from its ``AppConfig.ready()``::

      from mynetspace.core.checks import production_requirement

      @production_requirement("vault.E001", hint="Set CLAMD_URL ...")
      def scanner_configured():
          if not settings.CLAMD_URL:
              return "No malware scanner is configured."
          return None

* **Always-on checks** (every ``manage.py`` command, ``runserver`` included): the
  loud warning when development keys are in use, and the refusal of a malformed
  audit signing key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from mynetspace.core import keyring


@dataclass(frozen=True)
class Requirement:
    id: str
    check: Callable[[], str | None]
    hint: str


_requirements: dict[str, Requirement] = {}


def production_requirement(check_id: str, *, hint: str):
    """Declare a rule that ``check --deploy`` reports as an Error when it is broken.

    The decorated function takes no argument and returns a sentence describing the
    problem, or ``None`` when the requirement is met.
    """

    def decorator(func: Callable[[], str | None]) -> Callable[[], str | None]:
        _requirements[check_id] = Requirement(id=check_id, check=func, hint=hint)
        return func

    return decorator


def production_requirements() -> list[Requirement]:
    return list(_requirements.values())


@checks.register(checks.Tags.security, deploy=True)
def check_production_requirements(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for requirement in production_requirements():
        problem = requirement.check()
        if problem:
            errors.append(checks.Error(problem, hint=requirement.hint, id=requirement.id))
    return errors


# --- Always-on checks --------------------------------------------------------------


def audit_signing_key_problem(value: str) -> str | None:
    """Why ``value`` is not a base64-encoded raw Ed25519 private key, or None."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "AUDIT_SIGNING_KEY is not valid base64."
    if len(raw) != 32:
        return f"AUDIT_SIGNING_KEY decodes to {len(raw)} bytes; an Ed25519 key has 32."
    return None


@checks.register(checks.Tags.security)
def check_audit_signing_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = audit_signing_key_problem(settings.AUDIT_SIGNING_KEY)
    if problem:
        return [
            checks.Error(
                problem,
                hint="Generate one with the command given in docs/deploy.md (Keys).",
                id="mynetspace.E004",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_development_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    generated = [
        name
        for name, flag in (
            ("SECRET_KEY", settings.SECRET_KEY_GENERATED),
            ("AUDIT_SIGNING_KEY", settings.AUDIT_SIGNING_KEY_GENERATED),
            ("ENCRYPTION_KEYS", settings.ENCRYPTION_KEYS_GENERATED),
        )
        if flag
    ]
    if not generated:
        return []
    return [
        checks.Warning(
            "DEVELOPMENT KEYS IN USE: {} generated under {}. Fine on a developer "
            "machine, never in production.".format(", ".join(generated), settings.KEYS_DIR),
            hint="Set them in the environment (docs/deploy.md, Keys).",
            id="mynetspace.W001",
        )
    ]


# --- Production requirements of the platform ------------------------------------------------


def database_engine() -> str:
    return settings.DATABASES["default"]["ENGINE"]


NON_DELIVERING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@production_requirement("mynetspace.E001", hint="Set DEBUG=false.")
def debug_off() -> str | None:
    return "DEBUG is on." if settings.DEBUG else None


@production_requirement(
    "mynetspace.E002", hint="Set SECRET_KEY (at least 50 random characters, docs/deploy.md)."
)
def secret_key_set() -> str | None:
    if settings.SECRET_KEY_GENERATED:
        return "SECRET_KEY is a development key generated under var/keys."
    return None


@production_requirement(
    "mynetspace.E003", hint="Set AUDIT_SIGNING_KEY to a base64 Ed25519 key (docs/deploy.md)."
)
def audit_signing_key_set() -> str | None:
    if settings.AUDIT_SIGNING_KEY_GENERATED:
        return "AUDIT_SIGNING_KEY is a development key generated under var/keys."
    return None


@production_requirement(
    "mynetspace.E011",
    hint="Set ENCRYPTION_KEYS=id:base64key (32 random bytes; docs/deploy.md, Keys).",
)
def encryption_keys_set() -> str | None:
    if settings.ENCRYPTION_KEYS_GENERATED:
        return "ENCRYPTION_KEYS is a development key ring generated under var/keys."
    try:
        keyring.keyring()
    except keyring.KeyRingError as exc:
        return f"ENCRYPTION_KEYS is malformed: {exc}."
    return None


@production_requirement(
    "mynetspace.E005", hint="Set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME."
)
def database_is_postgresql() -> str | None:
    engine = database_engine()
    if engine != "django.db.backends.postgresql":
        return f"The database is {engine.rsplit('.', 1)[-1]}; production runs on PostgreSQL."
    return None


@production_requirement(
    "mynetspace.E006",
    hint="Set REDIS_URL (broker and cache) and leave CELERY_TASK_ALWAYS_EAGER unset.",
)
def broker_configured() -> str | None:
    if settings.CELERY_TASK_ALWAYS_EAGER or settings.CELERY_BROKER_URL.startswith("memory://"):
        return "No Celery broker: tasks run eagerly inside web requests."
    return None


@production_requirement("mynetspace.E007", hint="Set REDIS_URL.")
def cache_shared() -> str | None:
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in PROCESS_LOCAL_CACHES:
        return "The cache is local to each process; production shares one Redis cache."
    return None


@production_requirement("mynetspace.E008", hint="Set EMAIL_URL=smtp+tls://USER:PASSWORD@HOST:587.")
def email_delivered() -> str | None:
    if settings.EMAIL_BACKEND in NON_DELIVERING_EMAIL_BACKENDS:
        return f"Emails are not delivered (backend {settings.EMAIL_BACKEND})."
    return None


@production_requirement(
    "mynetspace.E009", hint="Set ALLOWED_HOSTS to the public host names, comma-separated."
)
def allowed_hosts_explicit() -> str | None:
    if not settings.ALLOWED_HOSTS:
        return "ALLOWED_HOSTS is empty."
    if "*" in settings.ALLOWED_HOSTS:
        return "ALLOWED_HOSTS accepts any host ('*')."
    return None


@production_requirement("mynetspace.E010", hint="Set SITE_URL=https://your.domain.")
def site_url_https() -> str | None:
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme != "https" or not parts.hostname:
        return f"SITE_URL ({settings.SITE_URL}) is not an https:// address."
    return None
