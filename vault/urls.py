"""Vault URLs, mounted at /coffre/ (namespace ``vault``).

Each area adds its routes in its own block (documents, activation here; sharing,
grants, export, classification, intake in their modules' blocks).
"""

from django.urls import path

from .views import activation, documents
from .views import classification as classification_views
from .views import export as export_views
from .views import grants as grant_views
from .views import sharing as share_views
from .views import staff as staff_views
from .views import trail as trail_views

app_name = "vault"

urlpatterns = [
    # Activation: the vault information, accepted before first use.
    path("activer/", activation.activate, name="activate"),
    path("reglages/", activation.settings_page, name="settings"),
    # Documents.
    path("", documents.document_list, name="documents"),
    path("deposer/", documents.document_upload, name="upload"),
    path("corbeille/", documents.trash_list, name="trash"),
    path("<uuid:pk>/", documents.document_detail, name="document"),
    path("<uuid:pk>/modifier/", documents.document_edit, name="document_edit"),
    path("<uuid:pk>/telecharger/", documents.document_download, name="download"),
    path("<uuid:pk>/voir/", documents.document_view, name="view"),
    path("<uuid:pk>/corbeille/", documents.document_trash, name="document_trash"),
    path("<uuid:pk>/restaurer/", documents.document_restore, name="document_restore"),
    path("<uuid:pk>/detruire/", documents.document_destroy, name="document_destroy"),
    # Sharing with a third party (vault/sharing.py; the public page is vault/public_urls.py).
    path("<uuid:pk>/partager/", share_views.share_document, name="share"),
    path("partages/", share_views.share_list, name="share_list"),
    path("partages/<int:link_id>/", share_views.share_detail, name="share_detail"),
    path("partages/<int:link_id>/revoquer/", share_views.share_revoke, name="share_revoke"),
    # Staff access: the customer's authorisations, and the staff's reading view.
    path("acces-equipe/", grant_views.grant_list, name="grants"),
    path("acces-equipe/<int:grant_id>/", grant_views.grant_detail, name="grant"),
    path("acces-equipe/<int:grant_id>/retirer/", grant_views.grant_revoke, name="grant_revoke"),
    path("equipe/", staff_views.staff_grants, name="staff_grants"),
    path("equipe/<int:grant_id>/", staff_views.staff_grant, name="staff_grant"),
    path(
        "equipe/<int:grant_id>/<uuid:document_uuid>/",
        staff_views.staff_document,
        name="staff_document",
    ),
    # Export of everything, retrieval after closure, the vault trail.
    path("export/", export_views.export_view, name="export"),
    path("recuperation/<str:token>/", export_views.retrieval_view, name="retrieval"),
    path("journal/", trail_views.trail_view, name="trail"),
    # Classification (suggestions, the customer's rules and consent), intake by email.
    path(
        "<uuid:pk>/classement/",
        classification_views.suggestion_answer,
        name="classification_answer",
    ),
    path("classement/", classification_views.classification_page, name="classification"),
    path(
        "classement/regles/<int:rule_id>/supprimer/",
        classification_views.rule_delete,
        name="classification_rule_delete",
    ),
    path("adresse-de-depot/", classification_views.intake_page, name="intake"),
]
