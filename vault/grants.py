"""Staff access to a customer's documents, only with the customer's consent (DESIGN §2 vault, 4°).

"Our staff only with the user's express, recorded, time-limited consent": the
customer grants (:func:`grant_create`) access to NAMED documents, for a window of at
most :data:`MAX_DAYS` days, to one named staff member or to the support team. The
grant is evidence, written once (:class:`~vault.models.StaffGrant`, with the exact
wording accepted, IP and user agent) plus ``vault.grant_created`` on the customer's
chain; revoking adds a :class:`~vault.models.StaffGrantRevocation` row and
``vault.grant_revoked``.

A staff member reads a document through :func:`staff_document_open` only: it checks
that the grant is active now, names the document, and is meant for this staff member
(named, or a member of the support team for a team grant), and records
``vault.staff_access`` on the CUSTOMER's chain with the staff member as actor. Any
other case raises :class:`GrantNotFound`, which the views turn into a 404.

Staff may only read what a grant names (the document's plaintext, through a view
that streams it with the safe download headers); they never get a list of the
customer's other documents.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_lib

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import RequestMeta
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed

from .blobs import PlaintextStream, blob_open
from .models import (
    Document,
    ScanStatus,
    StaffGrant,
    StaffGrantRevocation,
    StaffGrantTeam,
)

#: Longest window a customer may grant.
MAX_DAYS = 30
DEFAULT_DAYS = 7
#: The staff group whose members may use a team grant (accounts migration 0006).
TEAM_GROUPS = {StaffGrantTeam.SUPPORT: "Support"}
MAX_DOCUMENTS = 50


class GrantNotFound(DomainError):
    """No active grant gives this staff member this document: the views answer 404."""

    def __init__(self) -> None:
        super().__init__(
            _("Aucun accès en cours ne vous permet de lire ce document."), "vault.grant_not_found"
        )


def grant_wording(*, grantee_label: str, starts_at, ends_at, count: int) -> str:
    """The sentence the customer accepts, stored with the grant as evidence."""
    start = timezone.localtime(starts_at)
    end = timezone.localtime(ends_at)
    return _(
        "J'autorise %(grantee)s à consulter %(count)d document(s) de mon coffre que j'ai "
        "désigné(s), du %(start)s au %(end)s. Chaque consultation sera enregistrée dans mon "
        "journal. Je peux retirer cette autorisation à tout moment."
    ) % {
        "grantee": grantee_label,
        "count": count,
        "start": start.strftime("%d/%m/%Y %H:%M"),
        "end": end.strftime("%d/%m/%Y %H:%M"),
    }


def staff_label(user) -> str:
    """How a staff member is named to customers: first name and initial, never the address."""
    first = (user.first_name or "").strip()
    last = (user.last_name or "").strip()
    if first:
        return f"{first} {last[:1]}." if last else first
    return _("Conseiller n° %(id)s") % {"id": user.pk}


def grantee_label(grant: StaffGrant) -> str:
    if grant.grantee_id is not None:
        return staff_label(grant.grantee)
    return str(StaffGrantTeam(grant.team).label)


def grantable_staff() -> QuerySet:
    """Staff members a customer may name: active staff of the support team."""
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True, groups__name=TEAM_GROUPS["support"])
        .distinct()
        .order_by("first_name", "last_name", "pk")
    )


def grant_state(grant: StaffGrant, now=None) -> str:
    """``revoked``, ``upcoming``, ``ended`` or ``active``."""
    now = now or timezone.now()
    if hasattr(grant, "revocation"):
        return "revoked"
    if now < grant.starts_at:
        return "upcoming"
    if now >= grant.ends_at:
        return "ended"
    return "active"


def grant_create(
    *,
    owner,
    documents: list[Document],
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    grantee=None,
    team: str = "",
    purpose: str = "",
    meta: RequestMeta | None = None,
) -> StaffGrant:
    """Record the customer's consent; returns the grant.

    Raises ``DomainError`` for an empty document list, a window that is reversed,
    ended, or longer than :data:`MAX_DAYS` days, a grantee that is not an active
    support staff member, and ``NotAllowed`` for a document that is not the owner's.
    """
    now = timezone.now()
    if not documents:
        raise DomainError(_("Choisissez au moins un document."), "vault.grant_no_document")
    if len(documents) > MAX_DOCUMENTS:
        raise DomainError(
            _("Un accès porte sur %(max)d documents au plus.") % {"max": MAX_DOCUMENTS},
            "vault.grant_too_many_documents",
        )
    if ends_at <= starts_at or ends_at <= now:
        raise DomainError(
            _("La fin de l'accès doit suivre son début et être dans le futur."),
            "vault.grant_window_invalid",
        )
    if ends_at - max(starts_at, now) > dt.timedelta(days=MAX_DAYS):
        raise DomainError(
            _("Un accès dure %(max)d jours au plus.") % {"max": MAX_DAYS},
            "vault.grant_window_too_long",
        )
    if (grantee is None) == (not team):
        raise DomainError(
            _("Choisissez soit un membre de l'équipe, soit l'équipe support."),
            "vault.grant_grantee_invalid",
        )
    if team and team not in StaffGrantTeam.values:
        raise DomainError(_("Cette équipe n'existe pas."), "vault.grant_grantee_invalid")
    if grantee is not None and not grantable_staff().filter(pk=grantee.pk).exists():
        raise DomainError(
            _("Ce membre de l'équipe ne peut pas recevoir d'accès."),
            "vault.grant_grantee_invalid",
        )
    meta = meta or RequestMeta.system()
    with transaction.atomic():
        ids = sorted({document.pk for document in documents})
        locked = list(Document.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(locked) != len(ids) or any(d.owner_id != owner.pk for d in locked):
            raise NotAllowed(_("Ce document n'est pas le vôtre."), "vault.not_owner")
        if any(d.destroyed_at is not None or d.trashed_at is not None for d in locked):
            raise InvalidState(
                _("Un document à la corbeille ou détruit ne peut pas être consulté."),
                "vault.grant_document_unavailable",
            )
        label = staff_label(grantee) if grantee is not None else str(StaffGrantTeam(team).label)
        starts_at = max(starts_at, now)
        grant = StaffGrant.objects.create(
            owner=owner,
            grantee=grantee,
            team=team,
            starts_at=starts_at,
            ends_at=ends_at,
            purpose=purpose[:200],
            wording=grant_wording(
                grantee_label=label, starts_at=starts_at, ends_at=ends_at, count=len(locked)
            ),
            ip=meta.ip[:45],
            user_agent=meta.user_agent[:500],
            created_at=now,
        )
        grant.documents.set(locked)
        record(
            action="vault.grant_created",
            subject=owner,
            actor=owner,
            target=grant,
            data={
                "grant": grant.pk,
                "grantee": grantee.pk if grantee is not None else None,
                "grantee_label": label,
                "team": team,
                "documents": [str(d.uuid) for d in locked],
                "starts_at": grant.starts_at.isoformat(),
                "ends_at": grant.ends_at.isoformat(),
                "purpose": grant.purpose,
                "wording": grant.wording,
            },
            meta=meta,
        )
    return grant


def grant_revoke(
    *,
    grant: StaffGrant,
    acting_user=None,
    reason: str = StaffGrantRevocation.Reason.CUSTOMER,
    meta: RequestMeta | None = None,
) -> StaffGrantRevocation:
    """End ``grant`` now (the customer, or the system at closure). Idempotent."""
    with transaction.atomic():
        locked = StaffGrant.objects.select_for_update().get(pk=grant.pk)
        if acting_user is not None and locked.owner_id != acting_user.pk:
            raise NotAllowed(_("Cet accès n'est pas le vôtre."), "vault.not_owner")
        existing = StaffGrantRevocation.objects.filter(grant=locked).first()
        if existing is not None:
            return existing
        revocation = StaffGrantRevocation.objects.create(
            grant=locked, revoked_by=acting_user, reason=reason
        )
        record(
            action="vault.grant_revoked",
            subject=locked.owner,
            actor=acting_user,
            target=locked,
            data={"grant": locked.pk, "reason": str(reason)},
            meta=meta,
        )
    return revocation


def grant_revoke_all(*, owner, reason: str, meta: RequestMeta | None = None) -> int:
    """Revoke every grant of ``owner`` not yet ended (account closure)."""
    count = 0
    grants = StaffGrant.objects.filter(
        owner=owner, revocation__isnull=True, ends_at__gt=timezone.now()
    )
    for grant in grants:
        grant_revoke(grant=grant, reason=reason, meta=meta)
        count += 1
    return count


# --- Staff side ----------------------------------------------------------------------------


def _staff_may_use(staff) -> bool:
    return bool(staff is not None and staff.is_authenticated and staff.is_staff and staff.is_active)


def grants_usable_by(staff, *, now=None) -> QuerySet:
    """Grants active now that name ``staff`` or their team."""
    if not _staff_may_use(staff):
        return StaffGrant.objects.none()
    now = now or timezone.now()
    teams = [
        team for team, group in TEAM_GROUPS.items() if staff.groups.filter(name=group).exists()
    ]
    return (
        StaffGrant.objects.filter(starts_at__lte=now, ends_at__gt=now, revocation__isnull=True)
        .filter(Q(grantee=staff) | Q(grantee__isnull=True, team__in=teams))
        .filter(owner__is_active=True)
        .select_related("owner")
    )


def grant_get_for_staff(*, staff, grant_id) -> StaffGrant:
    """The active grant ``grant_id`` usable by ``staff``, or :class:`GrantNotFound`."""
    try:
        grant_id = int(grant_id)
    except (TypeError, ValueError):
        raise GrantNotFound() from None
    grant = grants_usable_by(staff).filter(pk=grant_id).first()
    if grant is None:
        raise GrantNotFound()
    return grant


def grant_document_for_staff(*, staff, grant_id, document_uuid) -> tuple[StaffGrant, Document]:
    """The document ``document_uuid`` through grant ``grant_id``, or :class:`GrantNotFound`."""
    grant = grant_get_for_staff(staff=staff, grant_id=grant_id)
    try:
        document_uuid = uuid_lib.UUID(str(document_uuid))
    except ValueError:
        raise GrantNotFound() from None
    document = (
        grant.documents.filter(
            uuid=document_uuid,
            owner_id=grant.owner_id,
            scan_status=ScanStatus.CLEAN,
            trashed_at__isnull=True,
            destroyed_at__isnull=True,
        )
        .select_related("owner")
        .first()
    )
    if document is None:
        raise GrantNotFound()
    return grant, document


def staff_document_open(
    *, staff, grant_id, document_uuid, meta: RequestMeta | None = None
) -> tuple[Document, PlaintextStream]:
    """Record one staff access and return the document's verified plaintext.

    ``vault.staff_access`` goes on the customer's chain, actor the staff member,
    with the grant and the document; the grant is checked again inside the
    transaction, so a revocation that commits first wins.
    """
    with transaction.atomic():
        grant, document = grant_document_for_staff(
            staff=staff, grant_id=grant_id, document_uuid=document_uuid
        )
        # Serialises with grant_revoke, which locks the grant row too.
        list(StaffGrant.objects.select_for_update().filter(pk=grant.pk).values_list("pk"))
        if StaffGrantRevocation.objects.filter(grant_id=grant.pk).exists():
            raise GrantNotFound()
        record(
            action="vault.staff_access",
            subject=grant.owner,
            actor=staff,
            target=document,
            data={
                "grant": grant.pk,
                "document": str(document.uuid),
                "title": document.title,
                "staff": staff.pk,
                "staff_label": staff_label(staff),
            },
            meta=meta,
        )
        stream = blob_open(document=document)
    return document, stream


__all__ = [
    "GrantNotFound",
    "grant_create",
    "grant_document_for_staff",
    "grant_get_for_staff",
    "grant_revoke",
    "grant_revoke_all",
    "grant_state",
    "grantable_staff",
    "grants_usable_by",
    "staff_document_open",
    "staff_label",
]
