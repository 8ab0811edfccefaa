"""``manage.py send_test_email <address>``: check the outgoing email path end to end.

The message goes through the same service as every other email (rendered, stored as
evidence, sent by the ``email`` queue's worker). ``--wait`` polls until the worker
has sent it or given up, and fails if it was not sent in time.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.formats import date_format

from audit.emails import email_queue
from audit.models import OutboundEmail
from mynetspace.core.errors import DomainError

DEFAULT_WAIT = 30.0


class Command(BaseCommand):
    help = "Queue a test email to ADDRESS through the evidence email path."

    def add_arguments(self, parser):
        parser.add_argument("address")
        parser.add_argument("--language", default=None, help="fr (default) or en")
        parser.add_argument(
            "--wait",
            type=float,
            nargs="?",
            const=DEFAULT_WAIT,
            default=0,
            metavar="SECONDS",
            help=f"wait up to SECONDS (default {DEFAULT_WAIT:g}) for the worker to send it; "
            "fail otherwise",
        )

    def handle(self, *args, address: str, language: str | None, wait: float, **options):
        now = timezone.localtime()
        try:
            email = email_queue(
                template="test_message",
                to=[address],
                language=language,
                context={
                    "sent_on": date_format(now, "DATETIME_FORMAT"),
                    "requested_by": "manage.py send_test_email",
                },
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Email {email.pk} queued to {address} (sha256 {email.sha256}).")
        if wait <= 0:
            # Without a broker the send already ran in this process.
            email.refresh_from_db(fields=["status"])
            self.stdout.write(f"Status: {email.status}.")
            return
        deadline = time.monotonic() + wait
        status = email.status
        while time.monotonic() < deadline:
            email.refresh_from_db(fields=["status", "attempts", "last_error"])
            status = email.status
            if status != OutboundEmail.Status.QUEUED:
                break
            time.sleep(0.5)
        if status == OutboundEmail.Status.SENT:
            self.stdout.write(self.style.SUCCESS(f"Email {email.pk} sent."))
            return
        detail = f" Last error: {email.last_error}" if email.last_error else ""
        raise CommandError(
            f"Email {email.pk} is {status} after {email.attempts} attempt(s).{detail}"
        )
