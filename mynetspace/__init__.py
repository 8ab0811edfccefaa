"""MyNetSpace project package: settings, URLs, Celery application and shared core."""

from .celery import app as celery_app

__all__ = ("celery_app",)
