"""Reads of the accounts app shared by views, forms, middleware and later apps.

Consents: the current state of a purpose is its newest ``Consent`` row. A purpose
tied to a published text (terms, privacy policy, vault information) is "accepted"
when that newest row grants the version in force. Every selector here costs a fixed
number of queries, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import connection

from audit.models import ContentVersion
from guides.models import LegalDocument, legal_content_key

from .models import Consent, Profile, ProfileChange
from .validators import format_phone

REFERENCE_LANGUAGE = "fr"

#: The legal text each document-bound purpose refers to.
DOCUMENT_KIND_BY_PURPOSE: dict[str, str] = {
    Consent.Purpose.TERMS: LegalDocument.Kind.TERMS,
    Consent.Purpose.PRIVACY: LegalDocument.Kind.PRIVACY,
    Consent.Purpose.VAULT_INFORMATION: LegalDocument.Kind.VAULT_INFORMATION,
}
#: What every customer must have accepted, in its version in force, to use the site.
REQUIRED_PURPOSES: tuple[str, ...] = (Consent.Purpose.TERMS, Consent.Purpose.PRIVACY)

PROFILE_USER_FIELDS = ("first_name", "last_name")
PROFILE_FIELDS = (
    "civility",
    "first_name",
    "last_name",
    "birth_date",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "phone",
)


# --- Consents ---------------------------------------------------------------------------


def document_key_for(purpose: str) -> str | None:
    """``legal:<kind>`` for a purpose bound to a published text, else None."""
    kind = DOCUMENT_KIND_BY_PURPOSE.get(purpose)
    return legal_content_key(kind) if kind else None


def current_consent(user, purpose: str) -> Consent | None:
    """The newest answer of ``user`` for ``purpose`` (granted or not), or None. One query."""
    return (
        Consent.objects.filter(user=user, purpose=purpose)
        .select_related("content_version")
        .order_by("-created_at", "-pk")
        .first()
    )


def latest_version_number(purpose: str) -> int | None:
    """The number of the version in force of the purpose's text, None if unpublished."""
    key = document_key_for(purpose)
    if key is None:
        return None
    return (
        ContentVersion.objects.filter(key=key)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


def has_accepted_current(user, purpose: str) -> bool:
    """True when the newest answer for ``purpose`` grants it, in the version in force.

    For a purpose without a text (classification), the newest answer decides. For a
    text that was never published there is nothing one could have accepted: False.
    Two queries at most.
    """
    consent = current_consent(user, purpose)
    if consent is None or not consent.granted:
        return False
    if document_key_for(purpose) is None:
        return True
    latest = latest_version_number(purpose)
    return latest is not None and consent.version == latest


@dataclass(frozen=True)
class AcceptanceStatus:
    purpose: str
    current_version: int | None
    accepted_version: int | None

    @property
    def pending(self) -> bool:
        """A published version exists and the person's newest answer is not a yes to it."""
        return self.current_version is not None and self.accepted_version != self.current_version


@cache
def _acceptance_sql(purposes: tuple[str, ...]) -> tuple[str, list[str]]:
    """The statement behind :func:`acceptance_status` and its constant parameters."""
    columns, params = [], []
    for purpose in purposes:
        columns.append(
            "(SELECT version FROM audit_contentversion"
            " WHERE key = %s ORDER BY version DESC LIMIT 1)"
        )
        params.append(document_key_for(purpose))
        columns.append(
            "(SELECT CASE WHEN granted THEN version END FROM accounts_consent"
            " WHERE user_id = %s AND purpose = %s ORDER BY created_at DESC, id DESC LIMIT 1)"
        )
        params.extend([None, purpose])  # None: the user's id, filled in per call
    return "SELECT " + ", ".join(columns), params


def acceptance_status(user, purposes=REQUIRED_PURPOSES) -> list[AcceptanceStatus]:
    """For each purpose: the version in force and the version the person accepted.

    One query, run by the re-acceptance middleware on every page of a customer: two
    scalar subqueries per purpose, each served by an index
    (``audit_contentversion_unique`` and ``accounts_consent_latest``). Written in
    SQL because the ORM's compilation of the same statement cost more than the
    query itself on every page (benchmarks/bench_accounts.py).
    """
    purposes = tuple(purposes)
    sql, constant = _acceptance_sql(purposes)
    params = [user.pk if value is None else value for value in constant]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchone()
    return [
        AcceptanceStatus(
            purpose=purpose,
            current_version=values[2 * index],
            accepted_version=values[2 * index + 1],
        )
        for index, purpose in enumerate(purposes)
    ]


def legal_version_in_force(purpose: str, *, language: str) -> ContentVersion | None:
    """The row of the version in force to show (and record) for ``purpose``.

    In ``language`` when that version exists in it, otherwise in French, the
    reference language. One query.
    """
    key = document_key_for(purpose)
    if key is None:
        return None
    rows = list(
        ContentVersion.objects.filter(key=key, language__in={language, REFERENCE_LANGUAGE})
        .defer("body")
        .order_by("-version")[:2]
    )
    if not rows:
        return None
    newest = [row for row in rows if row.version == rows[0].version]
    return next((row for row in newest if row.language == language), newest[0])


def consent_list(user) -> list[Consent]:
    """Every answer of ``user``, newest first (the consents page, the data export)."""
    return list(Consent.objects.filter(user=user).order_by("-created_at", "-pk"))


# --- Profile ----------------------------------------------------------------------------


def profile_get(user) -> Profile | None:
    """The person's profile, None until they filled it in. One query.

    A raw queryset (every column, with the ORM's conversions): the dashboard reads the
    profile on every visit, and compiling ``filter(user=user).first()`` cost more than
    running it. At most one row (``user`` is a one-to-one key).
    """
    rows = Profile.objects.raw("SELECT * FROM accounts_profile WHERE user_id = %s", [user.pk])
    return next(iter(rows), None)


def profile_values(user, profile: Profile | None) -> dict:
    """The stored value of every profile field (the form's initial data)."""
    values = {name: getattr(user, name) for name in PROFILE_USER_FIELDS}
    for name in PROFILE_FIELDS:
        if name in PROFILE_USER_FIELDS:
            continue
        if profile is None:
            values[name] = Profile._meta.get_field(name).get_default()
        else:
            values[name] = getattr(profile, name)
    return values


def profile_prefill(user) -> dict:
    """What a request form may be pre-filled with, in one dict. One query.

    Keys: ``email``, ``civility`` (``"mme"``, ``"m"`` or ``""``), ``civility_label``,
    ``first_name``, ``last_name``, ``full_name``, ``birth_date`` (a date or None),
    ``address_line1``, ``address_line2``, ``postal_code``, ``city``, ``country``
    (ISO code), ``phone`` (E.164) and ``phone_display`` (national format in France).
    """
    profile = profile_get(user)
    values = profile_values(user, profile)
    values["email"] = user.email
    values["civility_label"] = (
        str(Profile.Civility(values["civility"]).label) if values["civility"] else ""
    )
    values["full_name"] = " ".join(
        part for part in (values["first_name"], values["last_name"]) if part
    )
    values["phone_display"] = format_phone(values["phone"])
    return values


def profile_change_list(user, *, limit: int = 10) -> list[ProfileChange]:
    """The newest profile changes of ``user`` (what the profile page shows). One query."""
    return list(ProfileChange.objects.filter(user=user).order_by("-changed_at", "-pk")[:limit])
