"""The panels of the customer dashboard (``/espace/``), as a registry.

Each app adds its panels without touching the dashboard page: in its
``AppConfig.ready()``, it calls::

    from accounts.dashboard import register_panel

    register_panel(
        "subscription",
        template="subscriptions/dashboard_panel.html",
        context_func=subscription_panel_context,
        order=20,
    )

``context_func(request)`` returns the panel's template context, or None to hide the
panel for this person. The page is benchmarked: a context function must cost a fixed
number of queries (never one per row), and should cost none when it can. Panels of
different apps that need the same row read it through :func:`shared_read`, so that
it is read once per page.

Built-in panels (registered below): profile (10), security (80), journal (85),
privacy (90).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.apps import apps
from django.db import connection

from mynetspace.core.context_processors import first_url, path_exists

from . import selectors

ContextFunc = Callable[[object], "dict | None"]


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context_func: ContextFunc
    order: int = 50


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    template: str
    context: dict


_registry: dict[str, Panel] = {}

#: Answers of :func:`shared_read` while :func:`panels_for` runs (None outside it).
_shared_reads: ContextVar[dict | None] = ContextVar("dashboard_shared_reads", default=None)


def register_panel(name: str, template: str, context_func: ContextFunc, order: int = 50) -> None:
    """Add (or replace, by ``name``) a dashboard panel; lower ``order`` comes first."""
    _registry[name] = Panel(name=name, template=template, context_func=context_func, order=order)


def unregister_panel(name: str) -> None:
    _registry.pop(name, None)


def registered_panels() -> list[Panel]:
    return sorted(_registry.values(), key=lambda panel: (panel.order, panel.name))


def panels_for(request) -> list[RenderedPanel]:
    """The panels to show to ``request.user``, in order, with their contexts."""
    rendered = []
    token = _shared_reads.set({})
    try:
        for panel in registered_panels():
            context = panel.context_func(request)
            if context is None:
                continue
            rendered.append(
                RenderedPanel(name=panel.name, template=panel.template, context=context)
            )
    finally:
        _shared_reads.reset(token)
    return rendered


def shared_read(key, read: Callable[[], object]):
    """``read()``, computed once per dashboard page for ``key`` while panels are built.

    Outside :func:`panels_for` it simply calls ``read()``. Panels only read, so a row
    read for one panel is still current for the next one (the open subscription: its
    own panel, and the vault panel's quota through the subscription's entitlements).
    """
    answers = _shared_reads.get()
    if answers is None:
        return read()
    if key not in answers:
        answers[key] = read()
    return answers[key]


def url_or_empty(name: str) -> str:
    """The URL named ``name``, or "" when that page does not exist (yet)."""
    return first_url(name)


def _path_or_empty(path: str) -> str:
    return path if path_exists(path) else ""


# --- Built-in panels ------------------------------------------------------------------------


def profile_panel(request) -> dict:
    """One query: the profile row."""
    return {"prefill": selectors.profile_prefill(request.user)}


def security_panel(request) -> dict:
    """One query when allauth's MFA is installed: the kinds of authenticators enrolled.

    In SQL, as compiling the equivalent queryset cost more than running it.
    """
    mfa_types: list[str] = []
    if apps.is_installed("allauth.mfa"):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT type FROM mfa_authenticator WHERE user_id = %s",
                [request.user.pk],
            )
            mfa_types = sorted(kind for (kind,) in cursor.fetchall())
    return {
        "mfa_enabled": any(kind != "recovery_codes" for kind in mfa_types),
        "has_totp": "totp" in mfa_types,
        "has_webauthn": "webauthn" in mfa_types,
        "mfa_url": url_or_empty("mfa_index"),
        "sessions_url": url_or_empty("usersessions_list"),
        "password_url": url_or_empty("account_change_password"),
        "email_url": url_or_empty("account_email"),
    }


def journal_panel(request) -> dict | None:
    url = _path_or_empty("/journal/")
    return {"journal_url": url} if url else None


def privacy_panel(request) -> dict:
    return {
        "export_url": _path_or_empty("/espace/export/"),
        "closure_url": _path_or_empty("/espace/fermeture/"),
        "consents_url": url_or_empty("consents"),
    }


register_panel("profile", "accounts/dashboard_panel_profile.html", profile_panel, order=10)
register_panel("security", "accounts/dashboard_panel_security.html", security_panel, order=80)
register_panel("journal", "accounts/dashboard_panel_journal.html", journal_panel, order=85)
register_panel("privacy", "accounts/dashboard_panel_privacy.html", privacy_panel, order=90)
