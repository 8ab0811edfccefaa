"""``manage.py vault_rotate_keys``: re-wrap vault keys without touching any blob.

1. Every user key not wrapped under the current master key (a new key first in
   ENCRYPTION_KEYS, or a move to or between KMS keys) is re-wrapped under it.
2. With ``--new-user-keys-before T``, every live user key whose version was created
   before T gets a new version (``user_key_rotation_start``).
3. Every user-key rotation in progress is carried on: the documents' data keys are
   re-wrapped from the previous version to the new one in small committed batches,
   then the previous version is erased.

Each step commits per row or per batch, and each row says whether it still needs
work, so the command can be interrupted at any point and rerun with the same
arguments: it picks up where it stopped and does nothing twice.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware

from audit.services import record
from vault import keys, services
from vault.management.commands.vault_verify import _find_user
from vault.models import UserKey

#: A rotation whose finish keeps finding new documents (uploads racing with it) is
#: left for the next run after this many rounds.
MAX_FINISH_ROUNDS = 5


class Command(BaseCommand):
    help = "Re-wrap vault user keys under the current master key; optionally renew user keys."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100, help="Rows per transaction.")
        parser.add_argument("--user", help="Only this customer's key (id or email).")
        parser.add_argument(
            "--new-user-keys-before",
            metavar="ISO_DATETIME",
            help="Give a new version to every user key created before this instant "
            "(rerun with the same value to resume).",
        )

    def handle(self, *args, **options):
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        cutoff = None
        if options["new_user_keys_before"]:
            cutoff = parse_datetime(options["new_user_keys_before"])
            if cutoff is None:
                raise CommandError("--new-user-keys-before: not an ISO 8601 date and time")
            if is_naive(cutoff):
                cutoff = make_aware(cutoff)
        live = UserKey.objects.filter(destroyed_at__isnull=True).order_by("pk")
        if options["user"]:
            live = live.filter(user=_find_user(options["user"]))

        provider = keys.current_provider()
        target = (provider.name, provider.current_key_id())
        rewrapped = 0
        for row in live.values(
            "pk",
            "provider",
            "master_key_id",
            "previous_version",
            "previous_provider",
            "previous_master_key_id",
        ).iterator():
            stale = (row["provider"], row["master_key_id"]) != target or (
                row["previous_version"] is not None
                and (row["previous_provider"], row["previous_master_key_id"]) != target
            )
            if stale and services.user_key_rewrap(user_key_id=row["pk"]):
                rewrapped += 1
        self.stdout.write(f"{rewrapped} user key(s) re-wrapped under {target[0]} {target[1]}.")

        started = 0
        if cutoff is not None:
            due = live.filter(version_created_at__lt=cutoff, previous_version__isnull=True)
            for pk in due.values_list("pk", flat=True).iterator():
                services.user_key_rotation_start(user_key_id=pk)
                started += 1
            self.stdout.write(f"{started} user key rotation(s) started.")

        documents = finished = unfinished = 0
        in_progress = live.filter(previous_version__isnull=False)
        for pk in in_progress.values_list("pk", flat=True).iterator():
            for _round in range(MAX_FINISH_ROUNDS):
                while count := services.document_keys_rewrap(user_key_id=pk, batch_size=batch_size):
                    documents += count
                if services.user_key_rotation_finish(user_key_id=pk):
                    finished += 1
                    break
                if not UserKey.objects.filter(pk=pk, previous_version__isnull=False).exists():
                    break  # finished (or destroyed) meanwhile by another process
            else:
                unfinished += 1
        self.stdout.write(
            f"{documents} document key(s) re-wrapped; {finished} rotation(s) finished"
            + (f", {unfinished} left for the next run." if unfinished else ".")
        )
        record(
            action="vault.keys.rotation_run",
            data={
                "master_provider": target[0],
                "master_key_id": target[1],
                "user_keys_rewrapped": rewrapped,
                "rotations_started": started,
                "document_keys_rewrapped": documents,
                "rotations_finished": finished,
            },
        )
