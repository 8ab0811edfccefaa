"""The scanner's production requirement and its ``/healthz`` component.

Registered when this module is imported, from ``VaultConfig.ready()``:

* ``check --deploy`` fails without a scanner (``vault.E001``: documents would be
  stored "not scanned"), with a malformed ``CLAMD_URL``, or with a scan limit below
  the upload limit (``vault.E011``: large uploads could never become clean);
* ``/healthz`` gains a ``scanner`` component: ``not configured`` (healthy: the
  embedded default) or a PING to clamd within ``CLAMD_CONNECT_TIMEOUT``.
"""

from __future__ import annotations

from django.conf import settings

from mynetspace.core.checks import production_requirement
from mynetspace.core.health import HealthCheckFailed, register_health_check
from vault import scanning


@production_requirement(
    "vault.E001",
    hint="Set CLAMD_URL=tcp://HOST:3310 or unix:///run/clamav/clamd.ctl (docs/scanning.md).",
)
def scanner_configured() -> str | None:
    if not scanning.scanner_configured():
        return "No malware scanner is configured: vault documents would not be scanned."
    try:
        scanning.parse_clamd_url(settings.CLAMD_URL)
    except ValueError as exc:
        return f"CLAMD_URL is malformed: {exc}."
    return None


@production_requirement(
    "vault.E011",
    hint="Raise VAULT_SCAN_MAX_MB (and clamd's StreamMaxLength) to at least UPLOAD_MAX_MB.",
)
def scan_limit_covers_uploads() -> str | None:
    if settings.VAULT_SCAN_MAX_BYTES < settings.UPLOAD_MAX_BYTES:
        return (
            "VAULT_SCAN_MAX_MB is below UPLOAD_MAX_MB: the largest uploads would be "
            "refused by the scanner."
        )
    return None


def check_scanner() -> str:
    try:
        scanner = scanning.get_scanner()
    except ValueError as exc:
        raise HealthCheckFailed("CLAMD_URL is malformed") from exc
    if scanner is None:
        return "not configured"
    try:
        scanner.ping()
    except scanning.ScannerUnavailable as exc:
        raise HealthCheckFailed("clamd unreachable") from exc
    return "clamd"


register_health_check("scanner", check_scanner)
