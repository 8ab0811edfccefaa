"""What classification, intake and expiry reminders add to the project's registries.

Imported from ``VaultConfig.ready()``:

- the Celery tasks of vault/intake_tasks.py (Celery discovers only ``tasks.py``);
- the pending-work kinds ``vault.classification`` (documents whose owner consented
  and that are still unclassified are classified within a few minutes, even when
  no message was sent: consent given after the upload, a lost message) and
  ``vault.classification_withdrawn`` (suggestions left after a withdrawal recorded
  without :func:`vault.classification.classification_consent_set` are cleared);
- journal sentences for ``vault.classification_*``, ``vault.document_deposited``,
  ``vault.intake_*`` and ``vault.expiry_reminder_sent`` (the ``vault`` kind itself
  is registered in vault/registrations.py);
- the ``coffre_classement`` section of the account data export (the customer's
  rules and intake addresses);
- the closure hook: the intake address stops working when the account closes.
"""

from __future__ import annotations

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.closure import register_closure_hook
from accounts.exports import register_export_section
from accounts.journal import register_describer, sentence
from audit.context import RequestMeta
from audit.models import Event
from mynetspace.core.tasks import register_pending_work

from . import classification, intake, intake_tasks
from .models import ClassificationRule, DocumentType, IntakeAddress

# --- Journal ------------------------------------------------------------------------------


def _data(event: Event, key: str, default=""):
    value = event.data.get(key) if isinstance(event.data, dict) else None
    return default if value is None else value


def _type_label(value) -> str:
    try:
        return str(DocumentType(value).label)
    except ValueError:
        return ""


def _date_label(value) -> str:
    from datetime import date

    try:
        return formats.date_format(date.fromisoformat(str(value)), "j F Y")
    except ValueError:
        return ""


def _suggested(event: Event) -> str:
    label = _type_label(_data(event, "doc_type"))
    expiry = _date_label(_data(event, "expires_on"))
    if label and expiry:
        text = _(
            "Classement automatique d'un document : %(type)s suggéré, expiration le %(date)s"
        ) % {"type": label, "date": expiry}
    elif label:
        text = _("Classement automatique d'un document : %(type)s suggéré") % {"type": label}
    elif expiry:
        text = _("Classement automatique d'un document : expiration le %(date)s suggérée") % {
            "date": expiry
        }
    else:
        text = _("Classement automatique d'un document : aucun type reconnu")
    return sentence(text, event, with_origin=False)


def _confirmed(event: Event) -> str:
    label = _type_label(_data(event, "doc_type")) or _("Autre document")
    if _data(event, "corrected", False) is True:
        text = _("Vous avez corrigé le classement d'un document : %(type)s") % {"type": label}
    else:
        text = _("Vous avez confirmé le classement d'un document : %(type)s") % {"type": label}
    return sentence(text, event)


def _dismissed(event: Event) -> str:
    return sentence(_("Vous avez ignoré la suggestion de classement d'un document"), event)


def _rule_created(event: Event) -> str:
    text = _("Vous avez créé la règle de classement « %(words)s » → %(type)s") % {
        "words": _data(event, "pattern"),
        "type": _type_label(_data(event, "doc_type")),
    }
    return sentence(text, event)


def _rule_deleted(event: Event) -> str:
    text = _("Vous avez supprimé la règle de classement « %(words)s »") % {
        "words": _data(event, "pattern")
    }
    return sentence(text, event)


def _cleared(event: Event) -> str:
    count = _data(event, "count", 0)
    text = _(
        "Suggestions de classement effacées après le retrait de votre consentement (%(n)s)"
    ) % {"n": count}
    return sentence(text, event)


def _deposited(event: Event) -> str:
    text = _("Nous avons déposé « %(title)s » dans votre coffre") % {
        "title": _data(event, "title") or _("un document")
    }
    return sentence(text, event, with_origin=False)


def _address_created(event: Event) -> str:
    text = _("Nouvelle adresse de dépôt par e-mail : %(address)s") % {
        "address": _data(event, "address")
    }
    return sentence(text, event)


def _address_revoked(event: Event) -> str:
    text = _("L'adresse de dépôt %(address)s ne fonctionne plus") % {
        "address": _data(event, "address")
    }
    return sentence(text, event, with_origin=False)


def _email_processed(event: Event) -> str:
    accepted = _data(event, "accepted", [])
    refused = _data(event, "refused", [])
    text = _(
        "E-mail reçu à votre adresse de dépôt : %(accepted)s pièce(s) déposée(s), "
        "%(refused)s refusée(s)"
    ) % {
        "accepted": len(accepted) if isinstance(accepted, list) else 0,
        "refused": len(refused) if isinstance(refused, list) else 0,
    }
    return sentence(text, event, with_origin=False)


def _email_refused(event: Event) -> str:
    return sentence(
        _("E-mail trop volumineux reçu à votre adresse de dépôt, non conservé"),
        event,
        with_origin=False,
    )


def _reminder_sent(event: Event) -> str:
    text = _("Rappel envoyé : « %(title)s » expire le %(date)s") % {
        "title": _data(event, "title") or _("un document"),
        "date": _date_label(_data(event, "expires_on")),
    }
    return sentence(text, event, with_origin=False)


def _register_journal() -> None:
    describers = {
        "vault.classification_suggested": _suggested,
        "vault.classification_confirmed": _confirmed,
        "vault.classification_dismissed": _dismissed,
        "vault.classification_rule_created": _rule_created,
        "vault.classification_rule_deleted": _rule_deleted,
        "vault.classification_suggestions_cleared": _cleared,
        "vault.document_deposited": _deposited,
        "vault.intake_address_created": _address_created,
        "vault.intake_address_revoked": _address_revoked,
        "vault.intake_email_processed": _email_processed,
        "vault.intake_email_refused": _email_refused,
        "vault.expiry_reminder_sent": _reminder_sent,
    }
    for action, func in describers.items():
        register_describer(action, func)


# --- Data export, closure -------------------------------------------------------------------


def classification_export_section(user) -> dict:
    return {
        "classification_rules": [
            {
                "pattern": rule.pattern,
                "doc_type": rule.doc_type,
                "tag": rule.tag,
                "created_at": rule.created_at.isoformat(),
            }
            for rule in ClassificationRule.objects.filter(owner=user)
        ],
        "intake_addresses": [
            {
                "address": intake.intake_address_text(address),
                "created_at": address.created_at.isoformat(),
                "revoked_at": address.revoked_at.isoformat() if address.revoked_at else None,
            }
            for address in IntakeAddress.objects.filter(user=user).order_by("created_at")
        ],
    }


def intake_closure_perform(user, meta: RequestMeta | None) -> None:
    intake.intake_address_revoke_all(user=user, meta=meta)


def register() -> None:
    _register_journal()
    register_pending_work(
        "vault.classification",
        find=classification.pending_classification_ids,
        task=intake_tasks.document_classify_task,
        on_enqueued=classification.pending_classification_enqueued,
    )
    register_pending_work(
        "vault.classification_withdrawn",
        find=classification.orphan_suggestion_ids,
        task=intake_tasks.orphan_suggestions_clear_task,
    )
    register_export_section(
        "coffre_classement",
        classification_export_section,
        description=gettext_lazy(
            "Vos règles de classement automatique et vos adresses de dépôt par e-mail."
        ),
    )
    register_closure_hook("vault_intake", perform=intake_closure_perform)


register()
