"""The master key ring: AES-256-GCM keys with ids, for secrets encrypted at rest.

``ENCRYPTION_KEYS`` lists ``id:base64key`` pairs separated by commas; the first is
the current key (new encryptions), the others stay readable so that a rotation is:
put a new key first, re-encrypt (each consumer has its command, e.g. the vault's
``vault_rotate_keys``), then drop the old key. Tokens name the key that made them:

    mns1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>

``aad`` binds a token to its place (e.g. ``b"mfa:totp:42"``): a token copied to
another row or purpose does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

TOKEN_PREFIX = "mns1"  # noqa: S105 (a format marker, not a secret)
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyRingError(ValueError):
    """The key ring is malformed, or a token cannot be decrypted with it."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    current_id: str

    @classmethod
    def parse(cls, value: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not _KEY_ID_RE.match(key_id):
                raise KeyRingError(f"key ring entry {key_id!r}: expected id:base64key")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise KeyRingError(f"key {key_id!r} is not valid base64") from exc
            if len(raw) != 32:
                raise KeyRingError(f"key {key_id!r} must be 32 bytes, not {len(raw)}")
            if key_id in keys:
                raise KeyRingError(f"key id {key_id!r} appears twice")
            keys[key_id] = raw
            order.append(key_id)
        if not order:
            raise KeyRingError("the key ring is empty")
        return cls(keys=keys, current_id=order[0])

    def encrypt(self, plaintext: bytes, *, aad: bytes = b"") -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext, aad)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{TOKEN_PREFIX}.{self.current_id}.{body}"

    def decrypt(self, token: str, *, aad: bytes = b"") -> bytes:
        try:
            prefix, key_id, body = token.split(".", 2)
        except ValueError as exc:
            raise KeyRingError("not an encrypted token") from exc
        if prefix != TOKEN_PREFIX:
            raise KeyRingError("not an encrypted token")
        if key_id not in self.keys:
            raise KeyRingError(f"key {key_id!r} is not in the key ring")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return AESGCM(self.keys[key_id]).decrypt(blob[:12], blob[12:], aad)
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise KeyRingError("the token does not decrypt (altered, or another place)") from exc

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self.current_id]


@cache
def _parsed(value: str) -> KeyRing:
    return KeyRing.parse(value)


def keyring() -> KeyRing:
    """The key ring from ``settings.ENCRYPTION_KEYS`` (parsed once per value)."""
    return _parsed(settings.ENCRYPTION_KEYS)


def encrypt(plaintext: bytes, *, aad: bytes = b"") -> str:
    return keyring().encrypt(plaintext, aad=aad)


def decrypt(token: str, *, aad: bytes = b"") -> bytes:
    return keyring().decrypt(token, aad=aad)
