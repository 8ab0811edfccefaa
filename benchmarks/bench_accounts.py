"""Account pages under gunicorn on PostgreSQL: /journal/ and /espace/ against a bare view.

Measured in one run, on one database (``BENCH_ACCOUNTS_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/mns_bench_accounts``, created and migrated here):

- query counts of ``/journal/`` and ``/espace/`` for a customer with 10 events and
  one with 10,000 events on their chain, on the first visit (the journal verifies
  the whole chain once) and on later visits (only new events are verified);
- requests per second, with gunicorn (sync workers, one per CPU) serving the product
  with production-like settings (DEBUG off, database sessions) over plain HTTP on
  127.0.0.1, for the authenticated pages of the 10,000-event customer and for a bare
  view that renders 20 rows read with one query (``benchmarks/accounts_urls.py``,
  bench-only). The load comes from a few client processes (``http.client``, one
  connection per request as gunicorn's sync workers close them), each round
  alternating the targets; the best of two rounds is kept on a shared machine.

Aims: each page at least 0.40x the bare view's throughput; the same number of
queries for 10 and 10,000 events. Runs in about a minute.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mns_bench_accounts"
DURATION = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = 2
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
BIG = 10_000
SMALL = 10
AIM = 0.40

BENCH_ENV = {
    "DATABASE_URL": os.environ.get("BENCH_ACCOUNTS_DATABASE_URL", DEFAULT_URL),
    "DJANGO_SETTINGS_MODULE": "benchmarks.accounts_settings",
    "ENV_FILE": "",
    "DEBUG": "false",
    # Plain HTTP on the loopback interface: no HTTPS redirect, cookies sent over http.
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(BENCH_ENV)


def _ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        sys.exit("bench_accounts needs PostgreSQL: set BENCH_ACCOUNTS_DATABASE_URL=postgres://...")
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
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _fill(user, target: int) -> None:
    """Top ``user``'s chain up to ``target`` correctly chained events (bulk insert)."""
    from django.db import transaction
    from django.utils import timezone

    from audit.hashing import chain_hash, event_body
    from audit.models import Chain, Event
    from audit.services import chain_key_for

    key = chain_key_for(user)
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
    actions = ("auth.login", "auth.logout", "consent.granted", "profile.updated", "email.queued")
    with transaction.atomic():
        head, _ = Chain.objects.select_for_update().get_or_create(key=key)
        prev, seq = head.head_hash, head.length
        now = timezone.now()
        batch = []
        while seq < target:
            seq += 1
            action = actions[seq % len(actions)]
            data = {"method": "password"} if action == "auth.login" else {}
            fields = {
                "chain_key": key, "seq": seq, "occurred_at": now, "actor_type": "user",
                "actor_id": user.pk, "on_behalf_of_id": None, "action": action,
                "target_type": "", "target_id": "", "data": data, "ip": "203.0.113.5",
                "user_agent": agent, "request_id": "",
            }  # fmt: skip
            digest = chain_hash(prev, event_body(**fields))
            batch.append(Event(**fields, prev_hash=prev, hash=digest))
            prev = digest
            if len(batch) == 2000:
                Event.objects.bulk_create(batch)
                batch = []
        Event.objects.bulk_create(batch)
        Chain.objects.filter(pk=head.pk).update(length=seq, head_hash=prev)


def _session_cookie(user) -> str:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    # The product's own session engine (database sessions, accounts/sessions.py).
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _setup() -> dict:
    import django

    django.setup()
    _ensure_database()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import ChainVerification, User

    call_command("migrate", verbosity=0, interactive=False)
    people = {}
    for count in (SMALL, BIG):
        email = f"bench-journal-{count}@example.invalid"
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, None)
        _fill(user, count)
        people[count] = user
    ChainVerification.objects.filter(chain_key__startswith="user:").delete()
    # Fresh statistics after the bulk load, as autovacuum keeps them in production.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    return {
        "people": people,
        "cookies": {count: _session_cookie(user) for count, user in people.items()},
        "cookie_name": settings.SESSION_COOKIE_NAME,
    }


def _path_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _query_counts(ctx: dict, paths: list[str]) -> list[tuple[str, int, int, int, int]]:
    """(path, events, first-visit queries, later-visit queries, status) per page and person."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    rows = []
    for path in paths:
        for count in (SMALL, BIG):
            client = Client()
            client.cookies[ctx["cookie_name"]] = ctx["cookies"][count]
            with CaptureQueriesContext(connection) as first:
                status = client.get(path).status_code
            with CaptureQueriesContext(connection) as later:
                client.get(path)
            rows.append((path, count, len(first), len(later), status))
    return rows


def _first_verification_seconds(ctx: dict) -> float:
    from accounts import journal
    from accounts.models import ChainVerification

    user = ctx["people"][BIG]
    ChainVerification.objects.filter(chain_key=f"user:{user.pk}").delete()
    started = time.perf_counter()
    status = journal.chain_verify_incremental(user=user)
    elapsed = time.perf_counter() - started
    if not status.ok:
        raise SystemExit(f"the benchmark chain does not verify: {status.problem}")
    return elapsed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, cookie: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _start_gunicorn(port: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "mynetspace.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
            "--chdir",
            str(ROOT),
        ],
        env={**os.environ, **BENCH_ENV},
        cwd=ROOT,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            if _get(port, "/bench/bare/", "") == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


def _client(port, path, cookie, start_at, duration, results):
    count = errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    while time.time() < end:
        try:
            status = _get(port, path, cookie)
        except OSError:
            status = 0
        if status == 200:
            count += 1
        else:
            errors += 1
    results.put((count, errors))


def _load(port: int, path: str, cookie: str) -> float:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 0.3
    procs = [
        ctx.Process(target=_client, args=(port, path, cookie, start_at, DURATION, results))
        for _ in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=DURATION + 30)
    done = [results.get(timeout=5) for _ in procs]
    errors = sum(e for _, e in done)
    if errors:
        raise SystemExit(f"{path}: {errors} requests did not answer 200")
    return sum(c for c, _ in done) / DURATION


def main() -> None:
    ctx = _setup()
    verify_seconds = _first_verification_seconds(ctx)
    from accounts.models import ChainVerification

    ChainVerification.objects.filter(chain_key__startswith="user:").delete()
    pages = ["/journal/"] + (["/espace/"] if _path_exists("/espace/") else [])
    counts = _query_counts(ctx, pages)
    for path, _count, _first, _later, status in counts:
        if status != 200:
            raise SystemExit(f"{path} answered {status} to the benchmark session")
    from django.db import connections

    connections.close_all()  # never share a connection with the forked clients

    name = ctx["cookie_name"]
    big_user = ctx["people"][BIG]
    targets = [("bare view, 20 rows, 1 query", f"/bench/bare/?chain=user:{big_user.pk}", "")]
    for path in pages:
        targets.append((f"{path} (10,000 events)", path, f"{name}={ctx['cookies'][BIG]}"))
    port = _free_port()
    server = _start_gunicorn(port)
    try:
        best = dict.fromkeys((label for label, _p, _c in targets), 0.0)
        for _ in range(ROUNDS):
            for label, path, cookie in targets:
                best[label] = max(best[label], _load(port, path, cookie))
    finally:
        server.terminate()
        server.wait(timeout=30)

    bare = best[targets[0][0]]
    print(
        f"\nAccount pages under gunicorn ({WORKERS} sync workers, {CLIENTS} client processes, "
        f"best of {ROUNDS} runs of {DURATION:.0f} s), PostgreSQL"
    )
    print(f"{'page':36} {'req/s':>8} {'vs bare':>8}  aim")
    for label, _path, _cookie in targets:
        rate = best[label]
        if label == targets[0][0]:
            print(f"{label:36} {rate:>8.0f} {'-':>8}  (baseline)")
            continue
        ratio = rate / bare
        verdict = "met" if ratio >= AIM else "MISSED"
        print(f"{label:36} {rate:>8.0f} {ratio:>7.2f}x  >= {AIM:.2f}x  {verdict}")
    if "/espace/" not in pages:
        print("/espace/ is not served yet: not measured")

    print("\nQueries per page (first visit verifies the chain once; later visits only new events)")
    print(f"{'page':12} {'events':>7} {'first visit':>12} {'later visits':>13}")
    for path, count, first, later, _status in counts:
        print(f"{path:12} {count:>7} {first:>12} {later:>13}")
    for path in pages:
        per_count = {(c, f, lt) for p, c, f, lt, _s in counts if p == path}
        same = len({(f, lt) for _c, f, lt in per_count}) == 1
        print(f"{path}: same queries for {SMALL} and {BIG} events: {'met' if same else 'MISSED'}")
    print(
        f"\nFirst verification of a {BIG}-event chain (once per customer): "
        f"{verify_seconds * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
