"""People for the vault's view tests: an activated customer, staff with and without MFA.

``activated_customer()`` has accepted the terms in force and the vault information
(so neither the consent gate nor the vault's activation gate redirects).
"""

from __future__ import annotations

from django.contrib.auth.models import Group

from accounts.models import Consent
from guides.models import LegalDocument
from tests.accounts.factories import (
    StaffFactory,
    UserFactory,
    accept_current_texts,
    publish_legal,
    publish_required_texts,
)


def publish_vault_texts() -> None:
    """Terms, privacy policy and vault information in force (once per test database)."""
    if not LegalDocument.objects.filter(kind=LegalDocument.Kind.TERMS).exists():
        publish_required_texts()
    if not LegalDocument.objects.filter(kind=LegalDocument.Kind.VAULT_INFORMATION).exists():
        publish_legal(LegalDocument.Kind.VAULT_INFORMATION, summary="Première publication.")


def activate_vault(user) -> None:
    from accounts import selectors, services

    publish_vault_texts()
    accept_current_texts(user)
    services.consent_record(
        user=user,
        purpose=Consent.Purpose.VAULT_INFORMATION,
        granted=True,
        content_version=selectors.legal_version_in_force(
            Consent.Purpose.VAULT_INFORMATION, language="fr"
        ),
        wording="J'ai lu l'information préalable et j'active mon coffre.",
    )


def activated_customer(**kwargs):
    user = UserFactory(**kwargs)
    activate_vault(user)
    return user


def support_agent(**kwargs):
    agent = StaffFactory(**kwargs)
    agent.groups.add(Group.objects.get(name="Support"))
    return agent


def compliance_officer(**kwargs):
    officer = StaffFactory(**kwargs)
    officer.groups.add(Group.objects.get(name="Compliance"))
    return officer
