"""Rules for profile values, shared by ``ProfileForm`` and ``services.profile_update``.

Each ``clean_*`` function takes what a person typed (or a value from code), returns
the normalised value to store, or raises ``ValidationError`` with a French message
that says how to fix it. The form uses them field by field (errors linked to the
fields); the service runs them all again so that no caller can store a value the
form would refuse.

Text is normalised to NFC with runs of blank space collapsed; control and format
characters (NUL, bidirectional overrides...) and emoji are refused, letters of every
script are accepted (a name may be written in Arabic or Hebrew).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

NAME_MAX = 150
ADDRESS_MAX = 200
CITY_MAX = 100
#: Anything longer is not a phone number, whatever the spacing.
PHONE_INPUT_MAX = 40
AGE_MIN = 16
AGE_MAX = 120
PHONE_REGION = "FR"
#: Overseas France: dialled from France with a leading 0 like any French number
#: (0690 12 34 56), but with its own country code (+590).
FRENCH_OVERSEAS_REGIONS = ("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
FRENCH_REGIONS = frozenset((PHONE_REGION, *FRENCH_OVERSEAS_REGIONS))

#: Countries offered for the address, France first (ISO 3166-1 alpha-2, French names).
COUNTRIES = [
    ("FR", _("France")),
    ("DE", _("Allemagne")),
    ("AD", _("Andorre")),
    ("AT", _("Autriche")),
    ("BE", _("Belgique")),
    ("BG", _("Bulgarie")),
    ("CA", _("Canada")),
    ("CY", _("Chypre")),
    ("HR", _("Croatie")),
    ("DK", _("Danemark")),
    ("ES", _("Espagne")),
    ("EE", _("Estonie")),
    ("US", _("États-Unis")),
    ("FI", _("Finlande")),
    ("GR", _("Grèce")),
    ("HU", _("Hongrie")),
    ("IE", _("Irlande")),
    ("IT", _("Italie")),
    ("LV", _("Lettonie")),
    ("LT", _("Lituanie")),
    ("LU", _("Luxembourg")),
    ("MT", _("Malte")),
    ("MA", _("Maroc")),
    ("MC", _("Monaco")),
    ("NO", _("Norvège")),
    ("NL", _("Pays-Bas")),
    ("PL", _("Pologne")),
    ("PT", _("Portugal")),
    ("CZ", _("République tchèque")),
    ("RO", _("Roumanie")),
    ("GB", _("Royaume-Uni")),
    ("SK", _("Slovaquie")),
    ("SI", _("Slovénie")),
    ("SE", _("Suède")),
    ("CH", _("Suisse")),
    ("TN", _("Tunisie")),
    ("DZ", _("Algérie")),
]
COUNTRY_CODES = frozenset(code for code, _label in COUNTRIES)

# French postal codes: two digits for the département (01 to 98, Corsica 20, overseas
# 97 and 98), three more digits.
_FR_POSTAL_CODE = re.compile(r"^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$")
_OTHER_POSTAL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,8}[A-Z0-9]$")
_NAME_PUNCTUATION = frozenset(" '\u2019-.")  # the typographic apostrophe too
# Symbols a French address commonly holds besides letters, digits and punctuation.
_ADDRESS_SYMBOLS = frozenset("°+")


def normalize_text(value) -> str:
    """NFC, surrounding space removed, inner runs of space collapsed to one."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_("Valeur invalide."), code="invalid")
    return " ".join(unicodedata.normalize("NFC", value).split())


def _forbidden(value: str, allowed) -> bool:
    return any(not allowed(char) for char in value)


def clean_name(value, *, field_label: str = "") -> str:
    value = normalize_text(value)
    if len(value) > NAME_MAX:
        raise ValidationError(
            _("Ce champ ne doit pas dépasser %(max)s caractères.") % {"max": NAME_MAX},
            code="max_length",
        )

    def allowed(char: str) -> bool:
        return unicodedata.category(char)[0] in "LM" or char in _NAME_PUNCTUATION

    if _forbidden(value, allowed) or (value and not any(c.isalpha() for c in value)):
        raise ValidationError(
            _(
                "Utilisez uniquement des lettres, des espaces, des apostrophes, des points "
                "et des traits d'union."
            ),
            code="invalid_characters",
        )
    return value


def _clean_free_text(value, *, max_length: int) -> str:
    value = normalize_text(value)
    if len(value) > max_length:
        raise ValidationError(
            _("Ce champ ne doit pas dépasser %(max)s caractères.") % {"max": max_length},
            code="max_length",
        )

    def allowed(char: str) -> bool:
        return unicodedata.category(char)[0] in "LMNP" or char == " " or char in _ADDRESS_SYMBOLS

    if _forbidden(value, allowed):
        raise ValidationError(
            _(
                "Ce champ contient des caractères non autorisés (émoji, symbole ou caractère "
                "de contrôle) : utilisez des lettres, des chiffres et la ponctuation usuelle."
            ),
            code="invalid_characters",
        )
    return value


def clean_address_line(value) -> str:
    return _clean_free_text(value, max_length=ADDRESS_MAX)


def clean_city(value) -> str:
    value = _clean_free_text(value, max_length=CITY_MAX)
    if value and not any(c.isalpha() for c in value):
        raise ValidationError(_("Saisissez le nom de la commune."), code="invalid")
    return value


def clean_country(value) -> str:
    value = normalize_text(value).upper() or "FR"
    if value not in COUNTRY_CODES:
        raise ValidationError(_("Choisissez un pays dans la liste."), code="invalid_choice")
    return value


def clean_postal_code(value, *, country: str = "FR") -> str:
    value = normalize_text(value).upper()
    if not value:
        return ""
    if country == "FR":
        compact = value.replace(" ", "")
        if not _FR_POSTAL_CODE.match(compact):
            raise ValidationError(
                _("Un code postal français comporte 5 chiffres, par exemple 75011."),
                code="invalid_postal_code",
            )
        return compact
    if not _OTHER_POSTAL_CODE.match(value):
        raise ValidationError(
            _("Saisissez un code postal valide (lettres, chiffres, espaces, 10 au plus)."),
            code="invalid_postal_code",
        )
    return value


def clean_civility(value, *, choices) -> str:
    value = normalize_text(value)
    if value not in choices:
        raise ValidationError(_("Choisissez une civilité dans la liste."), code="invalid_choice")
    return value


def age_on(birth_date: dt.date, today: dt.date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def clean_birth_date(value, *, today: dt.date | None = None) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(_("Saisissez une date valide."), code="invalid")
    today = today or timezone.localdate()
    if value >= today:
        raise ValidationError(
            _("La date de naissance doit être dans le passé."), code="birth_date_future"
        )
    age = age_on(value, today)
    if age < AGE_MIN:
        raise ValidationError(
            _("Vous devez avoir au moins %(min)s ans pour utiliser le service.") % {"min": AGE_MIN},
            code="too_young",
        )
    if age > AGE_MAX:
        raise ValidationError(
            _("Vérifiez l'année de naissance : l'âge calculé dépasse %(max)s ans.")
            % {"max": AGE_MAX},
            code="too_old",
        )
    return value


def clean_phone(value) -> str:
    """A valid phone number, stored in E.164 (``+33612345678``); French by default."""
    value = normalize_text(value)
    if not value:
        return ""
    message = _(
        "Saisissez un numéro de téléphone valide, par exemple 06 12 34 56 78 ou +33 6 12 34 56 78."
    )
    if len(value) > PHONE_INPUT_MAX:
        raise ValidationError(message, code="invalid_phone")
    number = _parse_french_phone(value)
    if number is None:
        raise ValidationError(message, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_french_phone(value: str):
    """The valid number ``value`` denotes as typed in France, overseas included, or None."""
    international = value.startswith(("+", "00"))
    for region in (PHONE_REGION,) if international else (PHONE_REGION, *FRENCH_OVERSEAS_REGIONS):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(number):
            return number
    return None


def format_phone(value: str) -> str:
    """National format for French numbers, overseas included (06 12 34 56 78), else
    international (+32 2 555 12 12)."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return value
    region = phonenumbers.region_code_for_number(number)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region in FRENCH_REGIONS
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)
