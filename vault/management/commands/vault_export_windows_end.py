"""``manage.py vault_export_windows_end``: the daily job by hand (idempotent).

Ends every export window opened at account closure whose time has come: the
customer's vault key is destroyed (crypto-shredding) and their blobs deleted.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from vault.export import export_windows_end_due


class Command(BaseCommand):
    help = "End the vault export windows that are due (crypto-shredding after closure)."

    def handle(self, *args, **options):
        count = export_windows_end_due()
        self.stdout.write(f"{count} export window(s) ended.")
