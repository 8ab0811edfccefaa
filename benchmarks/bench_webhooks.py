"""Stripe webhook ingestion on PostgreSQL, and invoice PDF rendering.

Measured in one run, on one database (``BENCH_WEBHOOKS_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/mns_bench_webhooks``, created and migrated here),
with Stripe's API served by the local fake (tests/fakes/stripe_server.py):

- **end to end**: signed events posted to ``/abonnement/webhooks/stripe/`` through
  Django's request handling (the test client: every middleware, the view, signature
  verification, raw event stored as evidence, processing with its services, audit
  events, invoices and emails queued). The mix per subscription is what Stripe sends
  for a paid order followed by a renewal and a cancellation: ``invoice.paid`` (first
  payment: activation, invoice), ``checkout.session.completed`` (already recorded),
  ``invoice.paid`` (renewal: invoice), ``customer.subscription.updated`` (cancel at
  period end), plus one redelivery of each. One sender, then one sender per CPU
  (separate processes and connections, as gunicorn workers would be), twice with
  fresh subscriptions, the better of the two kept (the machine may be shared);
- **signature verification alone**, over the same bodies and headers (the floor of
  what any webhook endpoint must do);
- **invoice PDF rendering** (``subscriptions.pdf.issued_document_pdf``) per invoice.

Aims: at least 200 events/s end to end (with one sender per CPU); a PDF in under
one second. Tasks are queued to an in-memory broker (no worker), as the web
process does with Redis: rendering PDFs is a worker's job, measured separately.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mns_bench_webhooks"
SUBSCRIPTIONS = int(os.environ.get("BENCH_WEBHOOK_SUBSCRIPTIONS", "120"))
PDF_COUNT = 8
WARM_UP = 5
AIM_EVENTS_PER_SECOND = 200
AIM_PDF_SECONDS = 1.0

os.environ["DATABASE_URL"] = os.environ.get("BENCH_WEBHOOKS_DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mynetspace.settings")
os.environ.update(
    {
        "DEBUG": "false",  # no per-query debug logging, as in production
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        "PAYMENT_PROVIDER": "stripe",
        "ENV_FILE": "",
    }
)


def _ensure_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        sys.exit("bench_webhooks needs PostgreSQL: set BENCH_WEBHOOKS_DATABASE_URL")
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
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _setup(fake):
    import django

    django.setup()
    from django.conf import settings

    _ensure_database()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_PRICES = {"mensuel": "price_mensuel", "annuel": "price_annuel"}


def _events(fake, count: int) -> list[list[dict]]:
    """Per subscription, the events Stripe would send (see the module docstring)."""
    from accounts.models import User
    from subscriptions import services
    from subscriptions.models import Plan

    plan = Plan.objects.get(code="mensuel")
    now = int(time.time())
    batches = []
    for n in range(count):
        customer = User.objects.create(email=f"bench{n}-{now}@example.test")
        subscription = services.subscription_order(
            customer=customer, plan=plan, express_start=True,
            express_start_wording="Je demande que le service commence tout de suite.",
            express_start_version="bench", provider="stripe",
        )  # fmt: skip
        services.subscription_checkout_start(
            subscription=subscription, success_url="/abonnement/", cancel_url="/abonnement/"
        )
        subscription.refresh_from_db()
        t0 = now - 40 * 86400
        paid = fake.checkout_pay(subscription.provider_checkout_id, paid_at=t0)
        remote = paid["subscription"]["id"]
        renewal = fake.invoice_pay(remote, paid_at=t0 + 30 * 86400)
        cancel = fake.subscription_set(remote, cancel_at_period_end=True)
        events = [
            fake.event("invoice.paid", paid["invoice"], created=t0 + 1),
            fake.event("checkout.session.completed", paid["session"], created=t0 + 2),
            fake.event("invoice.paid", renewal, created=t0 + 30 * 86400),
            fake.event("customer.subscription.updated", cancel, created=t0 + 31 * 86400),
        ]
        batches.append(events + events)  # each delivered twice, as Stripe may
    return batches


def _deliver(fake, batches, results, slot):
    from django.db import connections
    from django.test import Client

    client = Client()
    statuses = {}
    started = time.perf_counter()
    for events in batches:
        for event in events:
            code = fake.deliver(client, event).status_code
            statuses[code] = statuses.get(code, 0) + 1
    results[slot] = (time.perf_counter() - started, statuses)
    connections.close_all()


def _run(fake, batches, senders: int) -> tuple[float, int, dict]:
    from django.db import connections

    count = sum(len(events) for events in batches)
    if senders == 1:
        results = {}
        _deliver(fake, batches, results, 0)
        elapsed, statuses = results[0]
        return count / elapsed, count, statuses
    connections.close_all()
    manager = multiprocessing.Manager()
    results = manager.dict()
    shares = [batches[i::senders] for i in range(senders)]
    ctx = multiprocessing.get_context("fork")
    started = time.perf_counter()
    procs = [
        ctx.Process(target=_deliver, args=(fake, shares[i], results, i)) for i in range(senders)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    statuses = {}
    for _elapsed, part in results.values():
        for code, n in part.items():
            statuses[code] = statuses.get(code, 0) + n
    return count / elapsed, count, statuses


def _verify_rate(fake, batches) -> float:
    from subscriptions.providers.stripe import verify_signature

    signed = []
    for events in batches:
        for event in events:
            body = fake.body(event)
            signed.append((body, fake.sign(body)))
    started = time.perf_counter()
    for body, header in signed:
        verify_signature(body, header, [fake.webhook_secret])
    return len(signed) / (time.perf_counter() - started)


def _pdf_seconds() -> float:
    from subscriptions.models import Invoice
    from subscriptions.pdf import issued_document_pdf

    invoices = list(Invoice.objects.order_by("pk")[: PDF_COUNT + 1])
    issued_document_pdf(invoices[0])  # fonts and stylesheet loaded once per process
    started = time.perf_counter()
    for invoice in invoices[1:]:
        issued_document_pdf(invoice)
    return (time.perf_counter() - started) / max(1, len(invoices) - 1)


def main() -> int:
    from tests.fakes.stripe_server import FakeStripe

    fake = FakeStripe()
    fake.start()
    try:
        _setup(fake)
        from subscriptions.models import Payment, ProviderEvent

        senders = max(2, os.cpu_count() or 2)
        half = SUBSCRIPTIONS // 2
        batches = _events(fake, SUBSCRIPTIONS + half)
        _run(fake, _events(fake, WARM_UP), 1)  # imports, templates, API client: not measured
        one_rate, one_count, one_status = _run(fake, batches[:half], 1)
        # The machine may be shared: two rounds with fresh subscriptions, the best kept.
        rounds = [_run(fake, batches[half * k : half * (k + 1)], senders) for k in (1, 2)]
        many_rate = max(rate for rate, _count, _status in rounds)
        many_count = sum(count for _rate, count, _status in rounds)
        many_status = [code for _rate, _count, status in rounds for code in status]
        verify_rate = _verify_rate(fake, batches)
        pdf = _pdf_seconds()
        payments = Payment.objects.count()
        stored = ProviderEvent.objects.filter(status="processed").count()
    finally:
        fake.stop()

    ok = {200}
    sound = (
        set(one_status) <= ok
        and set(many_status) <= ok
        and payments == 2 * (SUBSCRIPTIONS + half + WARM_UP)
    )
    print(f"{SUBSCRIPTIONS + half} subscriptions, {one_count + many_count} deliveries "
          f"({stored} distinct events processed, {payments} payments recorded)")  # fmt: skip
    print()
    print(f"{'measure':48} {'result':>14} {'aim':>14}")
    print(f"{'-' * 48} {'-' * 14} {'-' * 14}")
    rows = [
        ("signature verification alone", f"{verify_rate:,.0f} /s", "(baseline)"),
        ("webhooks end to end, 1 sender", f"{one_rate:,.0f} /s", ""),
        (f"webhooks end to end, {senders} senders", f"{many_rate:,.0f} /s",
         f">= {AIM_EVENTS_PER_SECOND} /s"),
        ("end to end / verification alone (1 sender)", f"{one_rate / verify_rate:.4f}", ""),
        ("invoice PDF rendering, per invoice", f"{pdf * 1000:,.0f} ms",
         f"< {AIM_PDF_SECONDS * 1000:.0f} ms"),
    ]  # fmt: skip
    for name, result, aim in rows:
        print(f"{name:48} {result:>14} {aim:>14}")
    print()
    met = many_rate >= AIM_EVENTS_PER_SECOND and pdf < AIM_PDF_SECONDS
    print("aims met" if met else "AIM MISSED (see the table)")
    if not sound:
        print(f"UNEXPECTED: statuses {one_status} / {many_status}, payments {payments}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
