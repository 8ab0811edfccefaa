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
        # Applies the retention table of docs/retention.md (accounts.retention).
        "accounts-retention": {
            "task": "accounts.tasks.retention_apply",
            "schedule": RETENTION_SECONDS,
            "options": {"expires": RETENTION_SECONDS / 2},
        },
    }


#: The schedule with default intervals (settings use :func:`beat_schedule`).
BEAT_SCHEDULE = beat_schedule()
