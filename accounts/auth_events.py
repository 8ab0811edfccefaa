"""Authentication events as evidence: each one writes exactly one event on the user's chain.

allauth and Django announce what happened through signals; the receivers here turn
each announcement into one ``audit.services.record`` call (subject and actor = the
user, request metadata from ``request.audit_meta``). They are connected once, in
``AccountsConfig.ready()``.

Only one signal per event is listened to: allauth's ``user_logged_in`` (not
Django's, which fires for the same login), Django's ``user_logged_out`` (allauth
has none) and Django's ``user_login_failed`` (allauth calls Django's
``authenticate``). The journal (``accounts/journal.py``) describes these actions:

- ``auth.signup``: ``{"email"}``
- ``auth.login``: ``{"method": "password" | "passkey" | "password_reset" | ...,
  "mfa": bool}``, plus ``"mfa_type"`` when a second factor was used
- ``auth.login_failed``: ``{"method": "password" | "mfa"}``, plus ``"type"`` (MFA),
  ``"reauthentication": true`` when it was a reauthentication; for an address
  without account, on the system chain with ``"known_account": false``
- ``auth.logout``: ``{}``
- ``auth.password_changed``: ``{}`` (``{"first": true}`` when set, not changed)
- ``auth.password_reset``: ``{}``
- ``auth.email_added``, ``auth.email_confirmed``, ``auth.email_removed``: ``{"email"}``
- ``auth.email_primary_changed``: ``{"from", "to"}``
- ``auth.mfa_activated``, ``auth.mfa_deactivated``: ``{"type": "totp" |
  "recovery_codes" | "webauthn"}`` (one event per authenticator)
- ``auth.mfa_recovery_code_used``: ``{"reauthentication": bool}``
- ``auth.mfa_recovery_codes_regenerated``: ``{}``
- ``auth.session_ended``: ``{"ip", "started_at"}`` (another session, ended from the
  sessions list)
- ``auth.staff_idle_logout``: ``{"idle_seconds"}`` (``accounts.middleware``)
"""

from __future__ import annotations

from allauth.account import signals as account_signals
from allauth.account.authentication import get_authentication_records
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals
from django.db import transaction
from django.urls import NoReverseMatch, reverse

from audit.services import record

#: Set on a request whose logout was already recorded under another action.
LOGOUT_RECORDED_ATTR = "_mns_logout_recorded"

DISPATCH_PREFIX = "accounts.auth_events."


def _meta(request):
    return getattr(request, "audit_meta", None) if request is not None else None


def record_auth_event(*, action: str, user, request=None, data: dict | None = None) -> None:
    """One event on ``user``'s chain (the system chain when ``user`` is None)."""
    with transaction.atomic():
        record(action=action, subject=user, actor=user, data=data or {}, meta=_meta(request))


def _path_is(request, name: str) -> bool:
    try:
        return request is not None and request.path == reverse(name)
    except NoReverseMatch:
        return False


# --- Login and logout ----------------------------------------------------------------------


def login_summary(records: list[dict]) -> dict:
    """What the journal says about a login, from allauth's authentication records."""
    mfa = [r for r in records if r.get("method") == "mfa" and not r.get("reauthenticated")]
    first = records[0].get("method", "") if records else ""
    if first == "mfa" and mfa and mfa[0].get("passwordless"):
        method = "passkey"
    else:
        method = first or "email_confirmation"
    data = {"method": method, "mfa": bool(mfa)}
    if mfa:
        data["mfa_type"] = str(mfa[-1].get("type", ""))
    return data


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    records = get_authentication_records(request, user)
    record_auth_event(action="auth.login", user=user, request=request, data=login_summary(records))


def on_user_logged_out(sender, request, user, **kwargs) -> None:
    if user is None or getattr(request, LOGOUT_RECORDED_ATTR, False):
        return
    record_auth_event(action="auth.logout", user=user, request=request)


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    email = credentials.get("email") or credentials.get("username") or ""
    user = get_user_model().objects.filter(email__iexact=email).first() if email else None
    data: dict = {"method": "password"}
    if _path_is(request, "account_reauthenticate"):
        data["reauthentication"] = True
    if user is None:
        data["known_account"] = False
    record_auth_event(action="auth.login_failed", user=user, request=request, data=data)


def on_mfa_authentication_failed(sender, request, user, authenticator, **kwargs) -> None:
    data = {"method": "mfa", "type": str(authenticator.type)}
    if kwargs.get("reauthentication"):
        data["reauthentication"] = True
    record_auth_event(action="auth.login_failed", user=user, request=request, data=data)


# --- Account -------------------------------------------------------------------------------


def on_user_signed_up(sender, request, user, **kwargs) -> None:
    record_auth_event(action="auth.signup", user=user, request=request, data={"email": user.email})


def on_password_changed(sender, request, user, **kwargs) -> None:
    record_auth_event(action="auth.password_changed", user=user, request=request)


def on_password_set(sender, request, user, **kwargs) -> None:
    record_auth_event(
        action="auth.password_changed", user=user, request=request, data={"first": True}
    )


def on_password_reset(sender, request, user, **kwargs) -> None:
    record_auth_event(action="auth.password_reset", user=user, request=request)


def on_email_added(sender, request, user, email_address, **kwargs) -> None:
    record_auth_event(
        action="auth.email_added",
        user=email_address.user,
        request=request,
        data={"email": email_address.email},
    )


def on_email_confirmed(sender, request, email_address, **kwargs) -> None:
    record_auth_event(
        action="auth.email_confirmed",
        user=email_address.user,
        request=request,
        data={"email": email_address.email},
    )


def on_email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    # allauth also emits this when the first address of a new account is verified:
    # that is not a change (auth.email_confirmed says it).
    if from_email_address is None or from_email_address.email == to_email_address.email:
        return
    record_auth_event(
        action="auth.email_primary_changed",
        user=to_email_address.user,
        request=request,
        data={"from": from_email_address.email, "to": to_email_address.email},
    )


def on_email_removed(sender, request, user, email_address, **kwargs) -> None:
    record_auth_event(
        action="auth.email_removed",
        user=email_address.user,
        request=request,
        data={"email": email_address.email},
    )


# --- MFA -----------------------------------------------------------------------------------


def on_authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    record_auth_event(
        action="auth.mfa_activated",
        user=authenticator.user,
        request=request,
        data={"type": str(authenticator.type)},
    )


def on_authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    record_auth_event(
        action="auth.mfa_deactivated",
        user=authenticator.user,
        request=request,
        data={"type": str(authenticator.type)},
    )


def on_authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        record_auth_event(
            action="auth.mfa_recovery_codes_regenerated", user=authenticator.user, request=request
        )


def on_authenticator_used(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        record_auth_event(
            action="auth.mfa_recovery_code_used",
            user=authenticator.user,
            request=request,
            data={"reauthentication": bool(kwargs.get("reauthenticated"))},
        )


# --- Sessions ------------------------------------------------------------------------------


def record_session_ended(*, request, session) -> None:
    """Called by ``UserSessionsAdapter.end_sessions`` for each other session it ends."""
    record_auth_event(
        action="auth.session_ended",
        user=session.user,
        request=request,
        data={"ip": str(session.ip or ""), "started_at": session.created_at.isoformat()},
    )


RECEIVERS = [
    (account_signals.user_logged_in, on_user_logged_in),
    (auth_signals.user_logged_out, on_user_logged_out),
    (auth_signals.user_login_failed, on_user_login_failed),
    (mfa_signals.authentication_failed, on_mfa_authentication_failed),
    (account_signals.user_signed_up, on_user_signed_up),
    (account_signals.password_changed, on_password_changed),
    (account_signals.password_set, on_password_set),
    (account_signals.password_reset, on_password_reset),
    (account_signals.email_added, on_email_added),
    (account_signals.email_confirmed, on_email_confirmed),
    (account_signals.email_changed, on_email_changed),
    (account_signals.email_removed, on_email_removed),
    (mfa_signals.authenticator_added, on_authenticator_added),
    (mfa_signals.authenticator_removed, on_authenticator_removed),
    (mfa_signals.authenticator_reset, on_authenticator_reset),
    (mfa_signals.authenticator_used, on_authenticator_used),
]


def connect() -> None:
    """Connect every receiver once (a fixed dispatch_uid makes a second call harmless)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=DISPATCH_PREFIX + receiver.__name__)
