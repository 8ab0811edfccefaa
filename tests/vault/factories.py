"""Factories for the vault tests: customers and documents with real encrypted blobs.

Documents are stored the way the upload pipeline will store them: ``blob_write``
encrypts into the vault storage, then the row is created in a transaction that
checks the key version (``blob_key_check``).
"""

from __future__ import annotations

import hashlib
import os

import factory
from django.db import transaction

from accounts.models import User
from vault.blobs import blob_key_check, blob_write
from vault.models import Document, DocumentSource, ScanStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"coffre{n}@example.test")


def pieces(data: bytes, size: int = 50_000):
    """``data`` cut into pieces that do not line up with the records."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def document_store(
    *, owner, content: bytes | None = None, title: str = "Avis d'imposition 2024", **fields
) -> Document:
    """A clean document of ``owner`` holding ``content`` (random bytes by default)."""
    content = os.urandom(1000) if content is None else content
    info = blob_write(owner=owner, chunks=pieces(content))
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        blob_key_check(owner=owner, info=info)
        return Document.objects.create(
            uuid=info.document_uuid,
            owner=owner,
            title=title,
            source=fields.pop("source", DocumentSource.UPLOAD),
            original_name=fields.pop("original_name", "avis.pdf"),
            content_type=fields.pop("content_type", "application/pdf"),
            scan_status=fields.pop("scan_status", ScanStatus.CLEAN),
            **info.fields(),
            **fields,
        )


def read_back(document: Document) -> bytes:
    from vault.blobs import blob_open

    with blob_open(document=Document.objects.get(pk=document.pk)) as stream:
        return b"".join(stream)
