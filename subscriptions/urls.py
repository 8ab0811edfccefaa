"""Public paths of subscriptions (DESIGN §5): ``/tarifs/`` and the demo checkout."""

from django.urls import path

from . import views

urlpatterns = [
    path("tarifs/", views.pricing, name="pricing"),
    path(
        "abonnement/paiement-simule/<str:token>/",
        views.simulated_checkout,
        name="simulated_checkout",
    ),
]
