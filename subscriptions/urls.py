"""Public paths of subscriptions (DESIGN §5): ``/tarifs/``, ``/abonnement/`` and its pages."""

from django.urls import path

from . import views, webhooks

urlpatterns = [
    path("tarifs/", views.pricing, name="pricing"),
    path("abonnement/", views.subscription, name="subscription"),
    path(
        "abonnement/abandonner/",
        views.subscription_order_abandon,
        name="subscription_order_abandon",
    ),
    path(
        "abonnement/reprendre/",
        views.subscription_order_resume,
        name="subscription_order_resume",
    ),
    path(
        "abonnement/confirmation/<str:reference>/",
        views.subscription_confirmation,
        name="subscription_confirmation",
    ),
    path(
        "abonnement/factures/<str:number>.pdf",
        views.invoice_pdf,
        name="subscription_invoice_pdf",
    ),
    path(
        "abonnement/avoirs/<str:number>.pdf",
        views.credit_note_pdf,
        name="subscription_credit_note_pdf",
    ),
    path(
        "abonnement/paiement-simule/<str:token>/",
        views.simulated_checkout,
        name="simulated_checkout",
    ),
    # Stripe's notifications (no session, no CSRF token: the signature is the proof).
    path("abonnement/webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
]
