"""A customer's first days, in a real browser: signup, verification, TOTP, journal."""

from __future__ import annotations

import re
import time

import pytest

from accounts.models import User
from audit.models import OutboundEmail
from tests.accounts.auth_helpers import totp_code
from tests.accounts.factories import publish_required_texts
from tests.browser.steps import log_in, reauthenticate, submit_login

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "camille@example.test"
PASSWORD = "Un mot de passe solide 42"


def verification_link() -> str:
    from audit.emails import _read_parts

    email = OutboundEmail.objects.filter(template="account/email_confirmation_signup").latest("id")
    assert email.to == [EMAIL]
    text, _html, _attachments = _read_parts(bytes(email.raw))
    return re.search(r"http://\S+/accounts/confirm-email/\S+/", text).group(0)


def test_signup_verify_enrol_totp_and_see_it_in_the_journal(page, settings):
    # A code from the next 30 s window is accepted too, so the test never waits for one.
    settings.MFA_TOTP_TOLERANCE = 1
    publish_required_texts()

    # Sign up.
    page.goto("/accounts/signup/")
    page.locator("#id_email").fill(EMAIL)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    for box in page.locator("input[type=checkbox][name^=accept_]").all():
        box.check()
    page.get_by_role("button", name="Créer mon compte").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert page.get_by_role("heading", level=1).inner_text() == "Vérifiez votre adresse e-mail"

    # Open the link of the stored email, confirm.
    page.goto(verification_link())
    page.get_by_role("button", name="Confirmer mon adresse").click()
    page.wait_for_url("**/accounts/login/")

    # Log in with the password.
    log_in(page, EMAIL, PASSWORD)

    # Enrol TOTP: the password is asked again first (sensitive change).
    page.goto("/accounts/2fa/totp/activate/")
    reauthenticate(page, PASSWORD, then="**/accounts/2fa/totp/activate/")
    secret = page.locator("#totp-secret").inner_text().strip()
    activation_code = totp_code(secret)
    page.locator("#id_code").fill(activation_code)
    page.get_by_role("button", name="Activer").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/**")

    # Log out from the header.
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.locator("header").get_by_role("link", name="Se connecter").is_visible()

    # Log in again: password, then a code computed here.
    submit_login(page, EMAIL, PASSWORD)
    page.wait_for_url("**/accounts/2fa/authenticate/")
    code = totp_code(secret)
    if code == activation_code:
        code = totp_code(secret, at=time.time() + 30)
    page.locator("#id_code").fill(code)
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/accounts/2fa/trust/")
    page.get_by_role("button", name="Ne pas faire confiance").click()
    page.wait_for_url("**/espace/**")

    # The journal tells what happened, in plain French.
    page.goto("/journal/")
    journal = page.locator("main").inner_text()
    assert "Création de votre compte" in journal
    assert "Activation de la double authentification" in journal
    assert "Déconnexion" in journal
    assert "Connexion avec double authentification" in journal

    user = User.objects.get(email=EMAIL)
    assert user.emailaddress_set.get().verified
