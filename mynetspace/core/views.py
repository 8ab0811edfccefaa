"""Pages that belong to no app: home, health and the error pages."""

from __future__ import annotations

import logging

from django.http import HttpResponsePermanentRedirect, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.csrf import requires_csrf_token

from mynetspace.core import health
from mynetspace.core.context_processors import site_values

logger = logging.getLogger(__name__)


def home(request):
    return render(request, "home.html")


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: point them at our icon."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def healthz(request):
    """JSON status of database, cache, broker, storage (and what apps register)."""
    return health.healthz_view(request)


@requires_csrf_token
def permission_denied(request, exception=None):
    return render(request, "errors/403.html", status=403)


@requires_csrf_token
def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request=None):
    """Render the 500 page without the request context.

    The failure may come from the database, the session or a context processor, so
    this page uses only values that need neither (no user, no CSRF token).
    """
    try:
        body = loader.get_template("errors/500.html").render(site_values())
    except Exception:
        logger.exception("The 500 page itself failed to render")
        body = "<!DOCTYPE html><title>500</title><h1>Erreur / Error 500</h1>"
    return HttpResponseServerError(body)


def csrf_failure(request, reason=""):
    return render(request, "errors/csrf.html", status=403)
