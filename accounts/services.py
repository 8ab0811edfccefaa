"""State changes of the accounts app: consents, acceptance of legal texts, profile.

Each service runs in one transaction and writes its audit event on the customer's
chain in that transaction. Action names emitted here:

- ``consent.granted`` / ``consent.withdrawn``: one per ``Consent`` row, data
  ``{purpose, key, version, sha256}`` (the text's key, version number and hash, or
  empty values for a purpose without a text);
- ``profile.updated``: data ``{fields, sha256}``: the names of the changed fields
  and the digest of the ``ProfileChange`` row holding before and after (the values
  themselves stay out of the immutable log: docs/decisions.md, "Profile changes").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import services as audit_services
from audit.context import RequestMeta, current_meta
from audit.hashing import CanonicalJSONError, canonical_json, format_timestamp, validate_text
from audit.models import ContentVersion
from mynetspace.core.errors import DomainError

from . import validators
from .models import Consent, Profile, ProfileChange, User
from .selectors import PROFILE_FIELDS, PROFILE_USER_FIELDS, document_key_for

WORDING_MAX = 2000


# --- Consents ---------------------------------------------------------------------------


def _storable_meta(value: str, max_length: int) -> str:
    return value.replace("\x00", "\ufffd")[:max_length]


def consent_record(
    *,
    user: User,
    purpose: str,
    granted: bool,
    content_version: ContentVersion | None = None,
    wording: str,
    acting_user: User | None = None,
    meta: RequestMeta | None = None,
) -> Consent:
    """Record one answer of ``user`` to ``purpose`` as evidence, with its event.

    ``wording`` is the exact sentence the person was shown. A purpose tied to a
    published text (terms, privacy policy, vault information) needs the
    ``content_version`` shown, whose key, number and hash are copied into the row.
    The time, IP address and user agent come from ``meta`` (the request's).
    """
    if purpose not in Consent.Purpose.values:
        raise DomainError(_("Ce consentement n'existe pas."), "consent_unknown_purpose")
    expected_key = document_key_for(purpose)
    if expected_key is not None and content_version is None:
        raise DomainError(
            _("Ce consentement porte sur un texte : la version affichée est requise."),
            "consent_version_required",
        )
    if content_version is not None and expected_key not in (None, content_version.key):
        raise DomainError(
            _("La version donnée n'est pas celle du texte concerné."), "consent_version_mismatch"
        )
    wording = (wording or "").strip()
    if not wording or len(wording) > WORDING_MAX:
        raise DomainError(_("Le texte affiché doit être enregistré."), "consent_wording_required")
    try:
        validate_text(wording, where="wording")
    except CanonicalJSONError:
        raise DomainError(
            _("Le texte affiché contient des caractères non autorisés."), "consent_wording_invalid"
        ) from None
    meta = meta or current_meta()
    with transaction.atomic():
        consent = Consent(
            user=user,
            purpose=purpose,
            granted=bool(granted),
            content_version=content_version,
            document_key=content_version.key if content_version else "",
            version=content_version.version if content_version else None,
            sha256=content_version.sha256 if content_version else "",
            wording=wording,
            created_at=timezone.now(),
            ip=_storable_meta(meta.ip, 45),
            user_agent=_storable_meta(meta.user_agent, 500),
        )
        consent.save(force_insert=True)
        audit_services.record(
            action="consent.granted" if consent.granted else "consent.withdrawn",
            subject=user,
            actor=acting_user or user,
            on_behalf_of=user if acting_user is not None and acting_user != user else None,
            target=consent,
            data={
                "purpose": purpose,
                "key": consent.document_key,
                "version": consent.version,
                "sha256": consent.sha256,
            },
            meta=meta,
        )
    return consent


@dataclass(frozen=True)
class Acceptance:
    """What a person ticked: a legal text's version and the sentence next to the box."""

    purpose: str
    content_version: ContentVersion
    wording: str


def terms_accept(
    *, user: User, acceptances: Sequence[Acceptance], meta: RequestMeta | None = None
) -> list[Consent]:
    """Record the acceptance of legal texts (at signup, or of a new version).

    All or nothing: one ``Consent`` and one ``consent.granted`` event per text, in one
    transaction. The version recorded is the one the person was shown, even if a
    newer one was published a moment later (the re-acceptance gate then asks for it).
    """
    if not acceptances:
        raise DomainError(_("Aucun texte à accepter."), "terms_nothing_to_accept")
    purposes = [item.purpose for item in acceptances]
    if len(set(purposes)) != len(purposes) or any(document_key_for(p) is None for p in purposes):
        raise DomainError(_("Les textes à accepter sont invalides."), "terms_invalid")
    with transaction.atomic():
        return [
            consent_record(
                user=user,
                purpose=item.purpose,
                granted=True,
                content_version=item.content_version,
                wording=item.wording,
                meta=meta,
            )
            for item in acceptances
        ]


# --- Profile ----------------------------------------------------------------------------


class ProfileInvalid(DomainError):
    """Some values were refused; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(_("Certaines informations du profil sont invalides."), "profile_invalid")
        self.errors = errors


def profile_clean(values: Mapping[str, object]) -> dict:
    """Normalise and validate profile values; raises ``ProfileInvalid`` naming each field.

    Only the fields present in ``values`` are checked (and later changed); the
    postal code is checked against the country given, or France.
    """
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown profile fields: {sorted(unknown)}")
    cleaners = {
        "civility": lambda v: validators.clean_civility(v, choices=Profile.Civility.values),
        "first_name": validators.clean_name,
        "last_name": validators.clean_name,
        "birth_date": validators.clean_birth_date,
        "address_line1": validators.clean_address_line,
        "address_line2": validators.clean_address_line,
        "city": validators.clean_city,
        "country": validators.clean_country,
        "phone": validators.clean_phone,
    }
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}
    for name in PROFILE_FIELDS:
        if name not in values or name == "postal_code":
            continue
        try:
            cleaned[name] = cleaners[name](values[name])
        except ValidationError as exc:
            errors[name] = [str(message) for message in exc.messages]
    if "postal_code" in values:
        country = cleaned.get("country", "FR")
        try:
            cleaned["postal_code"] = validators.clean_postal_code(
                values["postal_code"], country=country
            )
        except ValidationError as exc:
            errors["postal_code"] = [str(message) for message in exc.messages]
    if errors:
        raise ProfileInvalid(errors)
    return cleaned


def _as_text(value) -> str:
    """The form of a value kept in ``ProfileChange`` (canonical JSON has no dates)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def profile_change_digest(change: ProfileChange) -> str:
    """SHA-256 of the canonical JSON of the change (user, time, nonce, values).

    This is the ``sha256`` of its ``profile.updated`` event: anyone holding the row
    can show that the log recorded exactly these values.
    """
    body = {
        "user": change.user_id,
        "changed_at": format_timestamp(change.changed_at),
        "nonce": change.nonce,
        "changes": change.changes,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def profile_update(
    *,
    user: User,
    values: Mapping[str, object],
    acting_user: User | None = None,
    meta: RequestMeta | None = None,
) -> ProfileChange | None:
    """Change the profile fields given in ``values``; returns the change, or None.

    Values are validated by :func:`profile_clean` (``ProfileInvalid`` lists the
    refused fields; nothing is stored then). Fields whose value does not change are
    ignored; with no change at all nothing is written. Otherwise, in one transaction:
    the user and profile rows, a ``ProfileChange`` with before and after, and a
    ``profile.updated`` event naming the fields with the change's digest.
    """
    cleaned = profile_clean(values)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        profile, _created = Profile.objects.get_or_create(user=locked)
        changes: dict[str, list[str]] = {}
        for name, value in cleaned.items():
            holder = locked if name in PROFILE_USER_FIELDS else profile
            before = getattr(holder, name)
            if before == value:
                continue
            changes[name] = [_as_text(before), _as_text(value)]
            setattr(holder, name, value)
        if not changes:
            return None
        user_fields = [name for name in PROFILE_USER_FIELDS if name in changes]
        profile_fields = [name for name in changes if name not in PROFILE_USER_FIELDS]
        if user_fields:
            locked.save(update_fields=user_fields)
            for name in user_fields:
                setattr(user, name, getattr(locked, name))
        if profile_fields:
            profile.full_clean(exclude=["user"])
            profile.save(update_fields=[*profile_fields, "updated_at"])
        change = ProfileChange(
            user=locked,
            changed_at=timezone.now(),
            changed_by=acting_user or user,
            changes=changes,
            nonce=secrets.token_hex(16),
        )
        change.sha256 = profile_change_digest(change)
        change.save(force_insert=True)
        audit_services.record(
            action="profile.updated",
            subject=locked,
            actor=acting_user or user,
            on_behalf_of=locked if acting_user is not None and acting_user != user else None,
            target=change,
            data={"fields": sorted(changes), "sha256": change.sha256},
            meta=meta,
        )
    return change
