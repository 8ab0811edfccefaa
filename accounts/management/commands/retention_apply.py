"""``manage.py retention_apply``: apply the retention table now (the daily job does it too)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import retention


class Command(BaseCommand):
    help = "Apply the retention table of docs/retention.md to the data that exists now."

    def handle(self, *args, **options):
        report = retention.retention_apply()
        for name, value in report.as_dict().items():
            self.stdout.write(f"{name}: {value}")
        if report.evidence_due_for_purge:
            self.stdout.write(
                self.style.WARNING(
                    "Closed accounts past their evidence period: see the operator purge "
                    "procedure in docs/retention.md."
                )
            )
