"""Top-level URLs. Public paths are stable (DESIGN §5)."""

from django.contrib import admin
from django.urls import include, path

from accounts.views import staff as staff_views
from mynetspace.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    # "Résilier votre contrat", "Renoncer au contrat ici", "Satisfait ou remboursé".
    path("", include("subscriptions.exit_urls")),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Staff log in through allauth like everybody (rate limits, MFA): accounts/views/staff.py.
    path("admin/login/", staff_views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("guides.urls")),
    path("", include("accounts.urls")),
    path("", include("subscriptions.urls")),
    path("coffre/", include("vault.urls")),
    # Share links opened by third parties, logged out (vault/views/sharing.py).
    path("partage/", include("vault.public_urls")),
]

handler403 = "mynetspace.core.views.permission_denied"
handler404 = "mynetspace.core.views.page_not_found"
handler500 = "mynetspace.core.views.server_error"
