from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Preuves et journal")

    def ready(self) -> None:
        from mynetspace.core.tasks import register_pending_work

        from . import emails, tasks

        # Queued emails whose send message was lost are sent again by the sweeper.
        register_pending_work(
            "audit.outbound_email",
            find=emails.pending_email_ids,
            task=tasks.email_send,
            on_enqueued=emails.pending_emails_enqueued,
        )
