"""Stripe's webhook endpoint: ``POST /abonnement/webhooks/stripe/``.

No session and no CSRF token: the ``Stripe-Signature`` header over the exact raw
body is the only proof accepted. The view is thin: verify, store, process, answer.

- **Refused** (400): unsigned, wrongly signed, modified after signing, older (or
  further in the future) than five minutes, malformed, too large. Nothing is stored
  and nothing changes: the evidence table only ever holds what Stripe really sent.
  The attempt is logged (reason, body hash, client address) for operators.
- **Accepted** (200): the raw event is committed as evidence first
  (``provider_event_store``), then processed once (``provider_event_process``). A
  redelivery answers 200 without a second effect. An event our rules refuse to
  apply is kept ``failed`` for staff and ``billing_reconcile``, still with 200:
  delivering it again would not change the answer.
- **Try again** (503): processing needed Stripe's API, which did not answer, or the
  database failed; the stored event stays ``received`` and Stripe delivers it again.
"""

from __future__ import annotations

import hashlib
import logging

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .providers import WebhookRejected, get_provider
from .providers import stripe as stripe_provider

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    provider = get_provider(stripe_provider.NAME)
    try:
        parsed = provider.parse_webhook(request)
    except WebhookRejected as exc:
        logger.warning(
            "Stripe webhook refused (%s) from %s, body sha256 %s",
            exc.code,
            request.META.get("REMOTE_ADDR", "?"),
            _body_digest(request),
        )
        return JsonResponse({"error": exc.code}, status=400)
    try:
        event = stripe_provider.event_ingest(parsed, meta=getattr(request, "audit_meta", None))
    except (stripe_provider.EventRetryLater, DatabaseError):
        logger.exception("Stripe webhook %s: processing postponed", parsed.event_id)
        return JsonResponse({"error": "retry_later"}, status=503)
    return JsonResponse({"received": event.event_id, "status": event.status})


def _body_digest(request: HttpRequest) -> str:
    try:
        return hashlib.sha256(request.body).hexdigest()
    except Exception:  # a body too large to read: the log line still goes out
        return "unreadable"
