"""Signup, email verification, login, logout, password reset and email change through allauth.

Every email allauth sends is an OutboundEmail (the evidence service), in French, from
templates/emails/account/.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts.models import User
from audit.models import OutboundEmail

from .auth_helpers import fast_hashing, last_email, link_in, login  # noqa: F401
from .factories import PASSWORD, UserFactory, publish_required_texts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

NEW_PASSWORD = "Un autre mot de passe 2024"


@pytest.fixture
def legal_texts():
    publish_required_texts()


def signup(client, email: str):
    from accounts import selectors

    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    for purpose in selectors.REQUIRED_PURPOSES:
        version = selectors.legal_version_in_force(purpose, language="fr")
        data[f"accept_{purpose}"] = "on"
        data[f"version_{purpose}"] = str(version.version)
    return client.post(reverse("account_signup"), data)


def test_pages_are_french_in_our_layout(client):
    for name in ("account_login", "account_signup", "account_reset_password"):
        response = client.get(reverse(name))
        html = response.content.decode()
        assert response.status_code == 200
        assert '<html lang="fr">' in html
        assert "site-header" in html and "site-footer" in html
        assert html.count("<h1") == 1
    login_page = client.get(reverse("account_login")).content.decode()
    assert "Se connecter" in login_page
    assert '<label for="id_login">' in login_page
    assert '<label for="id_password">' in login_page


def test_login_errors_are_linked_to_the_form(client):
    UserFactory(email="lea@example.test", verified_email=True)
    html = login(client, "lea@example.test", "faux mot de passe").content.decode()
    assert 'role="alert"' in html
    assert "Adresse e-mail" in html or "adresse e-mail" in html


def test_signup_requires_verification_then_login_lands_on_the_dashboard(client, legal_texts):
    response = signup(client, "nouveau@example.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="nouveau@example.test")

    # Not verified yet: logging in only re-sends the verification email.
    response = login(client, "nouveau@example.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session

    email = last_email("nouveau@example.test", "account/email_confirmation_signup")
    assert email.customer_id == user.pk
    assert email.subject == "Confirmez votre adresse e-mail pour activer votre compte"
    link = link_in(email, r"http://\S+/accounts/confirm-email/\S+/")
    path = link.split("testserver", 1)[-1]
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    response = login(client, "nouveau@example.test")
    assert response.status_code == 302
    assert response["Location"] == "/espace/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logout_is_a_post(client):
    user = UserFactory(verified_email=True)
    login(client, user.email)
    assert client.get(reverse("account_logout")).status_code == 200
    assert "_auth_user_id" in client.session
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client):
    """GIVEN one address with an account and one without
    WHEN a password reset is asked for each
    THEN the visitor sees exactly the same answer; only the emails differ."""
    UserFactory(email="connu@example.test", verified_email=True)
    known = client.post(reverse("account_reset_password"), {"email": "connu@example.test"})
    unknown = client.post(reverse("account_reset_password"), {"email": "inconnu@example.test"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("account_reset_password_done")
    done = client.get(known["Location"]).content.decode()
    assert "Si un compte existe à cette adresse" in done

    assert last_email("connu@example.test").template == "account/password_reset_key"
    unknown_email = last_email("inconnu@example.test")
    assert unknown_email.template == "account/unknown_account"
    assert unknown_email.customer_id is None


def test_password_reset_link_sets_a_new_password(client):
    user = UserFactory(verified_email=True)
    client.post(reverse("account_reset_password"), {"email": user.email})
    link = link_in(last_email(user.email), r"http://testserver/accounts/password/reset/key/\S+/")
    page = client.get(link.removeprefix("http://testserver"), follow=True)
    action = page.redirect_chain[-1][0] if page.redirect_chain else link
    response = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert last_email(user.email).template == "account/password_reset"


def test_email_change_replaces_the_address_once_verified(client):
    user = UserFactory(email="ancienne@example.test", verified_email=True)
    login(client, user.email)
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "nouvelle@example.test"}
    )
    # Changing the address is sensitive: the password is asked again, then the
    # suspended request goes on.
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(
        reverse("account_reauthenticate"), {"password": PASSWORD, "next": reverse("account_email")}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "ancienne@example.test"
    email = last_email("nouvelle@example.test", "account/email_confirmation")
    path = link_in(email, r"http://\S+/accounts/confirm-email/\S+/").split("testserver", 1)[-1]
    client.post(path)
    user.refresh_from_db()
    assert user.email == "nouvelle@example.test"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [
        "nouvelle@example.test"
    ]
    changed = last_email("ancienne@example.test", "account/email_changed")
    assert "nouvelle@example.test" in changed.subject or b"nouvelle@example.test" in bytes(
        changed.raw
    )


def test_every_allauth_email_has_our_templates():
    """Each email allauth can send (account and MFA) renders from templates/emails/account/."""
    from pathlib import Path

    import allauth

    from accounts.adapters import email_template_name
    from audit.emails import email_render

    root = Path(allauth.__file__).parent / "templates"
    prefixes = {
        str(path.relative_to(root)).removesuffix("_subject.txt")
        for folder in ("account/email", "mfa/email")
        for path in (root / folder).glob("*_subject.txt")
    }
    # Codes by email are not enabled (links are): their templates are not needed.
    unused = {"account/email/login_code", "account/email/password_reset_code"}
    # A legacy allauth template that no flow sends any more.
    unused.add("account/email/email_confirm")
    context = {
        "activate_url": "https://x.test/a",
        "password_reset_url": "https://x.test/r",
        "signup_url": "https://x.test/s",
        "email": "a@x.test",
        "from_email": "a@x.test",
        "to_email": "b@x.test",
        "deleted_email": "c@x.test",
        "ip": "192.0.2.1",
        "user_agent": "Firefox",
    }
    for prefix in sorted(prefixes - unused):
        rendered = email_render(
            template=email_template_name(prefix), context=context, language="fr"
        )
        assert rendered.subject and rendered.html, prefix
        assert "MyNetSpace" in rendered.text, prefix


def test_outbound_emails_are_evidence_not_direct_sends(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    before = OutboundEmail.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_reset_password"), {"email": "personne@example.test"})
    assert OutboundEmail.objects.count() == before + 1
    # Delivered after the commit (eager task in tests), from the stored bytes.
    assert [m.to for m in mailoutbox] == [["personne@example.test"]]
