from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def vault_quota_for(user) -> int | None:
    """The vault quota of the customer's plan while their subscription serves, else None
    (the vault's free quota applies then: vault/quota.py)."""
    from .selectors import entitlements_for

    entitlements = entitlements_for(user)
    return entitlements.vault_quota_bytes if entitlements.active else None


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Abonnements")

    def ready(self) -> None:
        from functools import partial

        from mynetspace.core.tasks import register_pending_work

        from . import checks, services, tasks  # noqa: F401  (checks registers deploy rules)

        # Issued invoices and credit notes whose PDF is still missing are rendered again.
        register_pending_work(
            "subscriptions.invoice_pdf",
            find=partial(services.issued_documents_pending_render, "invoice"),
            task=tasks.invoice_pdf_render,
        )
        register_pending_work(
            "subscriptions.credit_note_pdf",
            find=partial(services.issued_documents_pending_render, "credit_note"),
            task=tasks.credit_note_pdf_render,
        )
        # Approved refunds not yet sent, and sent ones whose provider answer is missing.
        register_pending_work(
            "subscriptions.refund_send", find=services.refunds_pending, task=tasks.refund_send
        )
        # Concluded contracts whose confirmation (L221-13) is not stored yet.
        register_pending_work(
            "subscriptions.confirmation",
            find=services.subscriptions_pending_confirmation,
            task=tasks.subscription_confirmation_send,
        )
        # Journal sentences, dashboard panel, data export and closure rule.
        from . import registrations

        registrations.register()
        # The vault's quota comes from the plan (vault/quota.py; the vault sits below us).
        from vault.quota import register_quota_source

        register_quota_source(vault_quota_for)
