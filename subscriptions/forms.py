"""Forms of the customer subscription pages. They check shape only; rules live in services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import ordering


class OrderForm(forms.Form):
    """The order form of ``/abonnement/``.

    The hidden fields say what the page showed (plan, CGV version, express-start
    wording version); ``services.subscription_order_place`` checks them against
    what is in force. The express-start box is never ticked in advance (L221-25).
    """

    formule = forms.CharField(widget=forms.HiddenInput, max_length=50)
    terms_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    express_start_version = forms.CharField(widget=forms.HiddenInput, max_length=40)
    express_start = forms.BooleanField(
        required=False, initial=False, label=ordering.EXPRESS_START_WORDING
    )
    accept_terms = forms.BooleanField(
        required=True,
        error_messages={
            "required": _("Pour commander, acceptez les conditions générales de vente.")
        },
    )

    HIDDEN = ("formule", "terms_version", "express_start_version")

    def __init__(self, *args, terms_version: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["accept_terms"].label = ordering.TERMS_WORDING % {
            "version": terms_version or "?"
        }

    def clean(self):
        cleaned = super().clean()
        # A tampered or truncated page: one message for the person, not three hidden ones.
        if any(name in self._errors for name in self.HIDDEN):
            for name in self.HIDDEN:
                self._errors.pop(name, None)
            raise forms.ValidationError(
                _("Le formulaire de commande est incomplet : rechargez la page."),
                code="incomplete",
            )
        return cleaned


class AbandonForm(forms.Form):
    """ "Abandonner cette commande": an unpaid order, given up by its customer."""

    reference = forms.CharField(widget=forms.HiddenInput, max_length=40)
