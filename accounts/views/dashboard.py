"""``/espace/``: the customer's landing page after login, made of registered panels."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts import dashboard


@require_safe
@login_required
def dashboard_view(request):
    context = {"panels": dashboard.panels_for(request)}
    return render(request, "accounts/dashboard.html", context)
