"""The Celery application. Configuration lives in settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mynetspace.settings")

app = Celery("mynetspace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
