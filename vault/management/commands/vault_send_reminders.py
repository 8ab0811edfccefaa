"""``manage.py vault_send_reminders``: send the expiry reminders due (the daily job, by hand).

Idempotent (vault/reminders.py): running it again the same day, or after the daily
job, sends nothing twice. ``--date`` computes "today" as another day, for an operator
catching up after an outage (reminders are never sent for a stage already passed).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from vault.reminders import expiry_reminders_send


class Command(BaseCommand):
    help = "Send the vault's expiry reminders (90, 30 and 7 days before) that are due."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Act as if today were this date (YYYY-MM-DD).")

    def handle(self, *args, **options):
        today = None
        if options["date"]:
            try:
                today = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError("--date must be YYYY-MM-DD") from None
        run = expiry_reminders_send(today=today)
        self.stdout.write(f"{run.sent} reminder(s) sent, {run.skipped} document(s) with none due")
