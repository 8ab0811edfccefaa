from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = _("Coffre numérique")

    def ready(self) -> None:
        from mynetspace.core.health import register_health_check

        # Imported for what they register: production requirements, /healthz components.
        from . import checks, scan_checks  # noqa: F401
        from .blobs import check_vault_storage

        register_health_check("vault_storage", check_vault_storage)
