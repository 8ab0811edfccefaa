"""allauth's entry pages speak the site's French: "Adresse e-mail", never "Courriel"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url_name", "logged_in"),
    [
        ("account_login", False),
        ("account_signup", False),
        ("account_reset_password", False),
        ("account_email", True),
    ],
)
def test_the_email_field_is_called_adresse_e_mail(client, url_name, logged_in):
    if logged_in:
        client.force_login(UserFactory(verified_email=True))
    french = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Courriel" not in french
    assert ">Adresse e-mail" in french
    english = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Email address" in english
