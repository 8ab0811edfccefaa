"""The customer's authorisations for our staff: /coffre/acces-equipe/ (list, create, revoke).

Every page selects the customer's own grants only (404 otherwise). Each grant page
shows the staff accesses made through it, from the customer's chain.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import Event
from mynetspace.core.errors import DomainError

from .. import grants
from ..models import Document, ScanStatus, StaffGrant, StaffGrantTeam
from .access import vault_view

TEAM_CHOICE = f"team:{StaffGrantTeam.SUPPORT}"


class GrantForm(forms.Form):
    documents = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Documents que notre équipe pourra consulter"),
        queryset=Document.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choisissez au moins un document.")},
    )
    grantee = forms.ChoiceField(label=gettext_lazy("Qui pourra les consulter"))
    starts_on = forms.DateField(
        label=gettext_lazy("À partir du"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(
        label=gettext_lazy("Jusqu'au (inclus)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    purpose = forms.CharField(
        label=gettext_lazy("Motif (facultatif)"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Par exemple : « vérifier mon dossier de carte grise »."),
    )
    consent = forms.BooleanField(
        label=gettext_lazy(
            "J'autorise expressément cette consultation, pour ces documents et cette période "
            "seulement. Chaque consultation sera notée dans mon journal."
        ),
        error_messages={"required": gettext_lazy("Cochez cette case pour donner votre accord.")},
    )

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["documents"].queryset = Document.objects.filter(
            owner=owner,
            scan_status=ScanStatus.CLEAN,
            trashed_at__isnull=True,
            destroyed_at__isnull=True,
        ).order_by("title", "pk")
        choices = [(TEAM_CHOICE, str(StaffGrantTeam.SUPPORT.label))]
        choices += [(f"staff:{u.pk}", grants.staff_label(u)) for u in grants.grantable_staff()]
        self.fields["grantee"].choices = choices
        today = timezone.localdate()
        self.fields["starts_on"].initial = today
        self.fields["ends_on"].initial = today + dt.timedelta(days=grants.DEFAULT_DAYS - 1)

    def clean(self):
        data = super().clean()
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end:
            if end < start:
                self.add_error("ends_on", _("La fin doit suivre le début."))
            elif start < timezone.localdate():
                self.add_error("starts_on", _("Le début ne peut pas être dans le passé."))
            elif (end - start).days + 1 > grants.MAX_DAYS:
                self.add_error(
                    "ends_on",
                    _("Un accès dure %(max)d jours au plus.") % {"max": grants.MAX_DAYS},
                )
        return data

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.cleaned_data["starts_on"], dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(
            self.cleaned_data["ends_on"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz
        )
        return start, end

    def grantee_kwargs(self) -> dict:
        value = self.cleaned_data["grantee"]
        if value == TEAM_CHOICE:
            return {"team": StaffGrantTeam.SUPPORT}
        pk = int(value.split(":", 1)[1])
        return {"grantee": get_user_model().objects.get(pk=pk)}


def _accesses(owner, grant_ids: list[int]) -> dict[int, list[Event]]:
    found: dict[int, list[Event]] = {pk: [] for pk in grant_ids}
    if not grant_ids:
        return found
    events = Event.objects.filter(
        chain_key=f"user:{owner.pk}", action="vault.staff_access"
    ).order_by("-seq")[:1000]
    for event in events:
        grant_id = event.data.get("grant") if isinstance(event.data, dict) else None
        if grant_id in found:
            found[grant_id].append(event)
    return found


def _rows(owner, queryset):
    items = list(queryset.select_related("grantee", "revocation").prefetch_related("documents"))
    accesses = _accesses(owner, [g.pk for g in items])
    now = timezone.now()
    return [
        {
            "grant": g,
            "state": grants.grant_state(g, now),
            "grantee": grants.grantee_label(g),
            "accesses": accesses[g.pk],
        }
        for g in items
    ]


@require_http_methods(["GET", "HEAD", "POST"])
@vault_view
def grant_list(request):
    form = GrantForm(request.POST or None, owner=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            starts_at, ends_at = form.window()
            try:
                grant = grants.grant_create(
                    owner=request.user,
                    documents=list(form.cleaned_data["documents"]),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    purpose=form.cleaned_data["purpose"],
                    meta=request.audit_meta,
                    **form.grantee_kwargs(),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, _("Votre autorisation est enregistrée."))
                return redirect("vault:grant", grant_id=grant.pk)
        else:
            status = 400
    context = {
        "form": form,
        "rows": _rows(request.user, StaffGrant.objects.filter(owner=request.user)[:100]),
        "max_days": grants.MAX_DAYS,
    }
    return render(request, "vault/grant_list.html", context, status=status)


@require_http_methods(["GET", "HEAD"])
@vault_view
def grant_detail(request, grant_id):
    get_object_or_404(StaffGrant, pk=grant_id, owner=request.user)
    row = _rows(request.user, StaffGrant.objects.filter(pk=grant_id, owner=request.user))[0]
    return render(request, "vault/grant_detail.html", row)


@require_POST
@vault_view
def grant_revoke(request, grant_id):
    grant = get_object_or_404(StaffGrant, pk=grant_id, owner=request.user)
    grants.grant_revoke(grant=grant, acting_user=request.user, meta=request.audit_meta)
    messages.success(
        request, _("Autorisation retirée : notre équipe n'a plus accès à ces documents.")
    )
    return redirect("vault:grant", grant_id=grant.pk)
