"""``/espace/profil/``: what we know of the person, to view and correct."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts import selectors, services
from accounts.forms import ProfileForm

FIELDSETS = [
    (gettext_lazy("Identité"), ("civility", "first_name", "last_name", "birth_date")),
    (
        gettext_lazy("Adresse"),
        ("address_line1", "address_line2", "postal_code", "city", "country"),
    ),
    (gettext_lazy("Contact"), ("phone",)),
]


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def profile_view(request):
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                change = services.profile_update(
                    user=user, values=form.cleaned_data, meta=request.audit_meta
                )
            except services.ProfileInvalid as exc:
                form.apply_service_errors(exc.errors)
            else:
                if change is None:
                    messages.info(request, _("Aucune modification : votre profil est inchangé."))
                else:
                    messages.success(request, _("Votre profil a été mis à jour."))
                return redirect("profile")
        status = 400
    else:
        form = ProfileForm(initial=selectors.profile_values(user, selectors.profile_get(user)))
        status = 200
    labels = {name: field.label for name, field in form.fields.items()}
    context = {
        "form": form,
        "fieldsets": [(legend, [form[name] for name in names]) for legend, names in FIELDSETS],
        "changes": [
            {
                "changed_at": change.changed_at,
                "labels": [str(labels.get(name, name)) for name in sorted(change.changes)],
            }
            for change in selectors.profile_change_list(user)
        ],
    }
    return render(request, "accounts/profile.html", context, status=status)
