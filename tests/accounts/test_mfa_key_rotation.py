"""``manage.py accounts_rotate_mfa_keys``: second-factor secrets move to the current key."""

from __future__ import annotations

import base64
import io
import os

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command

from accounts import mfa_keys
from audit.models import Event

from .auth_helpers import (
    enrol_totp,
    fast_hashing,  # noqa: F401 (fixture)
    fresh_totp_code,
    login,
    recovery_codes,
)
from .factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()


def tokens(user) -> dict[str, str]:
    found = {}
    for authenticator in Authenticator.objects.filter(user=user):
        member = mfa_keys.ENCRYPTED_MEMBERS.get(authenticator.type)
        if member:
            found[authenticator.type] = authenticator.data[member]
    return found


def new_key_first(settings) -> str:
    old_ring = settings.ENCRYPTION_KEYS
    settings.ENCRYPTION_KEYS = f"k2:{base64.b64encode(os.urandom(32)).decode()},{old_ring}"
    return old_ring


def run() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("accounts_rotate_mfa_keys", "--batch-size", "1", stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def test_rotation_moves_every_secret_and_the_old_key_can_go(client, settings):
    """GIVEN customers with TOTP and recovery codes under the old key WHEN a new key is
    put first and the command runs THEN every token names the new key, a second run
    has nothing to do, and with the old key removed the same code and recovery codes
    still log in."""
    users = UserFactory.create_batch(2, verified_email=True)
    secrets_ = [enrol_totp(user) for user in users]
    codes = recovery_codes(users[1])
    new_key_first(settings)

    code, output = run()
    assert code == 0, output
    assert "4 re-encrypted, 0 already under the current key, 0 failed" in output
    for user in users:
        assert all(token.startswith("mns1.k2.") for token in tokens(user).values())
    assert Event.objects.filter(action="accounts.mfa_secret_reencrypted").count() == 4
    code, output = run()
    assert code == 0
    assert "0 re-encrypted, 4 already under the current key" in output

    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS.split(",")[0]  # old key removed
    response = login(client, users[0].email)
    response = client.post(response["Location"], {"code": fresh_totp_code(secrets_[0])})
    assert response.status_code == 302
    client.logout()
    response = login(client, users[1].email)
    assert client.post(response["Location"], {"code": codes[0]}).status_code == 302


def test_an_undecryptable_secret_is_reported_and_the_others_still_move(settings):
    """GIVEN one secret whose key is gone from the ring THEN the command exits 1 naming
    that authenticator, and the other secrets are re-encrypted all the same."""
    broken_user, user = UserFactory.create_batch(2, verified_email=True)
    enrol_totp(broken_user)
    enrol_totp(user)
    totp = Authenticator.objects.get(user=broken_user, type=Authenticator.Type.TOTP)
    prefix, _key_id, body = totp.data["secret"].split(".", 2)
    totp.data = {**totp.data, "secret": f"{prefix}.retired.{body}"}
    totp.save(update_fields=["data"])
    new_key_first(settings)

    code, output = run()
    assert code == 1
    assert f"authenticator {totp.pk}: key 'retired' is not in the key ring" in output
    assert all(token.startswith("mns1.k2.") for token in tokens(user).values())
