"""``manage.py audit_checkpoint``: sign a Merkle root over every chain head now."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from audit.services import checkpoint_create


class Command(BaseCommand):
    help = "Create a signed checkpoint over every evidence chain head."

    def handle(self, *args, **options):
        checkpoint = checkpoint_create()
        self.stdout.write(
            f"checkpoint {checkpoint.pk}: {checkpoint.tree_size} chain(s), "
            f"root {checkpoint.root_hash}, key {checkpoint.key_id}"
        )
