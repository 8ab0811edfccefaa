"""allauth's entry forms with our wording (``ACCOUNT_FORMS``).

allauth's French catalogue calls the email field "Courriel", a word of Quebec French;
ours says "Adresse e-mail", as the rest of the site does. Apart from the label, these
are allauth's own forms. (The signup form lives in ``accounts.signup``: it is also
made all-or-nothing there.)
"""

from __future__ import annotations

from allauth.account import forms as allauth_forms
from django.utils.translation import gettext_lazy as _

EMAIL_LABEL = _("Adresse e-mail")


class EmailLabelMixin:
    """Gives the email field (``login`` on the login form) our label."""

    email_field = "email"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get(self.email_field)
        if field is not None:
            field.label = EMAIL_LABEL


class LoginForm(EmailLabelMixin, allauth_forms.LoginForm):
    email_field = "login"


class ResetPasswordForm(EmailLabelMixin, allauth_forms.ResetPasswordForm):
    pass


class AddEmailForm(EmailLabelMixin, allauth_forms.AddEmailForm):
    pass
