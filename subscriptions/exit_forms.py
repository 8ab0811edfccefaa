"""Forms of the exit pages: cancellation, withdrawal, satisfaction claim, and the staff
forms of the back office. They validate input only; the rules live in ``services.py``.
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import deadlines
from .models import WithdrawalDeclaration
from .references import reference_normalize
from .services import REASON_MAX_LENGTH

WHEN_END_OF_PERIOD = "end_of_period"
WHEN_DATE = "date"


class CancelForm(forms.Form):
    """ "Résilier votre contrat": name, email, contract reference, desired date (D215-1).

    With ``logged_in=True`` the email and the reference come from the session and
    cannot be changed (the posted values are ignored).
    """

    full_name = forms.CharField(
        label=_("Nom et prénom"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Adresse e-mail de votre compte"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    contract_reference = forms.CharField(
        label=_("Référence du contrat"),
        max_length=40,
        help_text=_(
            "Elle commence par MNS- et figure dans l'e-mail de confirmation de votre commande "
            "et sur vos factures."
        ),
    )
    when = forms.ChoiceField(
        label=_("Date souhaitée"),
        choices=[
            (WHEN_END_OF_PERIOD, _("Dès que possible : à la fin de la période en cours")),
            (WHEN_DATE, _("À une date précise")),
        ],
        initial=WHEN_END_OF_PERIOD,
        widget=forms.RadioSelect,
    )
    desired_date = forms.DateField(
        label=_("Date précise (JJ/MM/AAAA)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        help_text=_("Seulement si vous avez choisi « À une date précise »."),
    )

    def __init__(self, *args, logged_in: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.logged_in = logged_in
        if logged_in:
            for name in ("email", "contract_reference"):
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Renseigné à partir de votre compte.")

    def clean_contract_reference(self) -> str:
        value = self.cleaned_data["contract_reference"]
        if self.logged_in:
            return value
        if reference_normalize(value) is None:
            raise forms.ValidationError(
                _("Cette référence n'a pas la forme attendue (par exemple MNS-7K3P-9QX2)."),
                code="reference_format",
            )
        return value

    def clean(self):
        data = super().clean()
        if data.get("when") == WHEN_DATE:
            day = data.get("desired_date")
            if day is None:
                self.add_error("desired_date", _("Indiquez la date souhaitée."))
            elif day < deadlines.local_date(timezone.now()):
                self.add_error(
                    "desired_date", _("La date souhaitée ne peut pas être dans le passé.")
                )
        else:
            data["desired_date"] = None
        return data


class WithdrawConfirmForm(forms.Form):
    """ "Confirmer la rétractation": carries the amount the page showed."""

    expected_refund_cents = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class SatisfactionClaimForm(forms.Form):
    reason = forms.CharField(
        label=_("Ce qui ne vous a pas convenu"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": REASON_MAX_LENGTH}),
        help_text=_("Quelques mots suffisent (%(max)d caractères au plus).")
        % {"max": REASON_MAX_LENGTH},
    )

    def clean_reason(self) -> str:
        value = self.cleaned_data["reason"].strip()
        if not value:
            raise forms.ValidationError(
                _("Dites-nous en quelques mots ce qui ne vous a pas convenu.")
            )
        return value


# --- Back office -----------------------------------------------------------------------


class StaffReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Motif"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ClaimDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Décision"),
        choices=[("accept", _("Accepter et rembourser")), ("refuse", _("Refuser"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Motif (envoyé au client)"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class StaffWithdrawalForm(forms.Form):
    """A withdrawal received by post or email, recorded by staff."""

    channel = forms.ChoiceField(
        label=_("Reçue par"),
        choices=[
            (WithdrawalDeclaration.Channel.POST, _("courrier")),
            (WithdrawalDeclaration.Channel.EMAIL, _("e-mail")),
        ],
    )
    declared_at = forms.DateTimeField(
        label=_("Envoyée le (date du cachet de la poste ou de l'e-mail)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"],
    )
    received_at = forms.DateTimeField(
        label=_("Reçue le"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"],
    )
    content = forms.CharField(
        label=_("Contenu de la déclaration (recopié)"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
