"""What the vault's sharing, staff access and export add to the accounts registries.

Imported from ``VaultConfig.ready()``:

- journal sentences for ``vault.share_*``, ``vault.grant_*``, ``vault.staff_access``,
  ``vault.export_*`` (the customer's trail, /journal/ and /coffre/journal/);
- the ``coffre`` section of the account data export: metadata only, with a pointer
  to /coffre/export/ for the files (docs/decisions.md, "Vault in the data export");
- the closure hook: links and grants revoked, then the export window opened
  (vault/export.py), or the vault crypto-shredded at once when it holds nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.closure import register_closure_hook
from accounts.exports import model_rows, register_export_section
from accounts.journal import register_describer, register_kind, sentence
from audit.context import RequestMeta
from audit.emails import email_queue
from audit.models import Event

from . import export, export_tasks, grants, sharing  # noqa: F401  (export_tasks registers its task)
from .models import Document, ShareLink, StaffGrant, StaffGrantRevocation

# --- Journal --------------------------------------------------------------------------------


def _data(event: Event, key: str, default=""):
    value = event.data.get(key) if isinstance(event.data, dict) else None
    return default if value is None else value


def _title(event: Event) -> str:
    return str(_data(event, "title")) or _("un document")


def _date(value: str) -> str:
    try:
        moment = timezone.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return ""
    return formats.date_format(timezone.localtime(moment), "j F Y à H:i")


def _share_created(event: Event) -> str:
    text = _("Vous avez créé un lien de partage pour « %(title)s », valable jusqu'au %(end)s") % {
        "title": _title(event),
        "end": _date(str(_data(event, "expires_at"))),
    }
    extras = []
    if _data(event, "with_code", False) is True:
        extras.append(_("protégé par un code"))
    limit = _data(event, "max_downloads", None)
    if isinstance(limit, int):
        extras.append(_("limité à %(n)d téléchargement(s)") % {"n": limit})
    if extras:
        text = f"{text} ({', '.join(extras)})"
    return sentence(text, event)


_SHARE_REVOKE_REASONS = {
    "owner": gettext_lazy("à votre demande"),
    "too_many_codes": gettext_lazy("après trop de codes erronés"),
    "document_gone": gettext_lazy("le document n'est plus disponible"),
    "account_closed": gettext_lazy("à la fermeture de votre compte"),
}


def _share_revoked(event: Event) -> str:
    reason = _SHARE_REVOKE_REASONS.get(str(_data(event, "reason")), "")
    text = _("Le lien de partage de « %(title)s » a été désactivé") % {"title": _title(event)}
    if reason:
        text = f"{text} ({reason})"
    return sentence(text, event, with_origin=str(_data(event, "reason")) == "owner")


def _share_accessed(event: Event) -> str:
    return sentence(
        _("Quelqu'un a ouvert votre lien de partage de « %(title)s »") % {"title": _title(event)},
        event,
    )


def _share_downloaded(event: Event) -> str:
    return sentence(
        _("« %(title)s » a été téléchargé par votre lien de partage") % {"title": _title(event)},
        event,
    )


def _share_code_failed(event: Event) -> str:
    return sentence(
        _("Un code d'accès erroné a été saisi sur votre lien de partage de « %(title)s »")
        % {"title": _title(event)},
        event,
    )


def _grant_created(event: Event) -> str:
    documents = _data(event, "documents", [])
    return sentence(
        _(
            "Vous avez autorisé %(grantee)s à consulter %(count)d document(s) "
            "du %(start)s au %(end)s"
        )
        % {
            "grantee": _data(event, "grantee_label") or _("notre équipe"),
            "count": len(documents) if isinstance(documents, list) else 0,
            "start": _date(str(_data(event, "starts_at"))),
            "end": _date(str(_data(event, "ends_at"))),
        },
        event,
    )


def _grant_revoked(event: Event) -> str:
    if _data(event, "reason") == StaffGrantRevocation.Reason.ACCOUNT_CLOSED:
        text = _("Autorisation d'accès n° %(grant)s retirée à la fermeture de votre compte")
        return sentence(text % {"grant": _data(event, "grant")}, event, with_origin=False)
    return sentence(
        _("Vous avez retiré l'autorisation d'accès n° %(grant)s donnée à notre équipe")
        % {"grant": _data(event, "grant")},
        event,
    )


def _staff_access(event: Event) -> str:
    return sentence(
        _(
            "%(staff)s, de notre équipe, a consulté « %(title)s » grâce à votre "
            "autorisation n° %(grant)s"
        )
        % {
            "staff": _data(event, "staff_label") or _("Un membre de notre équipe"),
            "title": _title(event),
            "grant": _data(event, "grant"),
        },
        event,
        with_origin=False,
    )


def _export_downloaded(event: Event) -> str:
    if _data(event, "via") == "after_closure":
        text = _("Export complet de votre coffre après la fermeture du compte (%(n)d document(s))")
    else:
        text = _("Export complet de votre coffre (%(n)d document(s))")
    count = _data(event, "documents", 0)
    return sentence(text % {"n": count if isinstance(count, int) else 0}, event)


def _window_opened(event: Event) -> str:
    return sentence(
        _("Votre coffre reste récupérable jusqu'au %(end)s")
        % {"end": _date(_data(event, "ends_at"))},
        event,
        with_origin=False,
    )


def _window_password_failed(event: Event) -> str:
    return sentence(_("Mot de passe erroné sur la page de récupération de votre coffre"), event)


def _window_ended(event: Event) -> str:
    return sentence(
        _("Fin de la période de récupération : les documents de votre coffre ont été détruits"),
        event,
        with_origin=False,
    )


def _register_journal() -> None:
    register_kind("vault", gettext_lazy("Coffre numérique"))
    for action, func in {
        "vault.share_created": _share_created,
        "vault.share_revoked": _share_revoked,
        "vault.share_accessed": _share_accessed,
        "vault.share_downloaded": _share_downloaded,
        "vault.share_code_failed": _share_code_failed,
        "vault.grant_created": _grant_created,
        "vault.grant_revoked": _grant_revoked,
        "vault.staff_access": _staff_access,
        "vault.export_downloaded": _export_downloaded,
        "vault.export_window_opened": _window_opened,
        "vault.export_window_password_failed": _window_password_failed,
        "vault.export_window_ended": _window_ended,
    }.items():
        register_describer(action, func)


# --- Data export -------------------------------------------------------------------------------


def vault_export_section(user) -> dict:
    """Metadata of the vault (documents, links, grants); the files are in /coffre/export/."""
    manifest = export.metadata_manifest(user)
    return {
        "note": _(
            "Les fichiers de vos documents ne sont pas dans cet export : téléchargez-les "
            "en une fois, avec leur manifeste et le journal du coffre, depuis %(url)s."
        )
        % {"url": settings.SITE_URL + reverse("vault:export")},
        "documents": manifest["documents"],
        "share_links": model_rows(
            ShareLink.objects.filter(owner=user),
            exclude=("owner", "token_sha256", "code_hash"),
        ),
        "staff_grants": [
            {
                **row,
                "documents": [
                    str(u)
                    for u in Document.objects.filter(staff_grants__pk=row["id"])
                    .order_by("pk")
                    .values_list("uuid", flat=True)
                ],
            }
            for row in model_rows(StaffGrant.objects.filter(owner=user), exclude=("owner",))
        ],
        "staff_grant_revocations": model_rows(
            StaffGrantRevocation.objects.filter(grant__owner=user)
        ),
    }


# --- Closure -----------------------------------------------------------------------------------


def vault_closure_perform(user, meta: RequestMeta | None) -> None:
    """Links and grants end; the vault stays retrievable for the export window.

    Runs inside :func:`accounts.closure.account_close`, before the personal data are
    erased (the email goes to the address the person knows, the password verifier is
    copied for the retrieval page). A vault with nothing left to retrieve is
    crypto-shredded at once.
    """
    from .services import user_key_destroy

    sharing.share_revoke_all(owner=user, reason=ShareLink.RevokeReason.ACCOUNT_CLOSED, meta=meta)
    grants.grant_revoke_all(
        owner=user, reason=StaffGrantRevocation.Reason.ACCOUNT_CLOSED, meta=meta
    )
    documents = Document.objects.filter(owner=user).not_destroyed().count()
    if documents == 0:
        user_key_destroy(user=user, reason="account_closed_empty_vault", meta=meta)
        return
    window, token = export.export_window_open(user=user, meta=meta)
    email_queue(
        template="vault_export_window",
        to=user.email,
        context={
            "link": settings.SITE_URL + reverse("vault:retrieval", args=[token]),
            "ends_at": window.ends_at,
            "documents": documents,
        },
        customer=user,
        meta=meta,
    )


def register() -> None:
    _register_journal()
    register_export_section(
        "coffre",
        vault_export_section,
        description=gettext_lazy(
            "Votre coffre numérique : la description de chaque document (titre, type, "
            "étiquettes, taille, empreinte SHA-256, dates), vos liens de partage et les "
            "autorisations données à notre équipe. Les fichiers eux-mêmes se téléchargent "
            "en une fois depuis la page « Exporter mon coffre »."
        ),
    )
    register_closure_hook("vault", perform=vault_closure_perform)


register()
