"""Settings private to the vault, read from ``django.conf.settings`` at each use.

Read at each use rather than once at import, so that tests (and the management
commands of one process) see the value in force. Every name is set in
``mynetspace/settings.py`` and documented in ``.env.example``.
"""

from __future__ import annotations

from django.conf import settings

#: The storage alias (``settings.STORAGES``) holding encrypted blobs. Only ciphertext.
STORAGE_ALIAS = "vault"


def kms_key_id() -> str:
    """AWS KMS key wrapping the per-user keys; empty: the master key ring does."""
    return settings.VAULT_KMS_KEY_ID


def kms_region() -> str:
    """KMS region; empty: taken from the key ARN (``arn:aws:kms:<region>:...``)."""
    if settings.VAULT_KMS_REGION:
        return settings.VAULT_KMS_REGION
    parts = settings.VAULT_KMS_KEY_ID.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms":
        return parts[3]
    return ""


def kms_endpoint_url() -> str | None:
    """A KMS-compatible endpoint (tests point it at a local moto server)."""
    return settings.VAULT_KMS_ENDPOINT_URL or None


def kms_credentials() -> tuple[str | None, str | None]:
    """Explicit KMS credentials, or (None, None) for boto3's default chain."""
    return (
        settings.VAULT_KMS_ACCESS_KEY_ID or None,
        settings.VAULT_KMS_SECRET_ACCESS_KEY or None,
    )


def master_key_generated() -> bool:
    """True when the master key ring was generated under var/keys (development)."""
    return settings.ENCRYPTION_KEYS_GENERATED
