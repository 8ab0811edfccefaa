"""WSGI entry point (gunicorn mynetspace.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mynetspace.settings")

application = get_wsgi_application()
