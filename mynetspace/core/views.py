"""Pages that belong to no app: home, health and the error pages."""

from __future__ import annotations

from django.shortcuts import render

from mynetspace.core import health


def home(request):
    return render(request, "home.html")


def healthz(request):
    """JSON status of database, cache, broker, storage (and what apps register)."""
    return health.healthz_view(request)


def permission_denied(request, exception=None):
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    return render(request, "errors/500.html", status=500)


def csrf_failure(request, reason=""):
    return render(request, "errors/csrf.html", status=403)
