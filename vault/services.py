"""Vault state changes. Each runs in one transaction and writes its audit event there.

This module holds the key services (user keys, rotation, crypto-shredding); the
upload pipeline, sharing and export services build on them and on vault/blobs.py.
Key material only ever lives in local variables; rows hold wrapped keys.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.context import RequestMeta
from audit.services import record
from mynetspace.core.errors import InvalidState

from . import keys
from .models import Document, UserKey


def user_key_get_or_create(*, user) -> UserKey:
    """The customer's live vault key, created (and recorded) on first use.

    Raises :class:`keys.KeyDestroyed` once the key was destroyed: a closed account
    gets no new key. Safe under concurrency: a losing creator reads the winner's row.
    """
    existing = UserKey.objects.filter(user=user).first()
    if existing is None:
        material = keys.new_user_key()
        # Wrapping may call KMS: done before the transaction opens.
        wrapped = keys.wrap_user_key(material, user_id=user.pk)
        try:
            with transaction.atomic():
                existing = UserKey.objects.create(
                    user=user,
                    provider=wrapped.provider,
                    master_key_id=wrapped.master_key_id,
                    wrapped_key=wrapped.wrapped,
                )
                record(
                    action="vault.key.created",
                    subject=user,
                    target=existing,
                    data={
                        "version": existing.version,
                        "provider": wrapped.provider,
                        "master_key_id": wrapped.master_key_id,
                    },
                )
        except IntegrityError:
            existing = UserKey.objects.get(user=user)
    if existing.is_destroyed:
        raise keys.KeyDestroyed()
    return existing


def user_key_lock(*, user) -> UserKey:
    """Lock the customer's key row for the enclosing transaction (``select_for_update``).

    Rotation takes this lock too, so a service that stores a document written with
    :func:`vault.blobs.blob_write` calls it (through ``blob_key_check``) in the
    transaction that creates the row.
    """
    return UserKey.objects.select_for_update().get(user=user)


def user_key_destroy(
    *,
    user,
    actor=None,
    reason: str = "",
    meta: RequestMeta | None = None,
) -> UserKey:
    """Crypto-shred the customer's vault: erase every wrapped copy of their key.

    After this, no document of theirs can be decrypted, here or from any backup of
    blobs and rows taken later. Idempotent; a customer who never had a key gets a
    destroyed row, so none is created afterwards. Account closure calls this.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().filter(user=user).first()
        if user_key is not None and user_key.is_destroyed:
            return user_key
        now = timezone.now()
        if user_key is None:
            user_key = UserKey(
                user=user,
                provider=keys.current_provider().name,
                master_key_id="",
                created_at=now,
                version_created_at=now,
            )
        version = user_key.version
        user_key.wrapped_key = ""
        user_key.previous_version = None
        user_key.previous_provider = ""
        user_key.previous_master_key_id = ""
        user_key.previous_wrapped_key = ""
        user_key.destroyed_at = now
        user_key.save()
        record(
            action="vault.key.destroyed",
            subject=user,
            actor=actor,
            target=user_key,
            data={
                "version": version,
                "reason": reason,
                "documents": Document.objects.filter(owner=user).not_destroyed().count(),
            },
            meta=meta,
        )
    return user_key


def user_key_rewrap(*, user_key_id: int) -> bool:
    """Re-wrap one user key (and its previous version) under the current master key.

    Returns whether anything changed: a key already wrapped under the current master
    key, or destroyed, is left alone, which makes ``vault_rotate_keys`` rerunnable.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed:
            return False
        before = {"provider": user_key.provider, "master_key_id": user_key.master_key_id}
        fields = []
        if not keys.wrapped_under_current_master(user_key.provider, user_key.master_key_id):
            material = keys.user_key_material(user_key, version=user_key.version)
            wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
            user_key.provider = wrapped.provider
            user_key.master_key_id = wrapped.master_key_id
            user_key.wrapped_key = wrapped.wrapped
            fields += ["provider", "master_key_id", "wrapped_key"]
        if user_key.rotation_in_progress and not keys.wrapped_under_current_master(
            user_key.previous_provider, user_key.previous_master_key_id
        ):
            material = keys.user_key_material(user_key, version=user_key.previous_version)
            wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
            user_key.previous_provider = wrapped.provider
            user_key.previous_master_key_id = wrapped.master_key_id
            user_key.previous_wrapped_key = wrapped.wrapped
            fields += ["previous_provider", "previous_master_key_id", "previous_wrapped_key"]
        if not fields:
            return False
        user_key.save(update_fields=[*fields, "updated_at"])
        record(
            action="vault.key.rewrapped",
            subject=user_key.user,
            target=user_key,
            data={
                "version": user_key.version,
                "from": before,
                "to": {"provider": user_key.provider, "master_key_id": user_key.master_key_id},
            },
        )
    return True


def user_key_rotation_start(*, user_key_id: int) -> UserKey:
    """Give the customer a new user-key version; the former one stays until every
    document's data key is re-wrapped (:func:`document_keys_rewrap`)."""
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed:
            raise keys.KeyDestroyed()
        if user_key.rotation_in_progress:
            raise InvalidState(
                _("Un renouvellement de la clé de ce coffre est déjà en cours."),
                "vault_rotation_in_progress",
            )
        material = keys.new_user_key()
        wrapped = keys.wrap_user_key(material, user_id=user_key.user_id)
        user_key.previous_version = user_key.version
        user_key.previous_provider = user_key.provider
        user_key.previous_master_key_id = user_key.master_key_id
        user_key.previous_wrapped_key = user_key.wrapped_key
        user_key.version += 1
        user_key.version_created_at = timezone.now()
        user_key.provider = wrapped.provider
        user_key.master_key_id = wrapped.master_key_id
        user_key.wrapped_key = wrapped.wrapped
        user_key.save()
        record(
            action="vault.key.rotation_started",
            subject=user_key.user,
            target=user_key,
            data={"from_version": user_key.previous_version, "to_version": user_key.version},
        )
    return user_key


def document_keys_rewrap(*, user_key_id: int, batch_size: int = 100) -> int:
    """Re-wrap up to ``batch_size`` data keys still under the previous user-key version.

    One transaction per call; returns how many were re-wrapped (0: none left). Only
    the rows change, never the blobs. Not recorded per document: the rotation's start
    and finish are the customer-visible events.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed or not user_key.rotation_in_progress:
            return 0
        documents = list(
            Document.objects.select_for_update()
            .filter(
                owner_id=user_key.user_id,
                key_version=user_key.previous_version,
                destroyed_at__isnull=True,
            )
            .order_by("pk")[:batch_size]
        )
        if not documents:
            return 0
        old_key = keys.user_key_material(user_key, version=user_key.previous_version)
        new_key = keys.user_key_material(user_key, version=user_key.version)
        for document in documents:
            data_key = keys.unwrap_data_key(
                document.wrapped_key,
                user_key=old_key,
                owner_id=document.owner_id,
                document_uuid=document.uuid,
                key_version=document.key_version,
            )
            document.wrapped_key = keys.wrap_data_key(
                data_key,
                user_key=new_key,
                owner_id=document.owner_id,
                document_uuid=document.uuid,
                key_version=user_key.version,
            )
            document.key_version = user_key.version
            document.save(update_fields=["wrapped_key", "key_version", "updated_at"])
    return len(documents)


def user_key_rotation_finish(*, user_key_id: int) -> bool:
    """Erase the previous user-key version once no document needs it any more.

    Returns False (and changes nothing) while a document still uses it.
    """
    with transaction.atomic():
        user_key = UserKey.objects.select_for_update().get(pk=user_key_id)
        if user_key.is_destroyed or not user_key.rotation_in_progress:
            return False
        if Document.objects.filter(
            owner_id=user_key.user_id,
            key_version=user_key.previous_version,
            destroyed_at__isnull=True,
        ).exists():
            return False
        previous = user_key.previous_version
        user_key.previous_version = None
        user_key.previous_provider = ""
        user_key.previous_master_key_id = ""
        user_key.previous_wrapped_key = ""
        user_key.save()
        record(
            action="vault.key.rotation_finished",
            subject=user_key.user,
            target=user_key,
            data={"retired_version": previous, "version": user_key.version},
        )
    return True
