"""MFA: TOTP enrolment and login, single-use codes, secrets encrypted at rest, trust."""

from __future__ import annotations

import base64
import os

import pytest
from allauth.mfa.models import Authenticator
from django.db import connection
from django.urls import reverse

from accounts.adapters import MFAAdapter
from mynetspace.core.keyring import KeyRing

from .auth_helpers import (
    activate_totp,
    enrol_totp,
    fast_hashing,  # noqa: F401 (fixture)
    fresh_totp_code,
    login,
    reauthenticate,
    recovery_codes,
)
from .factories import StaffFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()


def raw_authenticator_data(authenticator_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator_id])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else str(value)


def login_with_code(client, email: str, code: str, *, trust: str | None = "skip"):
    """Password, then the code; then answers the "trust this browser?" question."""
    response = login(client, email)
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    if trust and response.status_code == 302 and response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": trust})
    return response


def test_enrolment_through_the_page_stores_an_encrypted_secret(client):
    """GIVEN a customer enrolling TOTP on the activation page
    WHEN we read the database column itself
    THEN neither the secret nor its base32 bytes appear; only our key ring decrypts it."""
    user = UserFactory(verified_email=True)
    login(client, user.email)
    secret = activate_totp(client)

    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    raw = raw_authenticator_data(totp.pk)
    assert secret not in raw
    assert secret.lower() not in raw.lower()
    assert base64.b32decode(secret).hex() not in raw
    assert "mns1." in raw
    assert MFAAdapter().decrypt(totp.data["secret"]) == secret

    codes = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert codes.data["seed"].startswith("mns1.")


def test_secret_still_decrypts_after_a_key_rotation(settings):
    user = UserFactory(verified_email=True)
    secret = enrol_totp(user)
    old_ring = settings.ENCRYPTION_KEYS
    new_key = base64.b64encode(os.urandom(32)).decode()
    settings.ENCRYPTION_KEYS = f"rotated:{new_key},{old_ring}"

    token = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"]
    assert KeyRing.parse(settings.ENCRYPTION_KEYS).needs_rotation(token)
    assert MFAAdapter().decrypt(token) == secret
    assert MFAAdapter().encrypt(secret).startswith("mns1.rotated.")


def test_a_token_is_bound_to_its_purpose():
    from mynetspace.core import keyring
    from mynetspace.core.keyring import KeyRingError

    token = keyring.encrypt(b"JBSWY3DPEHPK3PXP", aad=b"somewhere else")
    with pytest.raises(KeyRingError):
        MFAAdapter().decrypt(token)


def test_login_asks_for_the_code_and_a_code_works_once(client):
    user = UserFactory(verified_email=True)
    secret = enrol_totp(user)
    code = fresh_totp_code(secret)

    response = login_with_code(client, user.email, code)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)

    client.post(reverse("account_logout"))
    response = login_with_code(client, user.email, code)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "Code incorrect" in response.content.decode() or "incorrect" in (
        response.content.decode().lower()
    )


def test_each_recovery_code_works_once(client):
    user = UserFactory(verified_email=True)
    enrol_totp(user)
    first, second = recovery_codes(user)[:2]

    assert login_with_code(client, user.email, first).status_code == 302
    client.post(reverse("account_logout"))
    assert login_with_code(client, user.email, first).status_code == 200
    assert "_auth_user_id" not in client.session
    client.post(reverse("account_logout"))
    assert login_with_code(client, user.email, second).status_code == 302
    assert first not in recovery_codes(user)
    assert second not in recovery_codes(user)


def test_customers_may_trust_their_browser(client):
    user = UserFactory(verified_email=True)
    secret = enrol_totp(user)
    response = login_with_code(client, user.email, fresh_totp_code(secret), trust=None)
    assert response["Location"] == reverse("mfa_trust")
    page = client.get(reverse("mfa_trust")).content.decode()
    assert "Faire confiance pendant" in page
    response = client.post(reverse("mfa_trust"), {"action": "trust"})
    assert response.status_code == 302
    client.post(reverse("account_logout"))

    # Trusted: the next login from this browser skips the code.
    response = login(client, user.email)
    assert response["Location"] == "/espace/"


def test_staff_are_never_offered_trust_and_trust_cookies_do_not_skip_their_code(client):
    staff = StaffFactory(verified_email=True)
    secret = enrol_totp(staff)
    response = login_with_code(client, staff.email, fresh_totp_code(secret), trust=None)
    assert response.status_code == 302
    assert response["Location"] != reverse("mfa_trust")
    assert client.session["_auth_user_id"] == str(staff.pk)
    assert client.get(reverse("mfa_trust")).status_code in (302, 404)

    # Even with a trust cookie issued for this very configuration, the code is asked.
    from allauth.mfa.internal.flows.trust import trust_browser
    from django.http import HttpResponse
    from django.test import RequestFactory

    cookie_response = HttpResponse()
    trust_browser(RequestFactory().get("/"), staff, cookie_response)
    client.post(reverse("account_logout"))
    client.cookies.update(cookie_response.cookies)
    assert login(client, staff.email)["Location"] == reverse("mfa_authenticate")


def test_webauthn_relying_party_is_the_public_site(settings, rf):
    from allauth.core import context

    settings.SITE_URL = "https://www.mynetspace.example"
    with context.request_context(rf.get("/", HTTP_HOST="evil.example")):
        entity = MFAAdapter().get_public_key_credential_rp_entity()
    assert entity == {"id": "www.mynetspace.example", "name": "MyNetSpace"}


def test_mfa_pages_render_in_french(client):
    user = UserFactory(verified_email=True)
    login(client, user.email)
    reauthenticate(client)
    index = client.get(reverse("mfa_index")).content.decode()
    assert "Double authentification" in index
    activation = client.get(reverse("mfa_activate_totp")).content.decode()
    assert 'id="totp-secret"' in activation
    assert '<label for="id_code">' in activation
