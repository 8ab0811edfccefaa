"""allauth's signup form, made all-or-nothing (``ACCOUNT_FORMS["signup"]``).

allauth saves the new user (``adapter.save_user``, which commits on its own in
autocommit mode), then calls our ``SignupForm.signup`` (consents and their events),
then stores the email address. A failure in the middle would leave an account
without its consents. Here the three steps run in one transaction: if any of them
fails, nothing is stored. Sending the verification email comes after, from allauth's
view, once this transaction is committed.

This lives apart from ``accounts.forms`` because allauth's form module imports that
one (``ACCOUNT_SIGNUP_FORM_CLASS``) while being imported itself.
"""

from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from django.db import transaction

from .allauth_forms import EmailLabelMixin


class AtomicSignupForm(EmailLabelMixin, AllauthSignupForm):
    def try_save(self, request):
        with transaction.atomic():
            return super().try_save(request)
