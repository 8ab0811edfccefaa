"""Helpers for the authentication tests: TOTP codes, signup and login through the pages.

``totp_now(secret)`` computes the current code the way an authenticator app does
(RFC 6238, SHA-1, 6 digits, 30 s), independently of allauth's own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from audit.models import Event, OutboundEmail

from .factories import PASSWORD


def totp_code(secret: str, *, at: float | None = None, digits: int = 6, period: int = 30) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def fresh_totp_code(secret: str) -> str:
    """A code at least 3 s away from the end of its 30 s window (no flaky boundary)."""
    if 30 - time.time() % 30 < 3:
        time.sleep(3.1)
    return totp_code(secret)


def login(client, email: str, password: str = PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password, **extra})


def reauthenticate(client, password: str = PASSWORD) -> None:
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content.decode()[:2000]


def activate_totp(client) -> str:
    """Enrol TOTP through the activation page, after confirming the password."""
    reauthenticate(client)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200, page
    secret = re.search(rb'id="totp-secret"[^>]*>([A-Z2-7]+)<', page.content).group(1).decode()
    response = client.post(reverse("mfa_activate_totp"), {"code": fresh_totp_code(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def enrol_totp(user) -> str:
    """Give ``user`` an active TOTP authenticator and recovery codes, as enrolment does."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def recovery_codes(user) -> list[str]:
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    instance = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return RecoveryCodes(instance).get_unused_codes()


def actions(user) -> list[str]:
    """The auth.* actions on ``user``'s chain, oldest first."""
    return list(
        Event.objects.filter(chain_key=f"user:{user.pk}", action__startswith="auth.")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def last_email(to: str, template: str | None = None) -> OutboundEmail:
    emails = OutboundEmail.objects.order_by("-id")
    if template:
        emails = emails.filter(template=template)
    return next(email for email in emails if to in email.to)


def link_in(email: OutboundEmail, pattern: str) -> str:
    from audit.emails import _read_parts

    text, _html, _attachments = _read_parts(bytes(email.raw))
    return re.search(pattern, text).group(0)


@pytest.fixture
def fast_hashing(settings):
    """Cheap password hashing: these tests log in many times (import it in the module)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
