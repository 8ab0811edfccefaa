"""Every periodic job of MyNetSpace, declared in one place (Celery beat schedule).

Each entry names a task that recomputes its work from database state, so a missed
run only delays the work. ``expires`` drops runs that waited in the queue past their
next turn (workers down for a while), so they do not pile up.

Settings build the schedule with the configured intervals:
``CELERY_BEAT_SCHEDULE = beat_schedule(checkpoint_minutes=AUDIT_CHECKPOINT_MINUTES)``.
"""

from __future__ import annotations

SWEEP_SECONDS = 60.0
RETENTION_SECONDS = 24 * 3600.0
WEEK_SECONDS = 7 * 24 * 3600.0


def beat_schedule(*, checkpoint_minutes: int = 60) -> dict[str, dict]:
    if checkpoint_minutes < 1:
        raise ValueError("AUDIT_CHECKPOINT_MINUTES must be at least 1")
    checkpoint_seconds = checkpoint_minutes * 60.0
    return {
        # Re-enqueues work whose message was lost (broker outage, worker crash).
        "sweep-pending-work": {
            "task": "mynetspace.core.tasks.sweep_pending_work",
            "schedule": SWEEP_SECONDS,
            "options": {"expires": SWEEP_SECONDS - 5},
        },
        # Signs a Merkle root over every chain head (audit.services.checkpoint_create).
        "audit-checkpoint": {
            "task": "audit.tasks.checkpoint_create",
            "schedule": checkpoint_seconds,
            "options": {"expires": checkpoint_seconds - 5},
        },
        # Recomputes every event from its columns, independently of PostgreSQL's derived
        # body (audit_verify --full, docs/evidence-format.md §8).
        "audit-verify-full": {
            "task": "audit.tasks.verify_full",
            "schedule": WEEK_SECONDS,
            "options": {"expires": WEEK_SECONDS / 2},
        },
        # Applies the retention table of docs/retention.md (accounts.retention).
        "accounts-retention": {
            "task": "accounts.tasks.retention_apply",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
        # Compares Stripe subscriptions and payments with Stripe's records and repairs
        # what is safe (subscriptions.reconcile, docs/payments.md).
        "subscriptions-billing-reconcile": {
            "task": "subscriptions.tasks.billing_reconcile",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
        # Destroys vault documents trashed more than 30 days ago (vault.services.trash_purge).
        "vault-trash-purge": {
            "task": "vault.tasks.trash_purge",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
        # Ends the vault export windows opened at account closure once their 12 months are
        # over: key destroyed (crypto-shredding), blobs deleted (vault.export).
        "vault-export-windows": {
            "task": "vault.export_tasks.export_windows_end",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
        # Emails the expiry reminders due today, 90, 30 and 7 days before a document
        # expires (vault.reminders; idempotent, so a late or repeated run sends nothing twice).
        "vault-expiry-reminders": {
            "task": "vault.intake_tasks.expiry_reminders_send",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
        # Ends cancellations whose date is reached; alerts staff about withdrawal refunds
        # not done after 7 days (subscriptions.services.subscriptions_end_due and
        # refunds_overdue_alert). Hourly, so a contract ends within the hour of its date.
        "subscriptions-exits": {
            "task": "subscriptions.tasks.subscription_exits_due",
            "schedule": 3600.0,
            "options": {"expires": 1800.0},
        },
        # Renewal notices of yearly plans (L215-1) and payment reminders of past-due
        # subscriptions (subscriptions.services; each email once, missed days caught up).
        "subscriptions-notices": {
            "task": "subscriptions.tasks.subscription_notices_send",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
    }


#: The schedule with default intervals (settings use :func:`beat_schedule`).
BEAT_SCHEDULE = beat_schedule()
