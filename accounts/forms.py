"""Forms of the accounts app: legal acceptance (signup and new versions), profile.

``SignupForm`` is allauth's ``ACCOUNT_SIGNUP_FORM_CLASS``: allauth's own signup form
inherits from it, adds email and password, and calls :meth:`SignupForm.signup` once
the user is saved (``accounts.signup.AtomicSignupForm`` makes both one transaction).
This module must not import ``allauth.account.forms``, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from audit.models import ContentVersion

from . import selectors, services, validators
from .models import Consent, Profile


def _language() -> str:
    return (get_language() or selectors.REFERENCE_LANGUAGE).split("-")[0]


@dataclass(frozen=True)
class LegalOffer:
    """One legal text offered for acceptance, as shown on the page."""

    purpose: str
    kind: str
    version: ContentVersion | None

    @property
    def accept_field(self) -> str:
        return f"accept_{self.purpose}"

    @property
    def version_field(self) -> str:
        return f"version_{self.purpose}"


def sentence(purpose: str, version: ContentVersion | None) -> str:
    """The exact sentence next to the box, recorded as the consent's wording."""
    if version is None:
        texts = {
            Consent.Purpose.TERMS: _("J'ai lu et j'accepte les conditions générales de vente."),
            Consent.Purpose.PRIVACY: _("J'ai lu et j'accepte la politique de confidentialité."),
            Consent.Purpose.VAULT_INFORMATION: _(
                "J'ai lu et j'accepte l'information préalable sur le coffre numérique."
            ),
        }
        return texts[purpose]
    values = {
        "version": version.version,
        "date": formats.date_format(timezone.localtime(version.published_at), "DATE_FORMAT"),
    }
    texts = {
        Consent.Purpose.TERMS: _(
            "J'ai lu et j'accepte les conditions générales de vente "
            "(version %(version)s du %(date)s)."
        ),
        Consent.Purpose.PRIVACY: _(
            "J'ai lu et j'accepte la politique de confidentialité "
            "(version %(version)s du %(date)s)."
        ),
        Consent.Purpose.VAULT_INFORMATION: _(
            "J'ai lu et j'accepte l'information préalable sur le coffre numérique "
            "(version %(version)s du %(date)s)."
        ),
    }
    return texts[purpose] % values


def _read_link(offer: LegalOffer) -> str:
    labels = {
        Consent.Purpose.TERMS: _("Lire les conditions générales de vente"),
        Consent.Purpose.PRIVACY: _("Lire la politique de confidentialité"),
        Consent.Purpose.VAULT_INFORMATION: _("Lire l'information préalable sur le coffre"),
    }
    url = reverse("guides:legal_current", args=[offer.kind])
    return format_html('<a href="{}">{}</a>', url, labels[offer.purpose])


def _required_message(purpose: str) -> str:
    texts = {
        Consent.Purpose.TERMS: _(
            "Cochez cette case pour accepter les conditions générales de vente : "
            "sans elles, nous ne pouvons pas créer votre compte."
        ),
        Consent.Purpose.PRIVACY: _(
            "Cochez cette case pour accepter la politique de confidentialité : "
            "sans elle, nous ne pouvons pas créer votre compte."
        ),
        Consent.Purpose.VAULT_INFORMATION: _(
            "Cochez cette case pour confirmer que vous avez lu l'information préalable."
        ),
    }
    return texts[purpose]


class LegalAcceptanceForm(forms.Form):
    """One required box per legal text in force, and the version shown (hidden).

    The hidden version makes the acceptance exact: if a new version is published
    between showing the page and ticking the box, the form refuses and shows the
    new sentence instead of recording a version the person never saw.
    """

    purposes: tuple[str, ...] = selectors.REQUIRED_PURPOSES

    def __init__(self, *args, purposes=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        language = _language()
        self.offers: list[LegalOffer] = []
        for purpose in purposes or self.purposes:
            offer = LegalOffer(
                purpose=purpose,
                kind=selectors.DOCUMENT_KIND_BY_PURPOSE[purpose],
                version=selectors.legal_version_in_force(purpose, language=language),
            )
            self.offers.append(offer)
            self.fields[offer.accept_field] = forms.BooleanField(
                required=True,
                label=sentence(purpose, offer.version),
                help_text=_read_link(offer),
                error_messages={"required": self._required_message(purpose)},
            )
            self.fields[offer.version_field] = forms.IntegerField(
                required=False,
                widget=forms.HiddenInput,
                initial=offer.version.version if offer.version else None,
            )

    def _required_message(self, purpose: str) -> str:
        return _required_message(purpose)

    def clean(self):
        cleaned = super().clean()
        missing = [offer for offer in self.offers if offer.version is None]
        if missing:
            raise forms.ValidationError(
                _(
                    "Les textes à accepter ne sont pas encore publiés : l'opération est "
                    "impossible pour le moment. Réessayez plus tard ou écrivez-nous."
                ),
                code="legal_unpublished",
            )
        for offer in self.offers:
            shown = cleaned.get(offer.version_field)
            if shown != offer.version.version:
                self.add_error(
                    offer.accept_field,
                    forms.ValidationError(
                        _(
                            "Une nouvelle version de ce texte vient d'être publiée : "
                            "relisez-la, puis cochez de nouveau la case."
                        ),
                        code="legal_version_changed",
                    ),
                )
                self._show_version(offer)
        return cleaned

    def _show_version(self, offer: LegalOffer) -> None:
        """Render the hidden field with the version now shown, not the one posted."""
        data = self.data.copy()
        data[self.add_prefix(offer.version_field)] = str(offer.version.version)
        self.data = data

    def acceptances(self) -> list[services.Acceptance]:
        """What the person accepted, for ``services.terms_accept`` (valid forms only)."""
        return [
            services.Acceptance(
                purpose=offer.purpose,
                content_version=offer.version,
                wording=str(self.fields[offer.accept_field].label),
            )
            for offer in self.offers
        ]


class SignupForm(LegalAcceptanceForm):
    """The extra part of allauth's signup form: accepting the terms and privacy policy."""

    def signup(self, request, user) -> None:
        """Called by allauth right after the user is saved, in the same transaction."""
        services.terms_accept(
            user=user,
            acceptances=self.acceptances(),
            meta=getattr(request, "audit_meta", None),
        )


class TermsReacceptForm(LegalAcceptanceForm):
    """Accepting the new versions of the texts listed in ``purposes``."""

    def _required_message(self, purpose: str) -> str:
        return _("Cochez cette case pour accepter la nouvelle version et continuer.")


# --- Profile ----------------------------------------------------------------------------


class ProfileForm(forms.Form):
    """The profile page. Field rules live in :mod:`accounts.validators`."""

    civility = forms.ChoiceField(
        label=gettext_lazy("Civilité"),
        choices=Profile.Civility.choices,
        required=False,
        widget=forms.Select(attrs={"autocomplete": "honorific-prefix"}),
    )
    first_name = forms.CharField(
        label=gettext_lazy("Prénom"),
        required=False,
        max_length=validators.NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=gettext_lazy("Nom"),
        required=False,
        max_length=validators.NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    birth_date = forms.DateField(
        label=gettext_lazy("Date de naissance"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        help_text=gettext_lazy("Par exemple 14/07/1985."),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        error_messages={
            "invalid": gettext_lazy("Saisissez une date valide, par exemple 14/07/1985.")
        },
    )
    address_line1 = forms.CharField(
        label=gettext_lazy("Adresse"),
        required=False,
        max_length=validators.ADDRESS_MAX,
        help_text=gettext_lazy("Numéro et voie, par exemple 12 rue des Lilas."),
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    address_line2 = forms.CharField(
        label=gettext_lazy("Complément d'adresse"),
        required=False,
        max_length=validators.ADDRESS_MAX,
        help_text=gettext_lazy("Bâtiment, étage, lieu-dit… (facultatif)"),
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postal_code = forms.CharField(
        label=gettext_lazy("Code postal"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    city = forms.CharField(
        label=gettext_lazy("Commune"),
        required=False,
        max_length=validators.CITY_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    country = forms.ChoiceField(
        label=gettext_lazy("Pays"),
        choices=validators.COUNTRIES,
        initial="FR",
        widget=forms.Select(attrs={"autocomplete": "country"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Téléphone"),
        required=False,
        max_length=validators.PHONE_INPUT_MAX,
        help_text=gettext_lazy("Par exemple 06 12 34 56 78, ou +32 … pour un numéro étranger."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.initial.get("phone"):
            self.initial["phone"] = validators.format_phone(self.initial["phone"])

    def clean_civility(self):
        return validators.clean_civility(
            self.cleaned_data["civility"], choices=Profile.Civility.values
        )

    def clean_first_name(self):
        return validators.clean_name(self.cleaned_data["first_name"])

    def clean_last_name(self):
        return validators.clean_name(self.cleaned_data["last_name"])

    def clean_birth_date(self):
        return validators.clean_birth_date(self.cleaned_data["birth_date"])

    def clean_address_line1(self):
        return validators.clean_address_line(self.cleaned_data["address_line1"])

    def clean_address_line2(self):
        return validators.clean_address_line(self.cleaned_data["address_line2"])

    def clean_city(self):
        return validators.clean_city(self.cleaned_data["city"])

    def clean_country(self):
        return validators.clean_country(self.cleaned_data["country"])

    def clean_phone(self):
        return validators.clean_phone(self.cleaned_data["phone"])

    def clean(self):
        cleaned = super().clean()
        if "postal_code" in cleaned:
            try:
                cleaned["postal_code"] = validators.clean_postal_code(
                    cleaned["postal_code"], country=cleaned.get("country", "FR")
                )
            except forms.ValidationError as exc:
                self.add_error("postal_code", exc)
        return cleaned

    def apply_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Show the errors the service found (``ProfileInvalid.errors``) on the fields."""
        for name, messages in errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
