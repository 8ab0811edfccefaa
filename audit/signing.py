"""Ed25519 signatures of checkpoints.

The signed message is a fixed domain-separation prefix followed by the canonical
JSON of ``{created_at, key_id, root_hash, tree_size}``, so a checkpoint signature can
never be replayed as the signature of anything else. ``key_id`` is the first 16 hex
digits of SHA-256 over the raw 32-byte public key.

``settings.AUDIT_SIGNING_KEY`` is the base64 raw 32-byte private key in use;
``settings.AUDIT_TRUSTED_PUBLIC_KEYS`` lists base64 raw public keys of retired keys
whose older checkpoints are still trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from .hashing import canonical_json

SIGNATURE_DOMAIN = b"MyNetSpace audit checkpoint v1\n"


class SigningKeyError(ValueError):
    """The configured signing key (or a trusted public key) is not usable."""


def _b64decode(value: str, *, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"{what} is not valid base64") from exc
    if len(raw) != size:
        raise SigningKeyError(f"{what} must be {size} raw bytes, not {len(raw)}")
    return raw


def load_private_key(value: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        _b64decode(value, size=32, what="AUDIT_SIGNING_KEY")
    )


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def checkpoint_message(*, created_at: str, tree_size: int, root_hash: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return SIGNATURE_DOMAIN + canonical_json(
        {"created_at": created_at, "key_id": key_id, "root_hash": root_hash, "tree_size": tree_size}
    )


def current_signing_key() -> Ed25519PrivateKey:
    return load_private_key(settings.AUDIT_SIGNING_KEY)


def sign(private_key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(private_key.sign(message)).decode("ascii")


def verify(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    """True only if the signature is a valid Ed25519 signature of ``message`` by that key."""
    try:
        public = Ed25519PublicKey.from_public_bytes(
            _b64decode(public_key_b64, size=32, what="public key")
        )
        signature = _b64decode(signature_b64, size=64, what="signature")
        public.verify(signature, message)
    except (SigningKeyError, InvalidSignature, ValueError):
        return False
    return True


def trusted_public_keys() -> dict[str, str]:
    """``{key_id: base64 public key}`` of the current key and every retired trusted key."""
    keys = [base64.b64encode(public_key_raw(current_signing_key())).decode("ascii")]
    keys += [k.strip() for k in settings.AUDIT_TRUSTED_PUBLIC_KEYS if k.strip()]
    trusted = {}
    for value in keys:
        raw = _b64decode(value, size=32, what="trusted public key")
        trusted[key_id(raw)] = base64.b64encode(raw).decode("ascii")
    return trusted
