"""Factories and helpers for the guides tests."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from guides.models import LegalDocument


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"agent{n}@mynetspace.test")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct horse battery")


class LegalDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegalDocument
        django_get_or_create = ("kind",)

    kind = LegalDocument.Kind.TERMS
    title_fr = "Conditions générales de vente"
    body_fr = "# 1. Objet\n\nLe service est payant.\n\n# 2. Prix\n\nLe prix est de 10 euros TTC."
    title_en = "Terms and conditions of sale"
    body_en = (
        "# 1. Purpose\n\nThe service is paid.\n\n# 2. Price\n\nThe price is 10 euros incl. VAT."
    )
    change_summary = "Première publication."
    change_summary_en = "First publication."
