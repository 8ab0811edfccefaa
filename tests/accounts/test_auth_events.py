"""Each authentication event writes exactly one event on the user's own chain.

The journal (/journal/) reads these events, so the action names and data are a contract
(accounts/auth_events.py lists them).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Event

from .auth_helpers import (
    actions,
    activate_totp,
    fast_hashing,  # noqa: F401 (fixture)
    fresh_totp_code,
    last_email,
    link_in,
    login,
    reauthenticate,
    recovery_codes,
)
from .factories import PASSWORD, UserFactory, publish_required_texts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

NEW_PASSWORD = "Un autre mot de passe 2024"


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()


class Trail:
    """The auth.* events added to a user's chain since the last look."""

    def __init__(self, user):
        self.user = user
        self.seen = len(actions(user))

    def new(self) -> list[str]:
        current = actions(self.user)
        added, self.seen = current[self.seen :], len(current)
        return added

    def last_event(self) -> Event:
        return (
            Event.objects.filter(chain_key=f"user:{self.user.pk}", action__startswith="auth.")
            .order_by("-seq")
            .first()
        )


def mfa_login(client, user, code):
    assert login(client, user.email)["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "skip"})
    return response


def test_signup_and_verification(client):
    from accounts import selectors
    from accounts.models import User

    publish_required_texts()
    data = {"email": "neuf@example.test", "password1": PASSWORD, "password2": PASSWORD}
    for purpose in selectors.REQUIRED_PURPOSES:
        data[f"accept_{purpose}"] = "on"
        data[f"version_{purpose}"] = str(
            selectors.legal_version_in_force(purpose, language="fr").version
        )
    client.post(reverse("account_signup"), data, HTTP_USER_AGENT="Firefox/128.0")
    user = User.objects.get(email="neuf@example.test")
    assert actions(user) == ["auth.signup"]
    trail = Trail(user)
    event = trail.last_event()
    assert event.data == {"email": "neuf@example.test"}
    assert event.actor_id == user.pk
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Firefox/128.0")

    link = link_in(last_email(user.email), r"http://\S+/accounts/confirm-email/\S+/")
    client.post(link.split("testserver", 1)[-1])
    assert trail.new() == ["auth.email_confirmed"]
    assert trail.last_event().data == {"email": "neuf@example.test"}


def test_login_logout_and_failures(client):
    user = UserFactory(verified_email=True)
    other = UserFactory(verified_email=True)
    trail = Trail(user)

    login(client, user.email, "pas le bon")
    assert trail.new() == ["auth.login_failed"]
    assert trail.last_event().data == {"method": "password"}

    login(client, user.email)
    assert trail.new() == ["auth.login"]
    assert trail.last_event().data == {"method": "password", "mfa": False}

    client.post(reverse("account_logout"))
    assert trail.new() == ["auth.logout"]
    assert actions(other) == []


def test_failure_for_an_unknown_address_goes_to_the_system_chain_and_says_nothing(client):
    known = UserFactory(email="connu@example.test", verified_email=True)
    before = Event.objects.filter(chain_key="system", action="auth.login_failed").count()
    for_unknown = login(client, "inconnu@example.test", "pas le bon")
    for_known = login(client, "connu@example.test", "pas le bon")
    assert Event.objects.filter(chain_key="system", action="auth.login_failed").count() == (
        before + 1
    )
    event = Event.objects.filter(chain_key="system", action="auth.login_failed").latest("seq")
    assert event.data == {"method": "password", "known_account": False}
    assert actions(known) == ["auth.login_failed"]

    def form_errors(response):
        html = response.content.decode()
        start = html.index('role="alert"')
        return html[start : html.index("</div>", start)]

    assert for_unknown.status_code == for_known.status_code == 200
    assert form_errors(for_unknown) == form_errors(for_known)


def test_password_change_and_reset(client):
    user = UserFactory(verified_email=True)
    login(client, user.email)
    trail = Trail(user)
    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert trail.new() == ["auth.password_changed"]

    anonymous = Client()
    anonymous.post(reverse("account_reset_password"), {"email": user.email})
    link = link_in(last_email(user.email), r"http://testserver/accounts/password/reset/key/\S+/")
    page = anonymous.get(link.removeprefix("http://testserver"), follow=True)
    anonymous.post(page.redirect_chain[-1][0], {"password1": PASSWORD, "password2": PASSWORD})
    assert trail.new() == ["auth.password_reset"]


def test_email_change(client):
    user = UserFactory(email="avant@example.test", verified_email=True)
    login(client, user.email)
    reauthenticate(client)
    trail = Trail(user)
    client.post(reverse("account_email"), {"action_add": "", "email": "apres@example.test"})
    assert trail.new() == ["auth.email_added"]
    assert trail.last_event().data == {"email": "apres@example.test"}

    link = link_in(last_email("apres@example.test"), r"http://\S+/accounts/confirm-email/\S+/")
    client.post(link.split("testserver", 1)[-1])
    assert trail.new() == ["auth.email_confirmed", "auth.email_primary_changed"]
    assert trail.last_event().data == {"from": "avant@example.test", "to": "apres@example.test"}


def test_mfa_lifecycle(client, django_capture_on_commit_callbacks):
    """allauth announces MFA changes once their transaction commits."""
    user = UserFactory(verified_email=True)
    login(client, user.email)
    trail = Trail(user)

    with django_capture_on_commit_callbacks(execute=True):
        secret = activate_totp(client)
    assert trail.new() == ["auth.mfa_activated", "auth.mfa_activated"]
    types = Event.objects.filter(chain_key=f"user:{user.pk}", action="auth.mfa_activated")
    assert sorted(e.data["type"] for e in types) == ["recovery_codes", "totp"]

    client.post(reverse("account_logout"))
    trail.new()
    login(client, user.email)
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert trail.new() == ["auth.login_failed"]
    assert trail.last_event().data == {"method": "mfa", "type": "totp"}

    response = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code(secret)})
    if response["Location"] == reverse("mfa_trust"):
        client.post(reverse("mfa_trust"), {"action": "skip"})
    assert trail.new() == ["auth.login"]
    assert trail.last_event().data == {"method": "password", "mfa": True, "mfa_type": "totp"}

    client.post(reverse("account_logout"))
    trail.new()
    mfa_login(client, user, recovery_codes(user)[0])
    assert trail.new() == ["auth.mfa_recovery_code_used", "auth.login"]
    assert trail.last_event().data["mfa_type"] == "recovery_codes"

    reauthenticate(client)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mfa_generate_recovery_codes"))
    assert trail.new() == ["auth.mfa_recovery_codes_regenerated"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mfa_deactivate_totp"))
    assert trail.new() == ["auth.mfa_deactivated", "auth.mfa_deactivated"]


def test_ending_other_sessions(client, settings):
    user = UserFactory(verified_email=True)
    laptop, phone = Client(), Client(HTTP_USER_AGENT="Phone")
    login(laptop, user.email)
    login(phone, user.email)
    assert "_auth_user_id" in phone.session
    trail = Trail(user)

    laptop.post(reverse("usersessions_list"))
    assert trail.new() == ["auth.session_ended"]
    assert trail.last_event().data["ip"] == "127.0.0.1"
    assert "_auth_user_id" not in phone.session
    assert "_auth_user_id" in laptop.session


def test_a_customer_never_writes_on_another_customers_chain(client):
    alice = UserFactory(verified_email=True)
    bob = UserFactory(verified_email=True)
    login(client, alice.email, "faux")
    login(client, alice.email)
    client.post(reverse("account_logout"))
    assert actions(bob) == []
    assert not Event.objects.filter(actor_id=alice.pk).exclude(chain_key=f"user:{alice.pk}")
