"""Fixtures shared by the vault tests (defined in tests/vault/fixtures.py).

``vault_storage`` is autouse: every vault test writes blobs to its own temporary
directory, never to var/.
"""

from tests.vault.fixtures import (  # noqa: F401
    kms_key,
    moto,
    moto_endpoint,
    s3_vault,
    vault_storage,
)
