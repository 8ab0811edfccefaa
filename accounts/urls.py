"""Customer pages of the accounts app (dashboard, profile, consents, journal, export, closure)."""

from django.urls import path

from accounts.views import consents, dashboard, journal, privacy, profile

urlpatterns: list = [
    path("espace/", dashboard.dashboard_view, name="dashboard"),
    path("espace/profil/", profile.profile_view, name="profile"),
    path("espace/conditions/", consents.consents_view, name="consents"),
    path("journal/", journal.journal_view, name="journal"),
    path("espace/export/", privacy.export_view, name="account_export"),
    path("espace/fermeture/", privacy.close_view, name="account_close"),
    path("espace/fermeture/confirmee/", privacy.closed_view, name="account_closed"),
]
