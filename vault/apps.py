from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = _("Coffre numérique")

    def ready(self) -> None:
        from mynetspace.core.health import register_health_check

        # Imported for what they register: production requirements, /healthz components.
        from . import checks, registrations, scan_checks  # noqa: F401
        from .blobs import check_vault_storage

        register_health_check("vault_storage", check_vault_storage)

        from mynetspace.core.tasks import register_pending_work

        from . import journal, services, tasks  # noqa: F401 - journal registers describers

        # Documents still pending_scan (clamd was down, a message was lost) are scanned again.
        register_pending_work(
            "vault.document_scan",
            find=services.pending_scan_ids,
            task=tasks.document_scan_task,
            on_enqueued=services.pending_scan_touch,
        )

        # Classification, intake and expiry reminders: tasks, sweeper, journal, closure.
        from . import intake_registrations  # noqa: F401
