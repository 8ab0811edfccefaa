"""Vault URLs, mounted at /coffre/ (namespace ``vault``).

Each area adds its routes in its own block (documents, activation here; sharing,
grants, export, classification, intake in their modules' blocks).
"""

from django.urls import path

from .views import activation, documents

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
]
