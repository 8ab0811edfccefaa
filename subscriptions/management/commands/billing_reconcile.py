"""``manage.py billing_reconcile``: compare our Stripe subscriptions with Stripe.

Prints one line per difference and whether it was repaired; ``--dry-run`` only
reports. Exit status 1 when a difference is left for staff (for cron and alerts).
See ``subscriptions/reconcile.py`` for what is compared and what is repaired.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from subscriptions.reconcile import RECENT_DAYS, billing_reconcile


class Command(BaseCommand):
    help = "Compare local subscriptions and payments with Stripe; repair what is safe."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report only, repair nothing.")
        parser.add_argument(
            "--days",
            type=int,
            default=RECENT_DAYS,
            help=f"Also compare subscriptions closed in the last DAYS days ({RECENT_DAYS}).",
        )

    def handle(self, *args, dry_run: bool, days: int, **options):
        report = billing_reconcile(fix=not dry_run, days=days)
        for difference in report.differences:
            state = "repaired" if difference.fixed else "TO CHECK"
            self.stdout.write(
                f"{state:9} {difference.kind:24} {difference.reference:16} {difference.detail}"
            )
        for error in report.errors:
            self.stderr.write(f"error     {error}")
        self.stdout.write(
            f"{report.checked} checked, {len(report.differences)} difference(s), "
            f"{len(report.unresolved)} left to check, {len(report.errors)} error(s)"
            + (" (dry run)" if dry_run else "")
        )
        if report.unresolved or report.errors:
            raise CommandError("differences left to check", returncode=1)
