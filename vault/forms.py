"""Forms of the vault's document and activation pages (validation only: views call services)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mynetspace.core.errors import DomainError

from . import services
from .models import DocumentType
from .selectors import DEFAULT_SORT, DocumentFilters

SORT_CHOICES = [
    ("-date", _("Les plus récents d'abord")),
    ("date", _("Les plus anciens d'abord")),
    ("title", _("Titre (A → Z)")),
    ("-title", _("Titre (Z → A)")),
    ("expiry", _("Expiration la plus proche")),
]


class DocumentFilterForm(forms.Form):
    """The list's search, filters and sort (GET). Invalid values fall back to defaults."""

    q = forms.CharField(label=_("Rechercher"), required=False, max_length=200)
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("Tous les types")), *DocumentType.choices],
    )
    tag = forms.CharField(label=_("Étiquette"), required=False, max_length=50)
    sort = forms.ChoiceField(label=_("Trier par"), required=False, choices=SORT_CHOICES)

    def filters(self, *, trashed: bool = False) -> DocumentFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return DocumentFilters(
            q=data.get("q", ""),
            doc_type=data.get("type", ""),
            tag=data.get("tag", ""),
            sort=data.get("sort") or DEFAULT_SORT,
            trashed=trashed,
        )


class UploadForm(forms.Form):
    """The other fields of the upload form; the file itself is streamed (vault/uploads.py)."""

    title = forms.CharField(
        label=_("Titre (facultatif)"),
        required=False,
        max_length=200,
        help_text=_("Par défaut, le nom du fichier."),
    )
    doc_type = forms.ChoiceField(
        label=_("Type de document (facultatif)"),
        required=False,
        choices=[("", _("À préciser plus tard")), *DocumentType.choices],
    )
    # Declared so the page renders a labelled input; its content never reaches the form.
    file = forms.FileField(
        label=_("Fichier"),
        required=False,
        help_text=_(
            "PDF, image (JPEG, PNG, WebP, HEIC, TIFF), texte, OpenDocument ou Office, "
            "%(max)s Mo au plus."
        ),
    )

    def __init__(self, *args, max_mb: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = self.fields["file"].help_text % {"max": max_mb}


class DocumentEditForm(forms.Form):
    title = forms.CharField(
        label=_("Titre"),
        max_length=200,
        error_messages={"required": _("Donnez un titre à ce document.")},
    )
    doc_type = forms.ChoiceField(label=_("Type de document"), choices=DocumentType.choices)
    tags = forms.CharField(
        label=_("Étiquettes"),
        required=False,
        max_length=1100,
        help_text=_("Séparées par des virgules, par exemple : impôts, famille."),
    )
    issued_on = forms.DateField(
        label=_("Date de délivrance"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Format : AAAA-MM-JJ, par exemple 2024-03-31."),
    )
    expires_on = forms.DateField(
        label=_("Date d'expiration"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Nous vous le rappellerons avant l'échéance."),
    )

    def clean_title(self) -> str:
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise forms.ValidationError(_("Donnez un titre à ce document."))
        return title

    def clean_tags(self) -> list[str]:
        try:
            return services.tag_names_parse(self.cleaned_data.get("tags", ""))
        except DomainError as error:
            raise forms.ValidationError(error.message, code=error.code) from None

    def clean(self):
        data = super().clean()
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if issued and expires and expires < issued:
            self.add_error(
                "expires_on",
                _("La date d'expiration ne peut pas précéder la date de délivrance."),
            )
        return data


class ActivationForm(forms.Form):
    accept = forms.BooleanField(
        label=_("J'ai lu l'information sur le coffre numérique et j'active mon coffre."),
        error_messages={
            "required": _("Cochez la case pour confirmer que vous avez lu cette information.")
        },
    )
    classification = forms.BooleanField(
        label=_(
            "J'accepte que le service analyse le nom et le texte de mes documents sur ses "
            "serveurs pour me proposer leur type et leur date d'expiration (facultatif, "
            "modifiable à tout moment dans les réglages du coffre)."
        ),
        required=False,
    )


class ClassificationConsentForm(forms.Form):
    classification = forms.BooleanField(
        label=_(
            "J'accepte que le service analyse le nom et le texte de mes documents sur ses "
            "serveurs pour me proposer leur type et leur date d'expiration."
        ),
        required=False,
    )
