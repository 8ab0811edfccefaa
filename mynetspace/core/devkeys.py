"""Development keys for the embedded set-up.

With no environment set, the product still needs a Django secret key and an audit
signing key. They are generated once under ``var/keys/`` and reused, so that a
developer's data stays readable across restarts. A system check warns loudly
whenever one of them is in use, and ``check --deploy`` refuses them.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path


def _read_or_create(path: Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Written with owner-only permissions: even a development key is a secret.
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(value + "\n")
    return value


def dev_secret_key(keys_dir: Path) -> str:
    return _read_or_create(keys_dir / "django-secret-key", lambda: secrets.token_urlsafe(50))


def dev_audit_signing_key(keys_dir: Path) -> str:
    """A base64-encoded raw Ed25519 private key (32 bytes)."""
    return _read_or_create(
        keys_dir / "audit-signing-key",
        lambda: base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    )


def dev_encryption_keys(keys_dir: Path) -> str:
    """A one-key ring, ``dev1:<base64 of 32 random bytes>``, in ENCRYPTION_KEYS format."""
    return _read_or_create(
        keys_dir / "encryption-keys",
        lambda: "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    )
