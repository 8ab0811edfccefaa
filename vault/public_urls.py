"""The public page of a share link, mounted at /partage/ (works logged out)."""

from django.urls import path

from .views import sharing

urlpatterns = [
    path("<str:token>/", sharing.public_share, name="share_public"),
    path("<str:token>/telecharger/", sharing.public_share_download, name="share_public_download"),
]
