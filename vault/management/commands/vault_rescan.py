"""``manage.py vault_rescan``: scan again the documents that wait for the scanner.

Without options: every ``pending_scan`` document (clamd was unreachable), and the
``unscanned`` ones once a scanner is configured. ``--all`` adds the ``clean`` ones,
after a signature update: a document found infected is then refused and destroyed
like at upload. Scans run here, one after the other (``--enqueue`` hands them to the
workers of the ``scan`` queue instead). Rerunnable: a document already decided is
left alone. Exit status 1 when documents are still pending (clamd still down).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mynetspace.core.tasks import enqueue
from vault import services
from vault.models import Document, ScanStatus
from vault.scanning import get_scanner, scanner_configured
from vault.tasks import document_scan_task


class Command(BaseCommand):
    help = "Scan again the vault documents waiting for the malware scanner (--all: clean ones too)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            help="Also rescan clean documents (after a signature database update).",
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Enqueue the scans on the 'scan' queue instead of running them here.",
        )
        parser.add_argument("--limit", type=int, default=None, help="At most this many.")

    def handle(self, *args, **options):
        if not scanner_configured():
            raise CommandError("No scanner configured (CLAMD_URL): nothing can be scanned.")
        statuses = [ScanStatus.PENDING_SCAN, ScanStatus.UNSCANNED]
        if options["all"]:
            statuses.append(ScanStatus.CLEAN)
        ids = list(
            Document.objects.filter(scan_status__in=statuses, destroyed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if options["limit"] is not None:
            ids = ids[: options["limit"]]
        if options["enqueue"]:
            sent = sum(1 for pk in ids if enqueue(document_scan_task, pk, options["all"]))
            self.stdout.write(f"{sent} of {len(ids)} documents enqueued for scanning.")
            return
        try:
            get_scanner().ping()
        except Exception as exc:
            self.stderr.write(
                f"Scanner unreachable ({exc}); trying anyway, documents stay pending."
            )
        counts: dict[str, int] = {}
        for pk in ids:
            document = services.document_scan(document_id=pk, rescan=options["all"])
            status = document.scan_status if document is not None else "missing"
            counts[status] = counts.get(status, 0) + 1
            if status in (ScanStatus.INFECTED, ScanStatus.REJECTED):
                self.stdout.write(f"document {pk}: {status} ({document.scan_detail})")
        summary = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())) or "none"
        self.stdout.write(f"{len(ids)} documents scanned ({summary}).")
        if counts.get(ScanStatus.PENDING_SCAN):
            raise CommandError(
                f"{counts[ScanStatus.PENDING_SCAN]} documents still pending: is clamd reachable?"
            )
