"""URLconf for the page tests: the real routes plus views that fail on purpose."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path

from mynetspace.urls import handler403, handler404, handler500
from mynetspace.urls import urlpatterns as root_patterns


def forbidden(request):
    raise PermissionDenied


def broken(request):
    raise RuntimeError("a failure the visitor must never see")


def flash(request):
    messages.success(request, "Votre demande a bien été enregistrée.")
    return redirect("/")


urlpatterns = [
    path("test/403/", forbidden),
    path("test/500/", broken),
    path("test/message/", flash),
    *root_patterns,
]

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]
