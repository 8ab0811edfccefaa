"""What the documents part of the vault adds to the accounts registries.

Imported from ``VaultConfig.ready()``: the plain-French sentences of the document
events (``vault.document_*``, ``vault.upload_refused``) for « Mon journal », the
vault trail and each document's history, and the « Mon coffre » dashboard panel.
The ``vault`` kind itself is declared in vault/registrations.py.
"""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.dashboard import register_panel
from accounts.journal import register_describer, sentence
from audit.models import Event

from .models import DocumentSource, DocumentType


def _data(event: Event, key: str) -> str:
    value = event.data.get(key) if isinstance(event.data, dict) else None
    return value if isinstance(value, str) else ""


def _title(event: Event) -> str:
    return _data(event, "title") or _data(event, "name") or _("un document")


def _type_label(value: str) -> str:
    try:
        return str(DocumentType(value).label)
    except ValueError:
        return value or "—"


_SOURCE_PHRASES = {
    DocumentSource.UPLOAD: gettext_lazy("Document « %(title)s » ajouté à votre coffre"),
    DocumentSource.EMAIL: gettext_lazy(
        "Document « %(title)s » reçu par e-mail et ajouté à votre coffre"
    ),
    DocumentSource.SERVICE: gettext_lazy(
        "Document « %(title)s » déposé dans votre coffre par le service"
    ),
    DocumentSource.STAFF: gettext_lazy(
        "Document « %(title)s » déposé dans votre coffre par notre équipe"
    ),
}


def _stored(event: Event) -> str:
    phrase = _SOURCE_PHRASES.get(_data(event, "source"), _SOURCE_PHRASES[DocumentSource.UPLOAD])
    size = event.data.get("size") if isinstance(event.data, dict) else None
    text = str(phrase) % {"title": _title(event)}
    if isinstance(size, int):
        text = f"{text} ({filesizeformat(size)})"
    return sentence(text, event, with_origin=_data(event, "source") == DocumentSource.UPLOAD)


def _refused(event: Event) -> str:
    name = _data(event, "name")
    if name:
        text = _("Dépôt de « %(name)s » refusé (fichier non accepté)") % {"name": name}
    else:
        text = _("Dépôt d'un fichier refusé (fichier non accepté)")
    return sentence(text, event)


def _scanned(event: Event) -> str:
    if _data(event, "verdict") == "unscanned":
        text = _("Document « %(title)s » enregistré sans analyse antivirus")
    else:
        text = _("Document « %(title)s » vérifié par l'antivirus : aucun logiciel malveillant")
    return sentence(text % {"title": _title(event)}, event, with_origin=False)


def _infected(event: Event) -> str:
    text = _(
        "Document « %(title)s » refusé : l'antivirus y a détecté un logiciel malveillant "
        "(%(signature)s) ; il a été détruit"
    ) % {"title": _title(event), "signature": _data(event, "signature") or "?"}
    return sentence(text, event, with_origin=False)


def _rejected(event: Event) -> str:
    text = _(
        "Document « %(title)s » refusé : l'antivirus n'a pas pu l'analyser en entier ; "
        "il a été détruit"
    ) % {"title": _title(event)}
    return sentence(text, event, with_origin=False)


def _renamed(event: Event) -> str:
    text = _("Document « %(before)s » renommé en « %(title)s »") % {
        "before": _data(event, "before") or "?",
        "title": _title(event),
    }
    return sentence(text, event)


def _retyped(event: Event) -> str:
    text = _("Type du document « %(title)s » : %(type)s") % {
        "title": _title(event),
        "type": _type_label(_data(event, "doc_type")),
    }
    return sentence(text, event)


def _tagged(event: Event) -> str:
    tags = event.data.get("tags") if isinstance(event.data, dict) else None
    names = ", ".join(str(tag) for tag in tags) if isinstance(tags, list) else ""
    if names:
        text = _("Étiquettes du document « %(title)s » : %(tags)s")
    else:
        text = _("Étiquettes du document « %(title)s » retirées")
    return sentence(text % {"title": _title(event), "tags": names}, event)


def _day(value: str) -> str:
    from datetime import date

    try:
        return formats.date_format(date.fromisoformat(value), "j F Y")
    except (TypeError, ValueError):
        return ""


def _dates_set(event: Event) -> str:
    issued, expires = _day(_data(event, "issued_on")), _day(_data(event, "expires_on"))
    parts = []
    if issued:
        parts.append(_("délivré le %(date)s") % {"date": issued})
    if expires:
        parts.append(_("expire le %(date)s") % {"date": expires})
    if parts:
        text = _("Dates du document « %(title)s » : %(dates)s") % {
            "title": _title(event),
            "dates": ", ".join(parts),
        }
    else:
        text = _("Dates du document « %(title)s » effacées") % {"title": _title(event)}
    return sentence(text, event)


def _downloaded(event: Event) -> str:
    return sentence(_("Document « %(title)s » téléchargé") % {"title": _title(event)}, event)


def _viewed(event: Event) -> str:
    text = _("Document « %(title)s » ouvert dans le navigateur") % {"title": _title(event)}
    return sentence(text, event)


def _trashed(event: Event) -> str:
    return sentence(
        _("Document « %(title)s » mis à la corbeille") % {"title": _title(event)}, event
    )


def _restored(event: Event) -> str:
    return sentence(
        _("Document « %(title)s » sorti de la corbeille") % {"title": _title(event)}, event
    )


def _destroyed(event: Event) -> str:
    if _data(event, "reason") == "trash_expired":
        text = _("Document « %(title)s » détruit définitivement après 30 jours dans la corbeille")
        return sentence(text % {"title": _title(event)}, event, with_origin=False)
    text = _("Document « %(title)s » détruit définitivement à votre demande")
    return sentence(text % {"title": _title(event)}, event)


DESCRIBERS = {
    "vault.document_stored": _stored,
    "vault.upload_refused": _refused,
    "vault.document_scanned": _scanned,
    "vault.document_infected": _infected,
    "vault.document_rejected": _rejected,
    "vault.document_renamed": _renamed,
    "vault.document_retyped": _retyped,
    "vault.document_tagged": _tagged,
    "vault.document_dates_set": _dates_set,
    "vault.document_downloaded": _downloaded,
    "vault.document_viewed": _viewed,
    "vault.document_trashed": _trashed,
    "vault.document_restored": _restored,
    "vault.document_destroyed": _destroyed,
}

for _action, _func in DESCRIBERS.items():
    register_describer(_action, _func)


# --- Dashboard panel ------------------------------------------------------------------------


def vault_panel(request) -> dict | None:
    """« Mon coffre »: documents, space used against the quota, a link. Two queries."""
    user = request.user
    if not user.is_authenticated or user.is_staff:
        return None
    from .selectors import vault_usage_for

    return {"usage": vault_usage_for(user), "vault_url": reverse("vault:documents")}


register_panel("vault", "vault/dashboard_panel.html", vault_panel, order=30)
