"""Passkeys in a real browser: Chromium's virtual authenticator (WebAuthn over CDP).

The customer adds a passkey (after giving the password again), logs out, logs in with
the passkey alone, and finds both in /journal/. The relying party is the site's own
host (``SITE_URL``): here the live server on http://localhost, a secure context.
"""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator

from tests.accounts.factories import (
    UserFactory,
    accept_current_texts,
    publish_required_texts,
)
from tests.browser.steps import log_in, reauthenticate

pytestmark = pytest.mark.django_db(transaction=True)


def test_add_a_passkey_then_log_in_with_it_alone(page, live_server, settings):
    settings.SITE_URL = live_server.url
    # WebAuthn over plain http is refused unless allowed: http://localhost is the only
    # origin of this test (production serves https only).
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    publish_required_texts()
    user = UserFactory(verified_email=True)
    accept_current_texts(user)

    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator_id = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]

    # Log in with the password.
    log_in(page, user.email)

    # Add a passkey: the password is asked again first.
    page.goto("/accounts/2fa/webauthn/add/?passwordless")
    reauthenticate(page, then="**/accounts/2fa/webauthn/add/**")
    page.locator("input[name=name]").fill("Ordinateur portable")
    page.locator("input[name=passwordless]").check()
    page.locator("#mfa_webauthn_add").click()
    page.wait_for_url(re.compile(r".*/accounts/2fa/(?!webauthn/add).*"))
    passkey = Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN)
    assert passkey.data["credential"]
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert [c["isResidentCredential"] for c in stored["credentials"]] == [True]

    # Log out, then in with the passkey alone: no password typed.
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_url(re.compile(r".*/$"))
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
    page.wait_for_url("**/espace/**")

    page.goto("/journal/")
    journal = page.locator("main").inner_text()
    assert "clé d'accès" in journal
    assert "Connexion avec une clé d'accès" in journal
