from __future__ import annotations

import pytest
from django.utils import translation

from guides import services

from .factories import LegalDocumentFactory, StaffFactory


@pytest.fixture(autouse=True)
def french():
    """Each test starts in French: a request in English must not leak into the next test."""
    with translation.override("fr"):
        yield


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def document(db):
    return LegalDocumentFactory()


@pytest.fixture
def publish(staff):
    """Edit the draft of ``document`` and publish it; returns the publication."""

    def _publish(document, *, body_fr=None, body_en=None, summary="Mise à jour.", **fields):
        services.legal_document_draft_update(
            document=document,
            acting_user=staff,
            title_fr=fields.get("title_fr", document.title_fr),
            body_fr=document.body_fr if body_fr is None else body_fr,
            title_en=fields.get("title_en", document.title_en),
            body_en=document.body_en if body_en is None else body_en,
            change_summary=summary,
            change_summary_en=fields.get("summary_en", ""),
        )
        return services.legal_document_publish(document=document, acting_user=staff)

    return _publish
