"""Every periodic job of MyNetSpace, declared in one place (Celery beat schedule).

Each entry names a task that recomputes its work from database state, so a missed
run only delays the work.
"""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "sweep-pending-work": {
        "task": "mynetspace.core.tasks.sweep_pending_work",
        "schedule": 60.0,
    },
    "audit-checkpoint": {
        "task": "audit.tasks.checkpoint_create",
        "schedule": crontab(minute=5),
    },
}
