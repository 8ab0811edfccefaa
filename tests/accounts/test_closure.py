"""Account closure: reauthentication, confirmation, hooks, erasure, what is kept."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from accounts import closure
from accounts.models import AccountClosure, Consent, Profile, ProfileChange, User
from audit.context import RequestMeta
from audit.models import Event, OutboundEmail
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed
from tests.accounts.privacy_helpers import login_recently_reauthenticated, make_user

pytestmark = pytest.mark.django_db


def _customer() -> User:
    user = make_user("anne@example.test", first_name="Anne", last_name="Martin")
    Profile.objects.create(user=user, city="Lyon", phone="0612345678")
    ProfileChange.objects.create(
        user=user,
        changed_at=timezone.now(),
        changes={"city": ["", "Lyon"]},
        nonce="n" * 32,
        sha256="a" * 64,
    )
    Consent.objects.create(
        user=user, purpose=Consent.Purpose.TERMS, version=1, sha256="b" * 64,
        created_at=timezone.now(),
    )  # fmt: skip
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "S"})
    record(action="auth.login", subject=user, actor=user, data={"method": "password"})
    return user


@pytest.fixture
def refusing_hook(monkeypatch):
    def check(user):
        raise closure.ClosureRefused(
            "Résiliez d'abord votre abonnement en cours.",
            "active_subscription",
            link="/abonnement/",
            link_label="Mon abonnement",
        )

    monkeypatch.setitem(
        closure._HOOKS, "subscriptions", closure.ClosureHook("subscriptions", check)
    )


def _confirm(client, user):
    return client.post(reverse("account_close"), {"understood": "on", "email": user.email})


def test_closure_page_explains_the_consequences(client):
    user = make_user("anne@example.test")
    client.force_login(user)

    page = client.get(reverse("account_close")).content.decode()

    assert "Ce que nous effaçons tout de suite" in page
    assert "pendant 5 ans" in page and "pendant 10 ans" in page
    assert "abonnement en cours doit d'abord être résilié" in page
    assert "restent exportables pendant 12 mois" in page
    assert "Fermer définitivement mon compte" in page


def test_closure_requires_a_recent_reauthentication(client):
    user = _customer()
    client.force_login(user)

    response = _confirm(client, user)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    user.refresh_from_db()
    assert user.is_active and user.email == "anne@example.test"
    assert not AccountClosure.objects.exists()


@pytest.mark.parametrize(
    "data",
    [{}, {"email": "anne@example.test"}, {"understood": "on", "email": "other@example.test"}],
)
def test_closure_needs_the_box_ticked_and_the_address_typed(client, data):
    user = _customer()
    login_recently_reauthenticated(client, user)

    response = client.post(reverse("account_close"), data)

    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not AccountClosure.objects.exists()


def test_closing_erases_personal_data_keeps_evidence_and_logs_out(client):
    user = _customer()
    other = make_user("bruno@example.test", first_name="Bruno")
    login_recently_reauthenticated(client, user)
    events_before = Event.objects.filter(chain_key=f"user:{user.pk}").count()

    response = _confirm(client, user)

    assert response.status_code == 302
    assert response["Location"] == reverse("account_closed")
    user.refresh_from_db()
    assert user.email == f"closed-{user.pk}@closed.invalid"
    assert (user.first_name, user.last_name) == ("", "")
    assert not user.has_usable_password()
    assert not user.is_active
    assert not Profile.objects.filter(user=user).exists()
    assert not ProfileChange.objects.filter(user=user).exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not Authenticator.objects.filter(user=user).exists()
    # Evidence stays (docs/retention.md): consents and the whole chain.
    assert Consent.objects.filter(user=user).count() == 1
    assert Event.objects.filter(chain_key=f"user:{user.pk}").count() > events_before
    closed = AccountClosure.objects.get(user=user)
    assert closed.reason == "customer_request"
    assert closed.evidence_until.year == timezone.localdate().year + 5
    # The person is logged out.
    assert client.get(reverse("journal")).status_code == 302
    assert client.get(reverse("account_closed")).status_code == 200
    # Nobody else is touched.
    other.refresh_from_db()
    assert (other.email, other.first_name, other.is_active) == ("bruno@example.test", "Bruno", True)


def test_closure_is_recorded_and_confirmed_to_the_original_address():
    user = _customer()

    closure.account_close(user=user, acting_user=user, meta=RequestMeta(ip="203.0.113.5"))

    email = OutboundEmail.objects.get(template="account_closed")
    assert email.to == ["anne@example.test"]
    assert email.customer_id == user.pk
    assert b"a \xc3\xa9t\xc3\xa9 ferm\xc3\xa9" in bytes(email.raw)  # « a été fermé »
    chain = list(Event.objects.filter(chain_key=f"user:{user.pk}").order_by("seq"))
    actions = [e.action for e in chain]
    assert actions.index("email.queued") < actions.index("account.closed")
    closed = chain[actions.index("account.closed")]
    assert closed.actor_id == user.pk
    assert closed.ip == "203.0.113.5"
    assert closed.data["reason"] == "customer_request"
    assert "anne@example.test" not in str(closed.data)


def test_closing_ends_every_session_of_the_person(client):
    user = _customer()
    login_recently_reauthenticated(client, user)
    other_device = Session.objects.get(session_key=client.session.session_key)
    UserSession.objects.create(
        user=user, ip="198.51.100.7", user_agent="x", session_key=other_device.session_key
    )

    _confirm(client, user)

    assert not UserSession.objects.filter(user=user).exists()
    assert not Session.objects.filter(session_key=other_device.session_key).exists()


def test_a_hook_refusal_is_shown_with_its_link_and_nothing_changes(client, refusing_hook):
    user = _customer()
    login_recently_reauthenticated(client, user)

    response = _confirm(client, user)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Résiliez d&#x27;abord votre abonnement en cours." in page
    assert '<a href="/abonnement/">Mon abonnement</a>' in page
    user.refresh_from_db()
    assert user.is_active and user.email == "anne@example.test"
    assert Profile.objects.filter(user=user).exists()
    assert not OutboundEmail.objects.filter(template="account_closed").exists()
    assert not Event.objects.filter(action="account.closed").exists()


def test_the_page_lists_refusals_before_the_form(client, refusing_hook):
    user = make_user("anne@example.test")
    client.force_login(user)

    page = client.get(reverse("account_close")).content.decode()

    assert "Votre compte ne peut pas être fermé pour le moment" in page
    assert "Fermer définitivement mon compte" not in page


def test_perform_hooks_run_in_the_closing_transaction(monkeypatch):
    """GIVEN a hook that fails while extending the closure WHEN closing
    THEN everything rolls back: no email, no erasure, no event."""
    seen = []

    def perform(user, meta):
        seen.append((user.email, meta.ip))
        raise RuntimeError("vault unavailable")

    monkeypatch.setitem(closure._HOOKS, "vault", closure.ClosureHook("vault", perform=perform))
    user = _customer()

    with pytest.raises(RuntimeError):
        closure.account_close(user=user, acting_user=user, meta=RequestMeta(ip="203.0.113.5"))

    assert seen == [("anne@example.test", "203.0.113.5")]
    user.refresh_from_db()
    assert user.is_active and Profile.objects.filter(user=user).exists()
    assert not OutboundEmail.objects.filter(template="account_closed").exists()
    assert not AccountClosure.objects.exists()


def test_a_closed_account_cannot_be_closed_again():
    user = _customer()
    closure.account_close(user=user, acting_user=user)

    with pytest.raises(InvalidState) as error:
        closure.account_close(user=user, acting_user=user)

    assert error.value.code == "already_closed"


def test_staff_accounts_are_not_closed_from_the_customer_page():
    staff = make_user("agent@example.test", is_staff=True)

    with pytest.raises(NotAllowed) as error:
        closure.account_close(user=staff, acting_user=staff)

    assert error.value.code == "staff_account"


def test_a_plain_domain_error_from_a_hook_refuses_too(monkeypatch):
    def check(user):
        raise DomainError("Une démarche est en cours.", "open_request")

    monkeypatch.setitem(closure._HOOKS, "assistance", closure.ClosureHook("assistance", check))
    user = _customer()

    with pytest.raises(DomainError) as error:
        closure.account_close(user=user, acting_user=user)

    assert error.value.code == "open_request"


def test_hooks_need_something_to_do():
    with pytest.raises(ValueError):
        closure.register_closure_hook("empty")
