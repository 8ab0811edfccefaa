"""Public paths of subscriptions (DESIGN §5): ``/tarifs/`` and the demo checkout."""

from django.urls import path

from . import views, webhooks

urlpatterns = [
    path("tarifs/", views.pricing, name="pricing"),
    path(
        "abonnement/paiement-simule/<str:token>/",
        views.simulated_checkout,
        name="simulated_checkout",
    ),
    # Stripe's notifications (no session, no CSRF token: the signature is the proof).
    path("abonnement/webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
]
