"""The Celery application.

Configuration lives in settings (``CELERY_*``): queues ``default``, ``email``,
``scan`` and ``export``, JSON only, late acknowledgement, time limits and the
fail-fast publishing options. Periodic jobs are declared in ``mynetspace/schedule.py``.
Tasks are found in each app's ``tasks.py``.

Run a worker for every queue, and one beat::

    celery -A mynetspace worker -Q default,email,scan,export
    celery -A mynetspace beat

With no broker configured (``CELERY_BROKER_URL`` unset and no ``REDIS_URL``), tasks
run eagerly in the calling process and no worker is needed.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mynetspace.settings")

app = Celery("mynetspace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
