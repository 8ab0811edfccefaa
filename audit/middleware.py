"""Supplies IP, user agent and request id to everything a request records."""

from __future__ import annotations

from .context import RequestMeta, reset_current_meta, set_current_meta


class RequestMetaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = RequestMeta.from_request(request)
        request.audit_meta = meta
        token = set_current_meta(meta)
        try:
            response = self.get_response(request)
        finally:
            reset_current_meta(token)
        response["X-Request-ID"] = meta.request_id
        return response
