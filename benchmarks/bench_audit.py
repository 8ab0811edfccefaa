"""Audit log benchmark on PostgreSQL: appends per second and verification speed.

Measured in one run, on one database (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/mns_bench``, created and migrated here):

- plain single-row inserts, each in its own transaction, into ``bench_plain`` (a copy
  of the ``audit_event`` table with the same columns and indexes, no chaining), once as
  a prepared statement (the baseline: the append prepares its statements too) and once
  through the ORM's cursor, which binds on the client and never prepares;
- audit appends through ``audit.services.record``, each in its own transaction, with
  1 and 8 concurrent writer processes, to different chains and to one shared chain;
- verification (``audit.verify.verify_chains``) in events/s, beside raw SHA-256 over
  the very bytes the verifier hashes (one call per event, as a verifier must): the
  default check (PostgreSQL hashes each event's derived canonical body, in
  ``AUDIT_VERIFY_SESSIONS`` sessions at once, default one per CPU up to 4) and the
  ``--full`` check (every body recomputed from the columns in Python).

Aims: appends to different chains >= 0.5x the plain-insert rate with the same number
of writers; verification >= 0.25x raw hashing. Runs in about two minutes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mns_bench"
DURATION = float(os.environ.get("BENCH_SECONDS", "2"))
# The machine may be shared and its disk's flush time varies: every append measure
# alternates with its baseline, and each keeps its best of APPEND_ROUNDS.
APPEND_ROUNDS = 5
ROUNDS = 2
CHAINS_PER_WRITER = 50
MIN_VERIFY_EVENTS = 60_000

os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "DATABASE_URL", DEFAULT_URL
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mynetspace.settings")
# Measured as in production: no per-query debug logging.
os.environ.setdefault("DEBUG", "false")


def _ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        sys.exit("bench_audit needs PostgreSQL: set DATABASE_URL=postgres://...")
    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "dbname": "postgres",
        "autocommit": True,
    }
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    with psycopg.connect(**params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _setup():
    import django

    django.setup()
    _ensure_database()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute("CREATE TABLE bench_plain (LIKE audit_event INCLUDING ALL)")
        # The evidence triggers refuse TRUNCATE; the bench database's superuser may
        # bypass them for this session only, to start from an empty log.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("TRUNCATE audit_event, audit_chain, audit_checkpoint")
        cursor.execute("SET session_replication_role = DEFAULT")

    from accounts.models import User

    users = []
    for w in range(8):
        for c in range(CHAINS_PER_WRITER):
            email = f"bench-{w}-{c}@example.invalid"
            user = User.objects.filter(email=email).first()
            users.append(user or User.objects.create_user(email, None))
    return users


DATA = {"plan": "standard", "amount_cents": 1990, "reason": "benchmark", "items": [1, 2, 3]}


def _worker(kind, index, subject_ids, start_at, duration, results):
    from django.db import connection, transaction

    from accounts.models import User
    from audit.context import RequestMeta
    from audit.services import record

    meta = RequestMeta(ip="203.0.113.7", user_agent="bench/1.0", request_id=f"bench-{index}")
    subjects = list(User.objects.filter(pk__in=subject_ids)) if subject_ids else [None]
    plain_sql = (
        "INSERT INTO bench_plain (chain_key, seq, occurred_at, actor_type, action, target_type,"
        " target_id, data, ip, user_agent, request_id, prev_hash, hash)"
        " VALUES (%s, %s, now(), 'user', 'bench.append', '', '', %s, %s, %s, %s, %s, %s)"
    )
    import json

    import psycopg

    data_json = json.dumps(DATA)
    count = 0
    connection.ensure_connection()
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    while time.time() < end:
        if kind in ("plain", "prepared"):
            params = [
                f"plain:{os.getpid()}",
                count + 1,
                data_json,
                meta.ip,
                meta.user_agent,
                meta.request_id,
                "0" * 64,
                "f" * 64,
            ]
            with transaction.atomic():
                if kind == "plain":
                    with connection.cursor() as cursor:
                        cursor.execute(plain_sql, params)
                else:
                    with psycopg.Cursor(connection.connection) as cursor:
                        cursor.execute(plain_sql, params, prepare=True)
        else:
            subject = subjects[count % len(subjects)]
            with transaction.atomic():
                record(action="bench.append", subject=subject, data=DATA, meta=meta)
        count += 1
    results.put(count)
    connection.close()


def _measure(kind, writers, subject_sets):
    from django.db import connections

    connections.close_all()  # never share a connection with forked children
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 0.5
    procs = [
        ctx.Process(target=_worker, args=(kind, i, subject_sets[i], start_at, DURATION, results))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=DURATION + 60)
        if p.exitcode != 0:
            raise SystemExit(f"a {kind} writer failed (exit {p.exitcode})")
    total = sum(results.get(timeout=5) for _ in procs)
    return total / DURATION


def _fill_for_verification(users) -> None:
    from django.db import transaction

    from audit.models import Event
    from audit.services import record

    missing = MIN_VERIFY_EVENTS - Event.objects.count()
    with transaction.atomic():
        for i in range(max(0, missing)):
            record(action="bench.fill", subject=users[i % len(users)], data=DATA)
    from django.db import connection

    with connection.cursor() as cursor:
        # As autovacuum does on a live log; done here so that it does not start in the
        # middle of the measure, after the bulk of inserts above and of the appends
        # measured before (the baseline's table included: it is not measured, but its
        # vacuum would take a core from the verification).
        for table in ("audit_event", "audit_chain", "bench_plain"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def _measure_verification():
    from audit.hashing import canonical_json, event_body
    from audit.verify import Report, iter_event_rows, verify_chains

    def timed(full):
        best = None
        for _ in range(ROUNDS):
            report = Report()
            started = time.perf_counter()
            verify_chains(report, full=full)
            seconds = time.perf_counter() - started
            if not report.ok:
                raise SystemExit("the benchmark log does not verify: " + str(report.problems[0]))
            best = seconds if best is None else min(best, seconds)
        return report, best

    report, verify_seconds = timed(full=False)
    _report, full_seconds = timed(full=True)

    blobs = []
    for row in iter_event_rows():
        (key, seq, prev, _h, action, actor_id, actor_type, data, ip, occurred_at,
         obo, request_id, target_id, target_type, user_agent) = row  # fmt: skip
        body = event_body(
            chain_key=key, seq=seq, occurred_at=occurred_at, actor_type=actor_type,
            actor_id=actor_id, on_behalf_of_id=obo, action=action, target_type=target_type,
            target_id=target_id, data=data, ip=ip, user_agent=user_agent, request_id=request_id,
        )  # fmt: skip
        blobs.append(bytes.fromhex(prev) + canonical_json(body))
    started = time.perf_counter()
    for _row in iter_event_rows():
        pass
    read_seconds = time.perf_counter() - started

    sha256 = hashlib.sha256
    raw_seconds = None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for blob in blobs:
            sha256(blob).digest()
        seconds = time.perf_counter() - started
        raw_seconds = seconds if raw_seconds is None else min(raw_seconds, seconds)
    size = sum(map(len, blobs))
    return report.events, verify_seconds, full_seconds, read_seconds, raw_seconds, size


def main() -> None:
    users = _setup()
    user_ids = [u.pk for u in users]
    different = [user_ids[w * CHAINS_PER_WRITER : (w + 1) * CHAINS_PER_WRITER] for w in range(8)]
    same = [[user_ids[0]]] * 8

    rows = []
    for writers in (1, 8):
        best = {"plain": 0.0, "prepared": 0.0, "diff": 0.0, "one": 0.0}
        nobody = [None] * writers
        for _ in range(APPEND_ROUNDS):
            best["prepared"] = max(best["prepared"], _measure("prepared", writers, nobody))
            best["plain"] = max(best["plain"], _measure("plain", writers, nobody))
            best["diff"] = max(best["diff"], _measure("audit", writers, different))
            best["one"] = max(best["one"], _measure("audit", writers, same))
        # The baseline is a prepared plain insert, as the append is prepared; the ORM's
        # cursor (client-side binding, never prepared) is shown beside it.
        base, orm = best["prepared"], best["plain"]
        rows.append(("plain insert, prepared (baseline)", writers, base, None, ""))
        rows.append(("plain insert, Django cursor", writers, orm, orm / base, ""))
        diff, one = best["diff"], best["one"]
        rows.append(("audit append, different chains", writers, diff, diff / base, ">= 0.50x"))
        rows.append(("audit append, same chain", writers, one, one / base, "(none)"))

    import django.db

    django.db.connections.close_all()
    _fill_for_verification(users)
    events, verify_s, full_s, read_s, raw_s, size = _measure_verification()

    print(
        f"\nAudit appends on PostgreSQL (best of {APPEND_ROUNDS} runs of {DURATION:.0f} s, "
        "writer processes)"
    )
    print(f"{'scenario':40} {'writers':>7} {'ops/s':>10} {'vs plain':>9}  aim")
    for name, writers, rate, ratio, aim in rows:
        verdict = ""
        if aim.startswith(">="):
            verdict = "  met" if ratio >= 0.5 else "  MISSED"
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "-"
        print(f"{name:40} {writers:>7} {rate:>10.0f} {ratio_text:>9}  {aim}{verdict}")

    verify_rate = events / verify_s
    raw_rate = events / raw_s
    ratio = verify_rate / raw_rate
    print(f"\nVerification of {events} events ({size / events:.0f} bytes hashed per event)")
    print(f"{'measure':40} {'events/s':>10} {'MB/s':>9}")
    from audit.verify import _sessions

    print(f"{f'audit_verify ({_sessions()} database sessions)':40} {verify_rate:>10.0f} "
          f"{size / verify_s / 1e6:>9.1f}")  # fmt: skip
    print(f"{'audit_verify --full (Python, from columns)':40} {events / full_s:>10.0f} "
          f"{size / full_s / 1e6:>9.1f}")  # fmt: skip
    print(f"{'reading the rows into Python only':40} {events / read_s:>10.0f} {'':>9}")
    print(f"{'raw SHA-256, same bytes, 1 call/event':40} {raw_rate:>10.0f} "
          f"{size / raw_s / 1e6:>9.1f}")  # fmt: skip
    verdict = "met" if ratio >= 0.25 else "MISSED"
    print(f"{'ratio, audit_verify / raw SHA-256':40} {ratio:>10.2f}x  aim >= 0.25x  {verdict}")
    print(f"{'ratio, audit_verify --full / raw':40} {(events / full_s) / raw_rate:>10.2f}x")


if __name__ == "__main__":
    main()
