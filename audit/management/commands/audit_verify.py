"""``manage.py audit_verify``: check the whole evidence log and say what is broken.

By default PostgreSQL hashes every event over the canonical body it derives from the
row (``audit.pgbody``), and chains where something is off are checked again in Python.
``--full`` recomputes every body from the columns in Python instead: slower, and
independent of the database's own derivation (run it on a schedule, and whenever the
database files themselves may have been touched).

Exit code 0 with a one-line summary when everything verifies; exit code 1 with one
line per problem (kind, where, what, field: expected/found) otherwise.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from audit.verify import MAX_PROBLEMS_KEPT, verify_all


class Command(BaseCommand):
    help = "Verify every evidence chain, email hash, content hash and checkpoint."

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="Recompute every event's canonical body from its columns in Python.",
        )

    def handle(self, *args, **options):
        report = verify_all(full=options["full"])
        if report.ok:
            self.stdout.write(report.summary())
            return
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problem_count > MAX_PROBLEMS_KEPT:
            self.stderr.write(
                f"... and {report.problem_count - MAX_PROBLEMS_KEPT} more problem(s) not shown"
            )
        self.stderr.write(report.summary())
        sys.exit(1)
