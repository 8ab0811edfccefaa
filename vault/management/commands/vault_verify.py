"""``manage.py vault_verify``: decrypt every stored document and check it against its row.

For each document not destroyed (trashed ones included): the owner's key and the
document's data key unwrap, every record of the blob authenticates, and the plaintext's
size and SHA-256 equal the row's. Exit code 0 with a summary when all pass; exit code
1 with one line per failing document (id, owner, reason code, detail) otherwise.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from audit.services import record
from vault import blobs, keys
from vault.models import Document, UserKey


class Command(BaseCommand):
    help = "Decrypt every vault document and check its SHA-256 and size."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this customer's documents (id or email).")

    def handle(self, *args, **options):
        documents = Document.objects.not_destroyed().select_related("owner")
        if options["user"]:
            documents = documents.filter(owner=_find_user(options["user"]))
        checked = failed = 0
        owners: set[int] = set()
        # Unwrapped user keys, per (owner, version), for this run only.
        secrets: dict[tuple[int, int], bytes | Exception] = {}
        for document in documents.order_by("owner_id", "pk").iterator(chunk_size=200):
            if document.owner_id not in owners:
                secrets.clear()  # one customer at a time in memory
                owners.add(document.owner_id)
            checked += 1
            secret = _user_secret(secrets, document)
            if isinstance(secret, Exception):
                reason = getattr(secret, "code", "key_unavailable")
                result = blobs.BlobCheck(False, reason, str(secret))
            else:
                result = blobs.blob_verify(document=document, user_secret=secret)
            if result.ok:
                if options["verbosity"] >= 2:
                    self.stdout.write(f"ok document {document.uuid} (id {document.pk})")
                continue
            failed += 1
            self.stderr.write(
                f"FAILED document {document.uuid} (id {document.pk}, owner {document.owner_id}"
                f" <{document.owner.email}>): {result.reason}: {result.detail}"
            )
        secrets.clear()
        record(
            action="vault.verify.completed",
            data={"documents": checked, "customers": len(owners), "failed": failed},
        )
        summary = f"{checked} document(s) of {len(owners)} customer(s) checked, {failed} failed."
        if failed:
            self.stderr.write(summary)
            sys.exit(1)
        self.stdout.write(summary)


def _find_user(value: str) -> User:
    lookup = {"pk": int(value)} if value.isdigit() else {"email__iexact": value}
    try:
        return User.objects.get(**lookup)
    except User.DoesNotExist:
        raise CommandError(f"no customer {value!r}") from None


def _user_secret(secrets: dict, document: Document) -> bytes | Exception:
    slot = (document.owner_id, document.key_version)
    if slot not in secrets:
        try:
            user_key = UserKey.objects.get(user_id=document.owner_id)
            secrets[slot] = keys.user_key_material(user_key, version=document.key_version)
        except UserKey.DoesNotExist:
            secrets[slot] = keys.KeyDestroyed()
        except (keys.KeyDestroyed, keys.KeyVersionGone) as exc:
            secrets[slot] = exc
        except keys.MasterKeyError as exc:
            secrets[slot] = exc
    return secrets[slot]
