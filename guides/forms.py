"""Forms of the guides pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class VersionCompareForm(forms.Form):
    """Two published versions of one text to compare, the older first (``?de=1&a=2``)."""

    de = forms.TypedChoiceField(
        label=_("Version de départ"),
        coerce=int,
        error_messages={
            "required": _("Choisissez la version de départ."),
            "invalid_choice": _("La version « %(value)s » n'existe pas."),
        },
    )
    a = forms.TypedChoiceField(
        label=_("Version d'arrivée"),
        coerce=int,
        error_messages={
            "required": _("Choisissez la version d'arrivée."),
            "invalid_choice": _("La version « %(value)s » n'existe pas."),
        },
    )

    def __init__(self, *args, versions: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(n), str(n)) for n in sorted(versions)]
        for name in ("de", "a"):
            self.fields[name].choices = choices

    def clean(self):
        cleaned = super().clean()
        older, newer = cleaned.get("de"), cleaned.get("a")
        if older is not None and newer is not None:
            if older == newer:
                self.add_error("a", _("Choisissez deux versions différentes."))
            elif older > newer:
                self.add_error(
                    "a", _("La version d'arrivée doit être plus récente que la version de départ.")
                )
        return cleaned
