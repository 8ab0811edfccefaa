"""``manage.py ingest_email``: receive ONE raw email on standard input (a mail server pipe).

Configure the mail server of ``VAULT_INTAKE_DOMAIN`` to pipe every message for the
domain into this command, with the envelope recipient::

    # Postfix master.cf (transport "vaultintake", flags=Rq, user=mynetspace)
    argv=/app/manage.py ingest_email --recipient ${recipient}

The message is stored raw as inbound evidence whatever it holds; when the recipient
is an active intake address its attachments enter the owner's vault
(vault/intake.py). Without ``--recipient`` the Delivered-To, X-Original-To, To and Cc
headers are tried.

Exit codes (sysexits, as mail servers expect): 0 when the message was handled,
including an unknown address (kept with no customer, nothing deposited) and an
oversized or empty message (not kept); 75 (EX_TEMPFAIL) when the database is
unavailable, so that the server keeps the message and retries later.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from vault.intake import email_ingest

logger = logging.getLogger(__name__)

EX_OK = 0
EX_TEMPFAIL = 75


def read_bounded(stream, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``stream``: enough to tell an oversized message."""
    buffer = bytearray()
    while len(buffer) <= limit:
        chunk = stream.read(min(1024 * 1024, limit + 1 - len(buffer)))
        if not chunk:
            break
        buffer.extend(chunk)
    return bytes(buffer)


class Command(BaseCommand):
    help = "Receive one raw email on standard input for a vault intake address."
    #: Tests pass a binary stream here instead of standard input.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            default="",
            help="Envelope recipient (the intake address); else taken from the headers.",
        )

    def handle(self, *args, **options):
        stdin = options.get("stdin") or sys.stdin.buffer
        raw = read_bounded(stdin, settings.INBOUND_EMAIL_MAX_BYTES)
        if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
            # Drain the rest so the mail server sees a normal end of the pipe.
            while stdin.read(1024 * 1024):
                pass
        try:
            result = email_ingest(raw=raw, recipient=options["recipient"])
        except DatabaseError as exc:
            logger.error("ingest_email: database unavailable, message deferred: %s", exc)
            self.stderr.write(f"deferred: database unavailable ({type(exc).__name__})")
            sys.exit(EX_TEMPFAIL)
        inbound = result.inbound.pk if result.inbound is not None else "-"
        self.stdout.write(
            f"{result.status}: inbound email {inbound}, "
            f"{len(result.accepted)} document(s) stored, {len(result.refused)} refused"
        )
