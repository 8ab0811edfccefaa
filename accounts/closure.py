"""Account closure: other apps may refuse it or extend it, then personal data go.

Apps register a hook in their ``AppConfig.ready()``::

    register_closure_hook(
        "subscriptions",
        check=refuse_if_active_subscription,   # func(user) -> None, raises DomainError
        perform=end_everything_at_closure,     # func(user, meta) -> None
    )

:func:`account_close` runs every ``check`` first (the first refusal stops the
closure: raise :class:`ClosureRefused`, or any ``DomainError``, with a translated
message and optionally a link to where the person can fix it), then, in the same
transaction: queues the confirmation email to the original address, runs every
``perform`` (e.g. the vault opens its export window), erases or pseudonymises the
personal data (:func:`erase_personal_data`), stores an
:class:`~accounts.models.AccountClosure` and records ``account.closed``. What is
kept, why and for how long is docs/retention.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import RequestMeta
from audit.emails import email_queue
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed

from .models import AccountClosure, Profile, User

logger = logging.getLogger(__name__)

#: Non-routable domain (RFC 2606) for the addresses of closed accounts.
PSEUDONYM_DOMAIN = "closed.invalid"


class ClosureRefused(DomainError):
    """A hook refuses the closure; ``link`` points to where the person can act."""

    def __init__(
        self, message: str, code: str = "closure_refused", *, link: str = "", link_label: str = ""
    ) -> None:
        super().__init__(message, code)
        self.link = link
        self.link_label = link_label


@dataclass(frozen=True)
class ClosureHook:
    name: str
    check: Callable | None = None
    perform: Callable | None = None


_HOOKS: dict[str, ClosureHook] = {}


def register_closure_hook(
    name: str, *, check: Callable | None = None, perform: Callable | None = None
) -> None:
    """``check(user)`` may refuse (raise ``DomainError``); ``perform(user, meta)`` extends."""
    if check is None and perform is None:
        raise ValueError("a closure hook needs a check, a perform, or both")
    _HOOKS[name] = ClosureHook(name=name, check=check, perform=perform)


def closure_hooks() -> list[ClosureHook]:
    return list(_HOOKS.values())


def pseudonym_email(user) -> str:
    return f"closed-{user.pk}@{PSEUDONYM_DOMAIN}"


def is_closed(user) -> bool:
    return AccountClosure.objects.filter(user_id=user.pk).exists()


def account_close_blockers(*, user) -> list[DomainError]:
    """Every refusal the hooks give now (the page shows them before the form)."""
    refusals = []
    if user.is_staff:
        refusals.append(
            NotAllowed(
                _("Les comptes de l'équipe sont fermés par un administrateur."), "staff_account"
            )
        )
    for hook in closure_hooks():
        if hook.check is None:
            continue
        try:
            hook.check(user)
        except DomainError as exc:
            refusals.append(exc)
    return refusals


def erase_personal_data(*, user) -> dict[str, int]:
    """Delete or blank what identifies the person outside the evidence we must keep.

    Profile and profile changes deleted; names blanked; login address replaced by a
    non-routable pseudonym; password unusable (which also invalidates every session
    cookie, Django binding sessions to the password hash); account inactive;
    allauth email addresses, MFA authenticators and tracked sessions deleted.
    Idempotent: the retention job calls it again on closed accounts. Returns what
    was deleted, per kind.
    """
    counts = {"profile": Profile.objects.filter(user=user).delete()[0]}
    try:
        profile_change = apps.get_model("accounts", "ProfileChange")
    except LookupError:  # pragma: no cover - present since accounts 0003
        profile_change = None
    if profile_change is not None:
        counts["profile_changes"] = profile_change.objects.filter(user=user).delete()[0]
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        counts["email_addresses"] = EmailAddress.objects.filter(user=user).delete()[0]
    if apps.is_installed("allauth.mfa"):
        from allauth.mfa.models import Authenticator

        counts["authenticators"] = Authenticator.objects.filter(user=user).delete()[0]
    counts["sessions"] = _end_sessions(user)
    user.first_name = ""
    user.last_name = ""
    user.email = pseudonym_email(user)
    user.set_unusable_password()
    user.is_active = False
    user.save(update_fields=["first_name", "last_name", "email", "password", "is_active"])
    return counts


def _end_sessions(user) -> int:
    if not apps.is_installed("allauth.usersessions"):
        return 0
    from allauth.usersessions.models import UserSession

    ended = 0
    for session in UserSession.objects.filter(user=user):
        session.end()
        ended += 1
    return ended


def evidence_until(moment: dt.datetime) -> dt.date:
    """End of the contract-evidence period (docs/retention.md) for a closure at ``moment``."""
    from .retention import EVIDENCE_YEARS

    day = timezone.localdate(moment)
    try:
        return day.replace(year=day.year + EVIDENCE_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year + EVIDENCE_YEARS, day=28)


def account_close(*, user, acting_user, meta: RequestMeta | None = None) -> AccountClosure:
    """Close ``user``'s account for good (see the module docstring for the order of steps).

    Raises ``InvalidState`` (``already_closed``) for a closed account, ``NotAllowed``
    (``staff_account``) for staff, or the first hook's refusal, before changing anything.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if is_closed(locked) or not locked.is_active:
            raise InvalidState(_("Ce compte est déjà fermé."), "already_closed")
        refusals = account_close_blockers(user=locked)
        if refusals:
            raise refusals[0]
        now = timezone.now()
        keep_until = evidence_until(now)
        # Written to the address the person knows, before it is pseudonymised.
        email_queue(
            template="account_closed",
            to=locked.email,
            context={"closed_at": now, "evidence_until": keep_until},
            customer=locked,
            actor=acting_user,
            meta=meta,
        )
        performed = []
        for hook in closure_hooks():
            if hook.perform is not None:
                hook.perform(locked, meta)
                performed.append(hook.name)
        erased = erase_personal_data(user=locked)
        closure = AccountClosure.objects.create(
            user=locked, closed_at=now, reason="customer_request", evidence_until=keep_until
        )
        record(
            action="account.closed",
            subject=locked,
            actor=acting_user,
            target=closure,
            data={
                "reason": "customer_request",
                "evidence_until": keep_until.isoformat(),
                "hooks": performed,
                "erased": erased,
            },
            meta=meta,
        )
    # The caller's instance must not keep the old address or a usable state.
    user.refresh_from_db()
    logger.info("account %s closed", locked.pk)
    return closure


__all__ = [
    "ClosureRefused",
    "account_close",
    "account_close_blockers",
    "erase_personal_data",
    "register_closure_hook",
]
