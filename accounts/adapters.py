"""Our adapters for django-allauth (settings ACCOUNT_ADAPTER, MFA_ADAPTER, USERSESSIONS_ADAPTER).

- Every email allauth sends goes through the email evidence service
  (``audit.emails.email_queue``), rendered from ``templates/emails/account/<name>/``.
- The client IP is the one the audit trail records (trusted proxies only), so rate
  limits and journals agree on who asked.
- MFA secrets (TOTP secret, recovery codes seed) are encrypted with the master key
  ring before allauth stores them.
- Staff never skip the second factor: "trust this browser" is neither offered to
  them nor honoured for them (login stages below).
- Ending sessions from the sessions list writes ``auth.session_ended`` evidence.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.stages import AuthenticateStage, TrustStage
from allauth.mfa.utils import is_mfa_enabled
from allauth.mfa.webauthn.internal.flows import did_use_passwordless_login
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation

from audit.context import client_ip
from audit.emails import email_queue
from mynetspace.core import keyring

from . import auth_events

logger = logging.getLogger(__name__)

#: Binds encrypted MFA secrets to their purpose: a token copied elsewhere does not decrypt.
MFA_SECRET_AAD = b"allauth.mfa"

_STAGE_REPLACEMENTS = {
    "allauth.mfa.stages.AuthenticateStage": "accounts.adapters.StaffAuthenticateStage",
    "allauth.mfa.stages.TrustStage": "accounts.adapters.StaffTrustStage",
}


def email_template_name(template_prefix: str) -> str:
    """``account/email/password_reset_key`` -> ``account/password_reset_key``.

    allauth's MFA notifications (``mfa/email/totp_activated``...) have names of their
    own, so one ``account/`` folder holds every authentication email.
    """
    return f"account/{template_prefix.rsplit('/', 1)[-1]}"


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = self.request
        user = context.get("user")
        User = get_user_model()
        if not isinstance(user, User) or user.pk is None:
            # Mails about an address rather than a logged-in user (account already
            # exists, unknown account): the customer is whoever owns the address.
            user = User.objects.filter(email__iexact=email).first()
        values = {
            "email": email,
            "request": request,
            "user": user,
            **context,
        }
        email_queue(
            template=email_template_name(template_prefix),
            to=[email],
            context=values,
            customer=user,
            language=translation.get_language(),
            meta=getattr(request, "audit_meta", None),
        )

    def get_client_ip(self, request) -> str:
        return client_ip(request.META) or super().get_client_ip(request)

    def get_login_stages(self) -> list[str]:
        return [_STAGE_REPLACEMENTS.get(stage, stage) for stage in super().get_login_stages()]


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return keyring.encrypt(text.encode("utf-8"), aad=MFA_SECRET_AAD)

    def decrypt(self, encrypted_text: str) -> str:
        return keyring.decrypt(encrypted_text, aad=MFA_SECRET_AAD).decode("utf-8")

    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        # The relying party is the public site, not whatever Host the request names.
        return {"id": urlsplit(settings.SITE_URL).hostname or "localhost", "name": "MyNetSpace"}

    def get_totp_issuer(self) -> str:
        return "MyNetSpace"


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        request = self.request
        for session in sessions:
            with transaction.atomic():
                if not session.is_current():
                    # Ending the current session is a logout, recorded as such.
                    auth_events.record_session_ended(request=request, session=session)
                session.end()


class StaffAuthenticateStage(AuthenticateStage):
    """Asks staff for their second factor even in a browser they once trusted."""

    def _should_handle(self, request) -> bool:
        user = self.login.user
        if (
            user is not None
            and user.is_staff
            and is_mfa_enabled(user, [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])
            and not did_use_passwordless_login(request, user)
        ):
            return True
        return super()._should_handle(request)


class StaffTrustStage(TrustStage):
    """Never offers staff to trust the browser."""

    def handle(self) -> tuple:
        user = self.login.user
        if user is not None and user.is_staff:
            return None, True
        return super().handle()
