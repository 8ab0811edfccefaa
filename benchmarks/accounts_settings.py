"""Settings for benchmarks/bench_accounts.py only: the product's settings plus a bare view.

Production-like (DEBUG off, database sessions, no per-query logging) but served over
plain HTTP on the loopback interface, with static files named as in development so
that no ``collectstatic`` manifest is needed.
"""

from mynetspace.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.accounts_urls"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
