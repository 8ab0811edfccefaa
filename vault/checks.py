"""The vault's production requirements (``manage.py check --deploy``).

``vault.E001`` is left to the malware scanner's requirement (vault/scanning.py).
"""

from __future__ import annotations

from mynetspace.core.checks import production_requirement

from . import app_settings


@production_requirement(
    "vault.E002",
    hint="Set ENCRYPTION_KEYS (docs/deploy.md, Keys) or VAULT_KMS_KEY_ID for an AWS KMS key.",
)
def vault_master_key_set() -> str | None:
    if app_settings.kms_key_id():
        return None
    if app_settings.master_key_generated():
        return (
            "The vault's master key is a development key generated under var/keys: "
            "customers' documents would be protected by a key nobody manages."
        )
    return None


@production_requirement(
    "vault.E003",
    hint="Set VAULT_KMS_REGION, or give VAULT_KMS_KEY_ID as a full key ARN.",
)
def vault_kms_region_known() -> str | None:
    if app_settings.kms_key_id() and not app_settings.kms_region():
        return "VAULT_KMS_KEY_ID is set but no KMS region is known."
    return None
