"""Back office for legal texts: staff edit the draft and publish it.

Saving goes through ``legal_document_draft_update`` and publishing through
``legal_document_publish`` (admin action, or the "Enregistrer et publier" button
of the change page). Published versions live in ``audit`` and are read-only there.
The six documents are created by ``manage.py seed_demo``; they are never deleted.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.models import ContentVersion
from mynetspace.core.errors import DomainError

from . import services
from .models import LegalDocument

PUBLISH_PERMISSION = "guides.publish_legaldocument"


@admin.register(LegalDocument)
class LegalDocumentAdmin(admin.ModelAdmin):
    list_display = ["kind", "title_fr", "published_version", "published_at", "pending"]
    readonly_fields = ["kind", "published_version", "published_at", "public_page", "versions"]
    fieldsets = [
        (None, {"fields": ["kind", "public_page", "published_version", "published_at"]}),
        (_("Brouillon en français"), {"fields": ["title_fr", "body_fr", "change_summary"]}),
        (_("Brouillon en anglais"), {"fields": ["title_en", "body_en", "change_summary_en"]}),
        (_("Versions publiées"), {"fields": ["versions"]}),
    ]
    actions = ["publish_selected"]
    change_form_template = "admin/guides/legaldocument/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False  # the six documents come from seed_demo

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # published versions refer to them for ever

    @admin.display(boolean=True, description=_("brouillon non publié"))
    def pending(self, obj: LegalDocument) -> bool:
        return obj.has_unpublished_changes

    @admin.display(description=_("page publique"))
    def public_page(self, obj: LegalDocument) -> str:
        url = reverse("guides:legal_current", args=[obj.kind])
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description=_("versions publiées"))
    def versions(self, obj: LegalDocument) -> str:
        rows = list(
            ContentVersion.objects.filter(key=obj.content_key, language="fr")
            .order_by("-version")
            .values("version", "published_at", "summary")
        )
        if not rows:
            return gettext("Aucune version publiée.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{} {}</a> ({}) : {}</li>',
                (
                    (
                        reverse("guides:legal_version", args=[obj.kind, row["version"]]),
                        gettext("Version"),
                        row["version"],
                        date_format(localtime(row["published_at"]), "SHORT_DATETIME_FORMAT"),
                        row["summary"] or "—",
                    )
                    for row in rows
                ),
            ),
        )

    def save_model(self, request, obj, form, change) -> None:
        services.legal_document_draft_update(
            document=obj,
            acting_user=request.user,
            **{name: form.cleaned_data.get(name, "") for name in services.DRAFT_FIELDS},
        )

    def response_change(self, request, obj):
        if "_publish" not in request.POST:
            return super().response_change(request, obj)
        if not self._publish(request, obj):
            self.message_user(
                request,
                gettext("Le brouillon est enregistré mais n'est pas publié."),
                messages.INFO,
            )
        return HttpResponseRedirect(request.path)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_publish"] = request.user.has_perm(PUBLISH_PERMISSION)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description=_("Publier les brouillons sélectionnés"), permissions=["publish"])
    def publish_selected(self, request, queryset) -> None:
        for document in queryset:
            self._publish(request, document)

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm(PUBLISH_PERMISSION)

    def _publish(self, request, document: LegalDocument) -> bool:
        if not self.has_publish_permission(request):
            self.message_user(
                request, gettext("Vous n'avez pas le droit de publier ce texte."), messages.ERROR
            )
            return False
        try:
            publication = services.legal_document_publish(
                document=document, acting_user=request.user
            )
        except DomainError as error:
            self.message_user(request, f"{document} : {error.message}", messages.ERROR)
            return False
        self.message_user(
            request,
            gettext("%(document)s : version %(version)s publiée.")
            % {"document": document, "version": publication.version},
            messages.SUCCESS,
        )
        return True
