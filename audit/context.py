"""Who is asking, from where: the request metadata that audit events carry.

``RequestMetaMiddleware`` builds a :class:`RequestMeta` for every request, puts it
on ``request.audit_meta`` and in a context variable, so that services called from a
view record the IP, user agent and request id without threading them through every
call. Tasks and commands run with ``RequestMeta.system()``.
"""

from __future__ import annotations

import contextvars
import ipaddress
import uuid
from dataclasses import dataclass

from django.conf import settings

USER_AGENT_MAX = 500


@dataclass(frozen=True)
class RequestMeta:
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def system(cls) -> RequestMeta:
        return cls()

    @classmethod
    def from_request(cls, request) -> RequestMeta:
        incoming_id = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = (
            incoming_id
            if _is_safe_request_id(incoming_id)
            and _from_trusted_proxy(request.META.get("REMOTE_ADDR", ""))
            else uuid.uuid4().hex
        )
        return cls(
            ip=client_ip(request.META),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            request_id=request_id,
        )


_current: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar(
    "audit_request_meta", default=None
)


def current_meta() -> RequestMeta:
    return _current.get() or RequestMeta.system()


def set_current_meta(meta: RequestMeta | None) -> contextvars.Token:
    return _current.set(meta)


def reset_current_meta(token: contextvars.Token) -> None:
    _current.reset(token)


def _parse_ip(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _from_trusted_proxy(addr: str) -> bool:
    ip = _parse_ip(addr)
    return ip is not None and any(ip in net for net in settings.TRUSTED_PROXIES)


def _is_safe_request_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all((c.isascii() and c.isalnum()) or c in "-_." for c in value)


def client_ip(meta: dict) -> str:
    """The client's address, believing X-Forwarded-For only from trusted proxies.

    The header is read right to left: each hop appended by a trusted proxy is
    skipped, and the first address not in ``TRUSTED_PROXIES`` is the client. A
    client cannot forge its way past our proxy by sending its own header.
    """
    remote = meta.get("REMOTE_ADDR", "")
    if not _from_trusted_proxy(remote):
        return str(_parse_ip(remote) or "")
    hops = [h for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _parse_ip(hop)
        if ip is None:
            break
        if not any(ip in net for net in settings.TRUSTED_PROXIES):
            return str(ip)
    return str(_parse_ip(remote) or "")
