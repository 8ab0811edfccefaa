"""The retention table of docs/retention.md, applied by a daily job.

The durations are legal policy, not deployment settings: they live here, beside the
code that applies them, and docs/retention.md states the same values (a test keeps
the two in step). :func:`retention_apply` (task ``accounts.tasks.retention_apply``,
scheduled daily in ``mynetspace/schedule.py``; command ``manage.py retention_apply``)
applies what exists today:

- signups whose email address was never verified, older than
  :data:`UNVERIFIED_SIGNUP_DAYS`: personal data erased as for a closure (the account
  row stays, pseudonymised, because evidence rows refer to it), ``account.pseudonymised``;
- closed accounts: anything personal that reappeared (profile changes, profile,
  email addresses, authenticators, names) is erased again;
- expired sessions deleted, and allauth's session list entries whose session is gone;
- closed accounts whose evidence period has ended are counted and logged for the
  operator purge procedure (docs/retention.md): evidence tables are append-only and
  this job never deletes evidence.

Each run records ``retention.applied`` on the system chain with what it did.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from audit.context import RequestMeta
from audit.services import record

from . import closure
from .models import AccountClosure, Profile, User

logger = logging.getLogger(__name__)

#: Contract evidence (consents, events, emails) after the end of the contract.
EVIDENCE_YEARS = 5
#: Invoices and credit notes (Code de commerce L123-22), applied by subscriptions.
INVOICE_YEARS = 10
#: Documents of the vault stay exportable this long after the contract ends.
VAULT_EXPORT_WINDOW_MONTHS = 12
#: A signup whose address was never verified is erased after this many days.
UNVERIFIED_SIGNUP_DAYS = 7
#: Most unverified signups handled per run (the next run continues).
BATCH = 500


@dataclass
class RetentionReport:
    unverified_signups_erased: int = 0
    closed_accounts_swept: int = 0
    profile_changes_deleted: int = 0
    sessions_deleted: int = 0
    session_entries_deleted: int = 0
    evidence_due_for_purge: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def unverified_signups(*, now: dt.datetime):
    """Accounts created through signup (they have an email address row) never verified."""
    if not apps.is_installed("allauth.account"):
        return User.objects.none()
    from allauth.account.models import EmailAddress

    cutoff = now - dt.timedelta(days=UNVERIFIED_SIGNUP_DAYS)
    return (
        User.objects.filter(
            is_active=True,
            is_staff=False,
            is_superuser=False,
            date_joined__lt=cutoff,
            closure__isnull=True,
            pk__in=EmailAddress.objects.values("user_id"),
        )
        .exclude(pk__in=EmailAddress.objects.filter(verified=True).values("user_id"))
        .order_by("pk")
    )


def _erase_unverified(*, user_id: int, now: dt.datetime, meta: RequestMeta) -> bool:
    with transaction.atomic():
        user = (
            unverified_signups(now=now).select_for_update(of=("self",)).filter(pk=user_id).first()
        )
        if user is None:  # verified or closed meanwhile
            return False
        erased = closure.erase_personal_data(user=user)
        AccountClosure.objects.create(
            user=user,
            closed_at=now,
            reason="unverified_signup",
            evidence_until=closure.evidence_until(now),
        )
        record(
            action="account.pseudonymised",
            subject=user,
            data={"reason": "unverified_signup", "erased": erased},
            meta=meta,
        )
    return True


def _sweep_closed_accounts(report: RetentionReport) -> None:
    closed = User.objects.filter(closure__isnull=False)
    try:
        profile_change = apps.get_model("accounts", "ProfileChange")
    except LookupError:  # pragma: no cover - present since accounts 0003
        profile_change = None
    if profile_change is not None:
        report.profile_changes_deleted = profile_change.objects.filter(user__in=closed).delete()[0]
    leftovers = set(Profile.objects.filter(user__in=closed).values_list("user_id", flat=True))
    leftovers |= set(
        closed.exclude(email__endswith="@" + closure.PSEUDONYM_DOMAIN).values_list("pk", flat=True)
    )
    leftovers |= set(closed.exclude(first_name="", last_name="").values_list("pk", flat=True))
    leftovers |= set(closed.filter(is_active=True).values_list("pk", flat=True))
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        leftovers |= set(
            EmailAddress.objects.filter(user__in=closed).values_list("user_id", flat=True)
        )
    if apps.is_installed("allauth.mfa"):
        from allauth.mfa.models import Authenticator

        leftovers |= set(
            Authenticator.objects.filter(user__in=closed).values_list("user_id", flat=True)
        )
    for user in User.objects.filter(pk__in=leftovers).select_for_update():
        closure.erase_personal_data(user=user)
        report.closed_accounts_swept += 1


def _delete_expired_sessions(report: RetentionReport, *, now: dt.datetime) -> None:
    if settings.SESSION_ENGINE not in (
        "accounts.sessions",
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    ):
        return  # other engines expire their sessions themselves
    report.sessions_deleted = Session.objects.filter(expire_date__lt=now).delete()[0]
    if apps.is_installed("allauth.usersessions"):
        from allauth.usersessions.models import UserSession

        report.session_entries_deleted = UserSession.objects.exclude(
            session_key__in=Session.objects.values("session_key")
        ).delete()[0]


def retention_apply(*, now: dt.datetime | None = None, meta: RequestMeta | None = None):
    """Apply the retention table to what exists now; returns a :class:`RetentionReport`."""
    now = now or timezone.now()
    meta = meta or RequestMeta.system()
    report = RetentionReport()
    for user_id in list(unverified_signups(now=now).values_list("pk", flat=True)[:BATCH]):
        if _erase_unverified(user_id=user_id, now=now, meta=meta):
            report.unverified_signups_erased += 1
    with transaction.atomic():
        _sweep_closed_accounts(report)
        _delete_expired_sessions(report, now=now)
        report.evidence_due_for_purge = AccountClosure.objects.filter(
            evidence_until__lt=timezone.localdate(now)
        ).count()
        record(action="retention.applied", data=report.as_dict(), meta=meta)
    if report.evidence_due_for_purge:
        logger.warning(
            "%s closed accounts are past their evidence period: run the operator purge "
            "procedure of docs/retention.md",
            report.evidence_due_for_purge,
        )
    return report
