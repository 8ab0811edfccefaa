"""Forwarding headers are believed only when they come from a trusted proxy.

``SECURE_PROXY_SSL_HEADER`` makes Django trust ``X-Forwarded-Proto`` from whoever
sends it. :class:`UntrustedForwardedHeadersMiddleware` runs first and removes the
forwarding headers of any request whose peer is not in ``TRUSTED_PROXIES``, so a
client that reaches the application server directly cannot claim to be on HTTPS.
(The client IP is resolved separately, in ``audit.context.client_ip``.)
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")


def is_trusted_proxy(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


class UntrustedForwardedHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for header in FORWARDING_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
