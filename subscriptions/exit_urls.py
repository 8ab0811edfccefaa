"""Paths of the exit pages (DESIGN §5): /resilier/, /retractation/, /satisfait-ou-rembourse/."""

from django.urls import path

from . import exit_views

urlpatterns = [
    path("resilier/", exit_views.cancel, name="cancel"),
    path("resilier/envoyee/", exit_views.cancel_sent, name="cancel_sent"),
    path("resilier/demande/<int:pk>/", exit_views.cancel_request, name="cancel_request"),
    path("resilier/reprendre/", exit_views.cancel_resume, name="cancel_resume"),
    path("retractation/", exit_views.withdraw, name="withdraw"),
    path(
        "retractation/declaration/<int:pk>/",
        exit_views.withdrawal_declaration,
        name="withdrawal_declaration",
    ),
    path("satisfait-ou-rembourse/", exit_views.satisfaction, name="satisfaction"),
    path(
        "satisfait-ou-rembourse/demande/<int:pk>/",
        exit_views.satisfaction_claim,
        name="satisfaction_claim",
    ),
]
