"""Factories for the accounts tests (shared by every accounts test module).

``UserFactory(verified_email=True)`` also creates the allauth ``EmailAddress`` row
(primary, verified) that a real signup ends with, so the user can log in through
allauth. ``publish_legal(kind)`` publishes a version of a legal text as staff do.
"""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress

from accounts.models import Profile, User
from guides import services as guide_services
from guides.models import LegalDocument

PASSWORD = "Un mot de passe solide 42"


class UserFactory(factory.django.DjangoModelFactory):
    """A customer. ``verified_email=True`` adds allauth's verified primary address."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"client{n}@example.test")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create and extracted:
            EmailAddress.objects.create(user=self, email=self.email, primary=True, verified=True)


class StaffFactory(UserFactory):
    email = factory.Sequence(lambda n: f"agent{n}@example.test")
    is_staff = True


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    user = factory.SubFactory(UserFactory)
    civility = Profile.Civility.MADAME
    address_line1 = "12 rue des Lilas"
    postal_code = "69002"
    city = "Lyon"
    country = "FR"
    phone = "+33612345678"


LEGAL_BODIES = {
    LegalDocument.Kind.TERMS: (
        "Conditions générales de vente",
        "# 1. Objet\n\nLe service est payant et indépendant de l'administration.\n\n"
        "# 2. Prix\n\nLe prix est de 10 euros TTC par mois.",
    ),
    LegalDocument.Kind.PRIVACY: (
        "Politique de confidentialité",
        "# 1. Données\n\nNous traitons vos données pour le service.\n\n"
        "# 2. Droits\n\nVous pouvez exporter vos données.",
    ),
}


def publish_legal(
    kind: str = LegalDocument.Kind.TERMS,
    *,
    body_fr: str | None = None,
    body_en: str | None = None,
    summary: str = "Mise à jour.",
    staff: User | None = None,
):
    """Publish the next version of a legal text (French and English); returns it."""
    title, default_body = LEGAL_BODIES.get(kind, ("Texte", "Texte."))
    document, _created = LegalDocument.objects.get_or_create(kind=kind)
    staff = staff or StaffFactory(is_superuser=True)
    body_fr = body_fr or (document.body_fr or default_body)
    guide_services.legal_document_draft_update(
        document=document,
        acting_user=staff,
        title_fr=title,
        body_fr=body_fr,
        title_en=f"{title} (en)",
        body_en=body_en or f"{body_fr}\n\n(English)",
        change_summary=summary,
    )
    return guide_services.legal_document_publish(document=document, acting_user=staff)


def publish_required_texts() -> None:
    """The terms and privacy policy in force, as a seeded site has them."""
    publish_legal(LegalDocument.Kind.TERMS, summary="Première publication.")
    publish_legal(LegalDocument.Kind.PRIVACY, summary="Première publication.")


def accept_current_texts(user: User) -> None:
    """Record that ``user`` accepted the terms and privacy policy in force."""
    from accounts import selectors, services

    services.terms_accept(
        user=user,
        acceptances=[
            services.Acceptance(
                purpose=purpose,
                content_version=selectors.legal_version_in_force(purpose, language="fr"),
                wording="J'ai lu et j'accepte ce texte.",
            )
            for purpose in selectors.REQUIRED_PURPOSES
        ],
    )
