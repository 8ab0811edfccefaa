"""Export of everything we hold about a person (GDPR art. 15 and 20), as a ZIP.

Each app contributes sections through :func:`register_export_section`::

    register_export_section(
        "abonnements",
        subscription_export,               # func(user) -> JSON value, or files
        description=_("Vos abonnements, paiements et factures."),
    )

``func(user)`` returns either a JSON-serialisable value, written as
``<name>.json``, or a list of :class:`ExportFile` / ``(filename, bytes)`` pairs,
written under ``<name>/``. Dates, decimals and UUIDs are converted to text. Every
section must select rows of ``user`` only: the tests create a second person with
data of every kind and check that nothing of theirs leaks into the export.

:func:`account_export_start` records ``account.export_downloaded`` on the person's
chain and returns the ZIP as a stream of bytes (written file by file, never held in
memory whole). The archive ends with ``README.txt``, a French explanation of
every file, built from the section descriptions.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.context import RequestMeta
from audit.models import Event, InboundEmail, OutboundEmail
from audit.services import chain_key_for, record

from .models import Consent, Profile


class ExportFile(NamedTuple):
    filename: str
    content: bytes


@dataclass(frozen=True)
class ExportSection:
    name: str
    func: Callable
    description: object


_SECTIONS: dict[str, ExportSection] = {}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FILENAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}(/[A-Za-z0-9][A-Za-z0-9._-]{0,150})*$")

README_NAME = "README.txt"


def register_export_section(name: str, func: Callable, *, description="") -> None:
    """Add (or replace) a section of the export; ``name`` becomes a file or folder name."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid export section name {name!r}")
    _SECTIONS[name] = ExportSection(name=name, func=func, description=description)


def export_sections() -> list[ExportSection]:
    return list(_SECTIONS.values())


# --- Serialisation helpers -----------------------------------------------------------------


def to_json_bytes(value) -> bytes:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()


def model_rows(queryset: QuerySet, *, exclude: tuple[str, ...] = ()) -> list[dict]:
    """Every concrete column of every row (foreign keys as ids), binary columns left out."""
    model = queryset.model
    columns = [
        f.attname
        for f in model._meta.concrete_fields
        if f.get_internal_type() != "BinaryField"
        and f.name not in exclude
        and f.attname not in exclude
    ]
    return list(queryset.order_by("pk").values(*columns))


def _model_row(instance: Model | None, *, exclude: tuple[str, ...] = ()) -> dict | None:
    if instance is None:
        return None
    return model_rows(type(instance).objects.filter(pk=instance.pk), exclude=exclude)[0]


# --- The sections of accounts and audit ---------------------------------------------------


def _account(user) -> dict:
    return {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "chain_key": chain_key_for(user),
    }


def _profile(user):
    return _model_row(Profile.objects.filter(user=user).first(), exclude=("user",))


def _profile_changes(user) -> list[dict]:
    try:
        model = apps.get_model("accounts", "ProfileChange")
    except LookupError:
        return []
    return model_rows(model.objects.filter(user=user), exclude=("user",))


def _consents(user) -> list[dict]:
    return model_rows(Consent.objects.filter(user=user), exclude=("user",))


def _events(user) -> list[dict]:
    return model_rows(Event.objects.filter(chain_key=chain_key_for(user)).order_by("seq"))


def _emails(user) -> list[ExportFile]:
    files = []
    sent = OutboundEmail.objects.filter(customer=user).order_by("pk")
    received = InboundEmail.objects.filter(customer=user).order_by("pk")
    files.append(ExportFile("envoyes.json", to_json_bytes(model_rows(sent, exclude=("customer",)))))
    for pk, raw in sent.values_list("pk", "raw").iterator(chunk_size=50):
        files.append(ExportFile(f"envoyes/{pk}.eml", bytes(raw)))
    files.append(
        ExportFile("recus.json", to_json_bytes(model_rows(received, exclude=("customer",))))
    )
    for pk, raw in received.values_list("pk", "raw").iterator(chunk_size=50):
        files.append(ExportFile(f"recus/{pk}.eml", bytes(raw)))
    return files


def _email_addresses(user) -> list[dict]:
    if not apps.is_installed("allauth.account"):
        return []
    from allauth.account.models import EmailAddress

    return model_rows(EmailAddress.objects.filter(user=user), exclude=("user",))


def _authenticators(user) -> list[dict]:
    if not apps.is_installed("allauth.mfa"):
        return []
    from allauth.mfa.models import Authenticator

    # ``data`` holds the secrets (TOTP seed, recovery codes seed, passkey credential).
    return list(
        Authenticator.objects.filter(user=user)
        .order_by("pk")
        .values("id", "type", "created_at", "last_used_at")
    )


def _sessions(user) -> list[dict]:
    if not apps.is_installed("allauth.usersessions"):
        return []
    from allauth.usersessions.models import UserSession

    # The session key is a credential: never exported.
    return list(
        UserSession.objects.filter(user=user)
        .order_by("pk")
        .values("id", "ip", "user_agent", "created_at", "last_seen_at")
    )


register_export_section(
    "compte",
    _account,
    description=gettext_lazy(
        "Votre compte : adresse e-mail de connexion, nom, dates d'inscription et de "
        "dernière connexion. Votre mot de passe n'est jamais exporté (nous n'en gardons "
        "qu'une empreinte)."
    ),
)
register_export_section(
    "profil",
    _profile,
    description=gettext_lazy(
        "Votre profil : civilité, date de naissance, adresse, téléphone (null si vous "
        "ne l'avez pas rempli)."
    ),
)
register_export_section(
    "modifications_profil",
    _profile_changes,
    description=gettext_lazy(
        "Chaque modification de votre profil, avec les valeurs avant et après "
        "(« changes ») et l'empreinte qui la relie à votre journal."
    ),
)
register_export_section(
    "consentements",
    _consents,
    description=gettext_lazy(
        "Vos consentements : le texte accepté ou refusé, sa version, son empreinte "
        "SHA-256, la date, l'adresse IP et le navigateur."
    ),
)
register_export_section(
    "journal",
    _events,
    description=gettext_lazy(
        "Votre journal de preuves complet : chaque événement avec son numéro, sa date, "
        "ses données et les empreintes qui l'enchaînent au précédent (« prev_hash », "
        "« hash »), ce qui permet de vérifier qu'aucun n'a été modifié."
    ),
)
register_export_section(
    "e-mails",
    _emails,
    description=gettext_lazy(
        "Les e-mails que nous vous avons envoyés (envoyes.json et les messages bruts "
        "envoyes/*.eml, lisibles par tout logiciel de messagerie) et ceux que nous avons "
        "reçus de vous (recus.json, recus/*.eml)."
    ),
)
register_export_section(
    "adresses_email",
    _email_addresses,
    description=gettext_lazy(
        "Les adresses e-mail de votre compte et leur état (principale, vérifiée)."
    ),
)
register_export_section(
    "double_authentification",
    _authenticators,
    description=gettext_lazy(
        "Les moyens de double authentification enregistrés (type, dates de création et "
        "de dernière utilisation), sans aucun secret."
    ),
)
register_export_section(
    "sessions",
    _sessions,
    description=gettext_lazy(
        "Vos sessions ouvertes : adresse IP, navigateur, dates d'ouverture et de dernière activité."
    ),
)


# --- The archive ---------------------------------------------------------------------------


class _Sink:
    """A write-only file for ``zipfile`` whose bytes are handed out as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _normalise_files(name: str, value) -> list[ExportFile] | None:
    """The files of a section that returned files; ``None`` for a JSON value."""
    if not isinstance(value, list) or not value:
        return None
    if not all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes | bytearray)
        for item in value
    ):
        return None
    files = []
    for filename, content in value:
        if not isinstance(filename, str) or not _FILENAME_RE.match(filename) or ".." in filename:
            raise ValueError(f"export section {name!r} gave an unsafe file name {filename!r}")
        files.append(ExportFile(f"{name}/{filename}", bytes(content)))
    return files


def readme_text(*, user, generated_at, contents: dict[str, list[str]] | None = None) -> str:
    """The French explanation that opens the archive; ``contents``: section -> file names."""
    contents = contents or {}
    lines = [
        _("Export de vos données MyNetSpace"),
        "=" * 34,
        "",
        _("Compte : %(email)s") % {"email": user.email},
        _("Généré le : %(date)s (UTC)") % {"date": generated_at.strftime("%Y-%m-%d %H:%M:%S")},
        "",
        _(
            "Cette archive contient toutes les données que nous détenons sur vous "
            "(articles 15 et 20 du RGPD), dans des formats ouverts : JSON (texte structuré, "
            "encodé en UTF-8) et e-mails bruts (.eml). Les dates sont en UTC, au format ISO 8601."
        ),
        "",
        _("Fichiers :"),
        "",
    ]
    for section in export_sections():
        names = contents.get(section.name) or [f"{section.name}.json"]
        if len(names) == 1:
            lines.append(f"- {names[0]}")
        else:
            lines.append(f"- {section.name}/ " + _("(%(count)s fichiers)") % {"count": len(names)})
        if section.description:
            lines.append(f"  {section.description}")
        lines.append("")
    lines += [
        _(
            "Les documents de votre coffre numérique, s'il est ouvert, s'exportent "
            "séparément depuis le coffre, dans leur format d'origine."
        ),
        "",
        _(
            "Pour vérifier votre journal de preuves : chaque événement a pour empreinte "
            "SHA-256(prev_hash || JSON canonique de l'événement), le premier partant de "
            "64 zéros ; le format est décrit dans notre documentation (evidence-format)."
        ),
        "",
        _("Une question ? Écrivez à notre support depuis votre espace."),
        "",
    ]
    return "\n".join(lines)


def export_files(user) -> Iterator[tuple[str, ExportFile]]:
    """``(section name, file)`` of ``user``'s export, each section computed when reached."""
    for section in export_sections():
        value = section.func(user)
        files = _normalise_files(section.name, value)
        if files is None:
            yield section.name, ExportFile(f"{section.name}.json", to_json_bytes(value))
        else:
            for item in files:
                yield section.name, item


def export_zip_stream(user, *, generated_at=None) -> Iterator[bytes]:
    """The ZIP archive of ``user``'s export, as chunks of bytes (one or more per file).

    ``README.txt`` comes last, so that it can name the files actually written.
    """
    generated_at = generated_at or timezone.now()
    stamp = timezone.localtime(generated_at).timetuple()[:6]
    sink = _Sink()
    contents: dict[str, list[str]] = {}
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(filename: str, content: bytes) -> None:
            info = zipfile.ZipInfo(filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)

        for section_name, item in export_files(user):
            contents.setdefault(section_name, []).append(item.filename)
            add(item.filename, item.content)
            yield sink.take()
        readme = readme_text(user=user, generated_at=generated_at, contents=contents)
        add(README_NAME, readme.encode())
    yield sink.take()


def export_filename(*, generated_at) -> str:
    return f"mynetspace-mes-donnees-{timezone.localtime(generated_at):%Y%m%d-%H%M}.zip"


def account_export_start(*, user, acting_user, meta: RequestMeta | None = None) -> Iterator[bytes]:
    """Record ``account.export_downloaded`` and return the archive's byte stream.

    The event is committed before the first byte leaves, so it is part of the export
    itself (last event of ``journal.json``).
    """
    generated_at = timezone.now()
    with transaction.atomic():
        record(
            action="account.export_downloaded",
            subject=user,
            actor=acting_user,
            data={"sections": [section.name for section in export_sections()]},
            meta=meta,
        )
    return export_zip_stream(user, generated_at=generated_at)


__all__ = [
    "ExportFile",
    "account_export_start",
    "export_files",
    "export_zip_stream",
    "model_rows",
    "register_export_section",
]
