"""The vault's key hierarchy: master key -> per-user key -> per-document data key.

- **Master key**, behind :class:`MasterKeyProvider`: the environment key ring
  (:mod:`mynetspace.core.keyring`, ``ENCRYPTION_KEYS``) or an AWS KMS key
  (``VAULT_KMS_KEY_ID``). It only ever wraps user keys, bound to the user's id (the
  key ring's AAD, KMS's EncryptionContext), so a wrapped key copied to another user
  does not unwrap.
- **User key**: 32 random bytes per customer (:class:`vault.models.UserKey`), stored
  wrapped. Destroying it makes every document of the customer unreadable.
- **Data key**: 32 random bytes per document, wrapped by the user key with
  AES-256-GCM, the AAD binding owner, document and user-key version
  (docs/vault-format.md, "Wrapped data key").

Nothing here writes to the database: the services (vault/services.py) do.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import struct
import uuid
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.utils.translation import gettext_lazy as _

from mynetspace.core import keyring
from mynetspace.core.errors import DomainError

from . import app_settings
from .crypto import KEY_SIZE, BlobIntegrityError
from .models import MasterKeyProvider as ProviderName
from .models import UserKey

KMS_CONTEXT_PURPOSE = "mynetspace-vault-user-key"
DATA_KEY_FORMAT = 1
_DATA_KEY_NONCE = 12
WRAPPED_DATA_KEY_SIZE = 1 + _DATA_KEY_NONCE + KEY_SIZE + 16


class MasterKeyError(Exception):
    """The master key could not wrap or unwrap (KMS unreachable or refusing, key ring
    missing the key...). Operational: the message names the cause, never key material."""


class KeyDestroyed(DomainError):
    """The customer's vault key was destroyed (account closed): nothing can be decrypted."""

    def __init__(self) -> None:
        super().__init__(
            _("Les clés de ce coffre ont été détruites : ses documents sont illisibles."),
            "vault_key_destroyed",
        )


class KeyVersionGone(DomainError):
    """The user-key version a data key was wrapped with no longer exists (rotated)."""

    def __init__(self) -> None:
        super().__init__(
            _("La clé du coffre vient d'être renouvelée : veuillez réessayer."),
            "vault_key_rotated",
        )


@dataclass(frozen=True)
class WrappedUserKey:
    provider: str
    master_key_id: str
    wrapped: str


class MasterKeyProvider(Protocol):
    name: str

    def current_key_id(self) -> str: ...

    def wrap(self, key: bytes, *, user_id: int) -> WrappedUserKey: ...

    def unwrap(self, wrapped: WrappedUserKey, *, user_id: int) -> bytes: ...


def _keyring_aad(user_id: int) -> bytes:
    return f"vault:user-key:{user_id}".encode()


class KeyRingProvider:
    """The environment key ring; the token names the key id that wrapped it."""

    name = ProviderName.KEYRING

    def current_key_id(self) -> str:
        return keyring.keyring().current_id

    def wrap(self, key: bytes, *, user_id: int) -> WrappedUserKey:
        ring = keyring.keyring()
        token = ring.encrypt(key, aad=_keyring_aad(user_id))
        return WrappedUserKey(self.name, ring.current_id, token)

    def unwrap(self, wrapped: WrappedUserKey, *, user_id: int) -> bytes:
        try:
            key = keyring.decrypt(wrapped.wrapped, aad=_keyring_aad(user_id))
        except keyring.KeyRingError as exc:
            raise MasterKeyError(f"key ring: {exc}") from exc
        return _checked_key(key)


class KmsProvider:
    """An AWS KMS symmetric key; the EncryptionContext binds the user id."""

    name = ProviderName.KMS

    def current_key_id(self) -> str:
        return app_settings.kms_key_id()

    @staticmethod
    def _context(user_id: int) -> dict[str, str]:
        return {"purpose": KMS_CONTEXT_PURPOSE, "user_id": str(user_id)}

    def wrap(self, key: bytes, *, user_id: int) -> WrappedUserKey:
        key_id = self.current_key_id()
        if not key_id:
            raise MasterKeyError("VAULT_KMS_KEY_ID is not set")
        answer = _kms_call(
            "Encrypt", KeyId=key_id, Plaintext=key, EncryptionContext=self._context(user_id)
        )
        blob = base64.b64encode(answer["CiphertextBlob"]).decode("ascii")
        # The configured identifier (alias or ARN) is kept, not the resolved ARN, so that
        # "wrapped under the current key" compares like with like.
        return WrappedUserKey(self.name, key_id, blob)

    def unwrap(self, wrapped: WrappedUserKey, *, user_id: int) -> bytes:
        try:
            blob = base64.b64decode(wrapped.wrapped, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MasterKeyError("KMS: the wrapped key is not valid base64") from exc
        answer = _kms_call(
            "Decrypt",
            CiphertextBlob=blob,
            KeyId=wrapped.master_key_id,
            EncryptionContext=self._context(user_id),
        )
        return _checked_key(answer["Plaintext"])


def _checked_key(key: bytes) -> bytes:
    if len(key) != KEY_SIZE:
        raise MasterKeyError(f"an unwrapped user key has {len(key)} bytes, not {KEY_SIZE}")
    return key


@functools.cache
def _kms_client(region: str, endpoint_url: str | None, access: str | None, secret: str | None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "kms",
        region_name=region or None,
        endpoint_url=endpoint_url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3}),
    )


def kms_client():
    """The boto3 KMS client for the current settings (one per configuration)."""
    access, secret = app_settings.kms_credentials()
    return _kms_client(app_settings.kms_region(), app_settings.kms_endpoint_url(), access, secret)


def _kms_call(operation: str, **params) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = kms_client()
        method = {"Encrypt": client.encrypt, "Decrypt": client.decrypt}[operation]
        return method(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise MasterKeyError(f"KMS {operation} refused: {code}") from exc
    except BotoCoreError as exc:
        raise MasterKeyError(f"KMS {operation} failed: {type(exc).__name__}") from exc


_PROVIDERS: dict[str, MasterKeyProvider] = {
    ProviderName.KEYRING: KeyRingProvider(),
    ProviderName.KMS: KmsProvider(),
}


def current_provider() -> MasterKeyProvider:
    """KMS when ``VAULT_KMS_KEY_ID`` is set, the key ring otherwise."""
    return _PROVIDERS[ProviderName.KMS if app_settings.kms_key_id() else ProviderName.KEYRING]


def provider_named(name: str) -> MasterKeyProvider:
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise MasterKeyError(f"unknown master key provider {name!r}") from None


def wrapped_under_current_master(provider: str, master_key_id: str) -> bool:
    """Whether a user key wrapped by (provider, key id) needs no re-wrap."""
    current = current_provider()
    return provider == current.name and master_key_id == current.current_key_id()


# --- User keys ------------------------------------------------------------------------


def new_user_key() -> bytes:
    return os.urandom(KEY_SIZE)


def wrap_user_key(key: bytes, *, user_id: int) -> WrappedUserKey:
    """Wrap ``key`` under the current master key."""
    return current_provider().wrap(key, user_id=user_id)


def unwrap_wrapped(wrapped: WrappedUserKey, *, user_id: int) -> bytes:
    return provider_named(wrapped.provider).unwrap(wrapped, user_id=user_id)


def user_key_slot(user_key: UserKey, *, version: int) -> WrappedUserKey:
    """The wrapped user key of ``version`` (current or, during a rotation, previous)."""
    if user_key.is_destroyed:
        raise KeyDestroyed()
    if version == user_key.version:
        return WrappedUserKey(user_key.provider, user_key.master_key_id, user_key.wrapped_key)
    if user_key.previous_version is not None and version == user_key.previous_version:
        return WrappedUserKey(
            user_key.previous_provider,
            user_key.previous_master_key_id,
            user_key.previous_wrapped_key,
        )
    raise KeyVersionGone()


def user_key_material(user_key: UserKey, *, version: int) -> bytes:
    """The plaintext user key of ``version``. Keep it in a local variable, never longer."""
    return unwrap_wrapped(user_key_slot(user_key, version=version), user_id=user_key.user_id)


# --- Data keys ------------------------------------------------------------------------

_DATA_KEY_AAD = struct.Struct(">B16sQI")


def _data_key_aad(owner_id: int, document_uuid: uuid.UUID, key_version: int) -> bytes:
    return b"mynetspace-vault-data-key" + _DATA_KEY_AAD.pack(
        DATA_KEY_FORMAT, document_uuid.bytes, owner_id, key_version
    )


def wrap_data_key(
    data_key: bytes,
    *,
    user_key: bytes,
    owner_id: int,
    document_uuid: uuid.UUID,
    key_version: int,
) -> bytes:
    """``0x01 ‖ nonce (12) ‖ AES-256-GCM(user_key, data_key, aad)`` (61 bytes)."""
    nonce = os.urandom(_DATA_KEY_NONCE)
    aad = _data_key_aad(owner_id, document_uuid, key_version)
    return bytes([DATA_KEY_FORMAT]) + nonce + AESGCM(user_key).encrypt(nonce, data_key, aad)


def unwrap_data_key(
    wrapped: bytes,
    *,
    user_key: bytes,
    owner_id: int,
    document_uuid: uuid.UUID,
    key_version: int,
) -> bytes:
    wrapped = bytes(wrapped)
    if len(wrapped) != WRAPPED_DATA_KEY_SIZE or wrapped[0] != DATA_KEY_FORMAT:
        raise BlobIntegrityError("bad_wrapped_key", "the wrapped data key is malformed")
    nonce, sealed = wrapped[1 : 1 + _DATA_KEY_NONCE], wrapped[1 + _DATA_KEY_NONCE :]
    try:
        return AESGCM(user_key).decrypt(
            nonce, sealed, _data_key_aad(owner_id, document_uuid, key_version)
        )
    except InvalidTag:
        raise BlobIntegrityError(
            "bad_wrapped_key", "the wrapped data key does not open with the owner's key"
        ) from None
