"""``manage.py accounts_rotate_mfa_keys``: second-factor secrets under the current key.

Run after putting a new key first in ``ENCRYPTION_KEYS`` (docs/deploy.md, Keys), and
before removing the old one. Safe to interrupt and to run again. Exit code 1 when a
secret could not be decrypted (its key is no longer in the ring, or it was altered).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from accounts.mfa_keys import mfa_secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt TOTP secrets and recovery-code seeds under the current master key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, **options):
        report = mfa_secrets_rotate(batch_size=options["batch_size"])
        self.stdout.write(
            f"accounts_rotate_mfa_keys: {report.rotated} re-encrypted, "
            f"{report.current} already under the current key, {len(report.failed)} failed"
        )
        for pk, reason in report.failed:
            self.stderr.write(f"authenticator {pk}: {reason}")
        if report.failed:
            sys.exit(1)
