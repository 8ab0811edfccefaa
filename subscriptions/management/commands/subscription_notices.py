"""``manage.py subscription_notices``: renewal notices and payment reminders due today.

The same work as the daily beat task (``subscriptions.tasks.subscription_notices_send``),
for operators and for catching up by hand. ``--date`` runs the renewal notices as if
on another Paris day (a missed run can be replayed; nothing is ever sent twice).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from subscriptions import services


class Command(BaseCommand):
    help = "Send the renewal notices (yearly plans) and payment reminders that are due."

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            help="Paris day to run the renewal notices for (YYYY-MM-DD; default: today).",
        )

    def handle(self, *args, **options):
        today = None
        if options["date"]:
            try:
                today = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError("--date must be a day written YYYY-MM-DD") from None
        notices = services.subscription_renewal_notices_send(today=today)
        reminders = services.subscription_payment_reminders_send()
        self.stdout.write(f"renewal notices sent: {notices}; payment reminders sent: {reminders}")
