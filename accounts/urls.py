"""Customer pages of the accounts app (dashboard, profile, consents, journal, export, closure)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
