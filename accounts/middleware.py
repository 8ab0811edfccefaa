"""Staff session rules: a second factor before any staff page, and a 30-minute idle timeout.

Staff pages are the admin (and later the compliance console): a staff member who has
not enrolled a second factor is sent to the TOTP activation page; one whose session
was opened without a second factor (e.g. enrolled during this session) confirms it
through allauth's MFA reauthentication, which records it in the session. A staff
session without a request for ``STAFF_IDLE_TIMEOUT_SECONDS`` is logged out, with a
message and an ``auth.staff_idle_logout`` event.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .auth_events import LOGOUT_RECORDED_ATTR, record_auth_event

#: Paths only staff use; every one of them requires a second factor.
STAFF_PATH_PREFIXES = ("/admin/", "/conformite/")
LAST_ACTIVITY_KEY = "staff_last_activity"
#: The last-activity timestamp is rewritten at most this often (one session save).
ACTIVITY_RESOLUTION_SECONDS = 60
STRONG_TYPES = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def session_used_mfa(request, user) -> bool:
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, user))


def _with_next(url: str, request) -> str:
    return f"{url}?next={quote(request.get_full_path())}"


class StaffSecurityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            response = self._idle_timeout(request, user) or self._require_mfa(request, user)
            if response is not None:
                return response
        return self.get_response(request)

    def _idle_timeout(self, request, user):
        now = int(time.time())
        last = request.session.get(LAST_ACTIVITY_KEY)
        if isinstance(last, int) and now - last > settings.STAFF_IDLE_TIMEOUT_SECONDS:
            record_auth_event(
                action="auth.staff_idle_logout",
                user=user,
                request=request,
                data={"idle_seconds": now - last},
            )
            setattr(request, LOGOUT_RECORDED_ATTR, True)
            logout(request)
            messages.info(
                request,
                _(
                    "Votre session a été fermée après %(minutes)d minutes d'inactivité. "
                    "Reconnectez-vous pour continuer."
                )
                % {"minutes": settings.STAFF_IDLE_TIMEOUT_SECONDS // 60},
            )
            return redirect(_with_next(settings.LOGIN_URL, request))
        if not isinstance(last, int) or now - last >= ACTIVITY_RESOLUTION_SECONDS:
            request.session[LAST_ACTIVITY_KEY] = now
        return None

    def _require_mfa(self, request, user):
        if not request.path.startswith(STAFF_PATH_PREFIXES):
            return None
        if not is_mfa_enabled(user, STRONG_TYPES):
            messages.warning(
                request,
                _(
                    "Activez la double authentification avant d'accéder aux outils de "
                    "l'équipe : c'est obligatoire pour tous les comptes du personnel."
                ),
            )
            return redirect("mfa_activate_totp")
        if not session_used_mfa(request, user):
            messages.info(
                request,
                _("Confirmez votre identité avec votre second facteur pour continuer."),
            )
            return redirect(_with_next(reverse("mfa_reauthenticate"), request))
        return None
