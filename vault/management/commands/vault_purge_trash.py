"""``manage.py vault_purge_trash``: destroy documents trashed more than 30 days ago.

The daily task ``vault.tasks.trash_purge`` does the same (mynetspace/schedule.py);
this command runs it by hand. Rerunnable.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from vault import services


class Command(BaseCommand):
    help = "Destroy vault documents trashed more than 30 days ago (key erased, blob deleted)."

    def handle(self, *args, **options):
        total = 0
        while True:
            count = services.trash_purge()
            total += count
            if count == 0:
                break
        self.stdout.write(f"{total} documents destroyed.")
