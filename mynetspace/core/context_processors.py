"""Values every template needs: identity, official links, navigation.

``site_values()`` needs no request and touches no database, so the 500 page can use
it when everything else may be broken; ``site()`` adds what depends on the request.

Which paths exist and where "cancel" and "logout" point depend only on the URLconf, so
they are worked out once per URLconf (and script prefix), not on every page: resolving
a dozen paths took about 6% of the server time of a customer page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.urls import (
    NoReverseMatch,
    Resolver404,
    get_resolver,
    get_script_prefix,
    get_urlconf,
    reverse,
)
from django.utils.translation import gettext_lazy as _

OFFICIAL_PORTAL_URL = "https://www.service-public.fr/"
OFFICIAL_ACCOUNT_URL = "https://connexion.mon.service-public.fr/"


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    current: bool = False


# Public paths are stable (DESIGN §5) while the pages behind them arrive issue by
# issue: a link is shown only once its path resolves to a view, so no link is dead.
PUBLIC_NAV = [
    ("/", _("Accueil")),
    ("/tarifs/", _("Tarifs")),
    ("/guides/", _("Guides")),
]
ACCOUNT_NAV = [
    ("/espace/", _("Mon espace")),
    ("/coffre/", _("Mon coffre")),
    ("/demarches/", _("Mes démarches")),
    ("/journal/", _("Mon journal")),
]


def path_exists(path: str) -> bool:
    """True when ``path`` is served by a view of the current URLconf."""
    # The resolver is a new object whenever the URLconf changes (override_settings,
    # clear_url_caches), so the answer is remembered per resolver.
    return _resolves(get_resolver(get_urlconf()), path)


@functools.lru_cache(maxsize=256)
def _resolves(resolver, path: str) -> bool:
    try:
        resolver.resolve(path)
    except Resolver404:
        return False
    return True


def nav_items(entries, current_path: str = "") -> list[NavItem]:
    items = []
    for path, label in entries:
        if not path_exists(path):
            continue
        is_current = current_path == path or (path != "/" and current_path.startswith(path))
        items.append(NavItem(path=path, label=label, current=is_current))
    return items


def first_url(*names: str) -> str:
    """The URL of the first of ``names`` that the URLconf serves, or ""."""
    return _first_url_in(get_resolver(get_urlconf()), get_script_prefix(), names)


@functools.lru_cache(maxsize=64)
def _first_url_in(resolver, script_prefix: str, names: tuple[str, ...]) -> str:
    # resolver and script_prefix are the cache key: reverse() reads both itself.
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


def site_values() -> dict:
    """Identity and links that every page shows, the error pages included."""
    return {
        "SITE_NAME": "MyNetSpace",
        "SITE_URL": settings.SITE_URL,
        "OFFICIAL_PORTAL_URL": OFFICIAL_PORTAL_URL,
        "OFFICIAL_ACCOUNT_URL": OFFICIAL_ACCOUNT_URL,
        "COMPANY_NAME": settings.COMPANY_NAME,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        "MEDIATOR_NAME": settings.MEDIATOR_NAME,
        "MEDIATOR_URL": settings.MEDIATOR_URL,
        "CANCEL_URL": first_url("cancel") or "/resilier/",
        "public_nav": nav_items(PUBLIC_NAV),
    }


def site(request) -> dict:
    current_path = request.path
    values = site_values()
    values["public_nav"] = nav_items(PUBLIC_NAV, current_path)
    values["account_nav"] = nav_items(ACCOUNT_NAV, current_path)
    values["available_paths"] = {
        item.path for item in (*values["public_nav"], *values["account_nav"])
    }
    # Until accounts bring their own pages, the admin login is the one that exists.
    values["LOGIN_URL"] = settings.LOGIN_URL
    values["LOGOUT_URL"] = first_url("account_logout", "admin:logout")
    return values
