"""A local fake of the parts of Stripe's HTTP API that MyNetSpace uses.

A small threaded HTTP server on 127.0.0.1 that speaks the form-encoded requests of
stripe-python and answers with JSON objects shaped like Stripe's (API versions of
2025 and later: invoices name their subscription under ``parent``, periods live on
subscription items, payments of an invoice are ``invoice_payment`` objects). Its
state lives in memory; every request is logged (:attr:`FakeStripe.requests`) so
tests can assert what was asked, and how many times.

What it serves:

- ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/<id>``,
  ``POST /v1/checkout/sessions/<id>/expire``
- ``GET /v1/customers/<id>``
- ``GET /v1/subscriptions/<id>``, ``POST /v1/subscriptions/<id>`` (``cancel_at_period_end``,
  ``cancel_at``), ``DELETE /v1/subscriptions/<id>`` (cancel now)
- ``GET /v1/invoices/<id>``, ``GET /v1/invoices?subscription=&status=``
- ``GET /v1/invoice_payments?invoice=``
- ``POST /v1/refunds`` honouring ``Idempotency-Key`` (same key and parameters: the
  same refund, replayed; same key, other parameters: an ``idempotency_error``, as
  Stripe does), ``GET /v1/refunds/<id>``, ``GET /v1/refunds?payment_intent=``

What the customer or Stripe's billing would do happens through Python methods
(:meth:`FakeStripe.checkout_pay`, :meth:`invoice_pay`, :meth:`invoice_fail`,
:meth:`subscription_set`, :meth:`subscription_end`, :meth:`refund_settle`), each
returning the objects it changed; :meth:`event` wraps a snapshot of an object in an
event and :meth:`deliver` signs it (``Stripe-Signature: t=<ts>,v1=<HMAC-SHA256 of
"<ts>.<body>">``) and posts it to our webhook endpoint.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

WEBHOOK_PATH = "/abonnement/webhooks/stripe/"
API_VERSION = "2026-10-28.endive"


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    status: int = 0


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", code=""):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """``a[b][0][c]=v`` pairs (stripe-python's encoding) into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0]] + [p.rstrip("]") for p in key.split("[")[1:]]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # "lookup_keys[]": append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})

    def listify(value):
        if isinstance(value, dict):
            value = {k: listify(v) for k, v in value.items()}
            if value and all(k.isdigit() for k in value):
                return [value[k] for k in sorted(value, key=int)]
        return value

    return listify(root)


@dataclass
class FakeStripe:
    api_key: str = "sk_test_fake_mynetspace"
    webhook_secret: str = "whsec_test_fake_mynetspace"
    #: price id -> unit amount in cents (the plans' prices by default)
    prices: dict = field(default_factory=lambda: {"price_mensuel": 990, "price_annuel": 9900})
    #: what a new refund becomes at once: "succeeded", "pending" or "failed"
    refund_outcome: str = "succeeded"
    #: False: every request gets 503, as during an outage of Stripe's API
    available: bool = True

    def __post_init__(self):
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.objects: dict[str, dict[str, dict]] = {
            kind: {}
            for kind in (
                "checkout.session",
                "customer",
                "subscription",
                "invoice",
                "invoice_payment",
                "payment_intent",
                "refund",
            )
        }
        self._idempotent: dict[str, tuple[str, int, dict]] = {}
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- server -----------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _handle(self, method: str):
                fake._serve(self, method)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(
            raw, keep_blank_values=True
        )
        params = decode_form(pairs)
        key = handler.headers.get("Idempotency-Key")
        record = RecordedRequest(method, parts.path, params, key)
        with self.lock:
            self.requests.append(record)
            try:
                if not self.available:
                    raise StripeError(503, "Service unavailable.", type_="api_error")
                if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
                    raise StripeError(
                        401, "Invalid API Key provided.", type_="invalid_request_error"
                    )
                status, body, replayed = self._idempotent_call(method, parts.path, params, key)
            except StripeError as exc:
                status, body, replayed = exc.status, exc.body(), False
            record.status = status
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Request-Id", f"req_{next(self._ids)}")
        if replayed:
            handler.send_header("Idempotent-Replayed", "true")
        handler.end_headers()
        handler.wfile.write(payload)

    def _idempotent_call(self, method, path, params, key):
        if method != "POST" or not key:
            return 200, self._route(method, path, params), False
        fingerprint = json.dumps([path, params], sort_keys=True)
        if key in self._idempotent:
            seen, status, body = self._idempotent[key]
            if seen != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    type_="idempotency_error",
                )
            return status, copy.deepcopy(body), True
        try:
            status, body = 200, self._route(method, path, params)
        except StripeError as exc:
            status, body = exc.status, exc.body()
            if exc.status >= 500:
                raise
        self._idempotent[key] = (fingerprint, status, copy.deepcopy(body))
        return status, body, False

    # --- routing ------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict) -> dict:
        segments = [s for s in path.split("/") if s]
        if segments[:1] != ["v1"]:
            raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")
        rest = segments[1:]
        match (method, rest):
            case ("POST", ["checkout", "sessions"]):
                return self._session_create(params)
            case ("GET", ["checkout", "sessions", sid]):
                return self._get("checkout.session", sid)
            case ("POST", ["checkout", "sessions", sid, "expire"]):
                session = self._get_live("checkout.session", sid)
                if session["status"] != "open":
                    raise StripeError(400, "Only open sessions can be expired.")
                session["status"] = "expired"
                return copy.deepcopy(session)
            case ("GET", ["customers", cid]):
                return self._get("customer", cid)
            case ("GET", ["subscriptions", sid]):
                return self._get("subscription", sid)
            case ("POST", ["subscriptions", sid]):
                return self._subscription_update(sid, params)
            case ("DELETE", ["subscriptions", sid]):
                return self.subscription_end(sid, at=self.now())
            case ("GET", ["invoices", iid]):
                return self._get("invoice", iid)
            case ("GET", ["invoices"]):
                return self._list("invoice", params, ("subscription", "status", "customer"))
            case ("GET", ["invoice_payments"]):
                return self._list("invoice_payment", params, ("invoice", "status"))
            case ("POST", ["refunds"]):
                return self._refund_create(params)
            case ("GET", ["refunds", rid]):
                return self._get("refund", rid)
            case ("GET", ["refunds"]):
                return self._list("refund", params, ("payment_intent",))
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _get_live(self, kind: str, object_id: str) -> dict:
        try:
            return self.objects[kind][object_id]
        except KeyError:
            raise StripeError(
                404, f"No such {kind}: '{object_id}'", code="resource_missing"
            ) from None

    def _get(self, kind: str, object_id: str) -> dict:
        return copy.deepcopy(self._get_live(kind, object_id))

    def _list(self, kind: str, params: dict, filters: tuple[str, ...]) -> dict:
        items = list(self.objects[kind].values())
        for name in filters:
            if name in params:
                if kind == "invoice" and name == "subscription":
                    items = [i for i in items if _invoice_subscription(i) == params[name]]
                else:
                    items = [i for i in items if i.get(name) == params[name]]
        items.sort(key=lambda o: (o["created"], o["id"]), reverse=True)
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "url": f"/v1/{kind}s",
            "has_more": len(items) > limit,
            "data": copy.deepcopy(items[:limit]),
        }

    # --- helpers ------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def logged(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Requests received with this method whose path starts with ``path_prefix``."""
        with self.lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    def created_refunds(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(list(self.objects["refund"].values()))

    # --- checkout -----------------------------------------------------------------------

    def _session_create(self, params: dict) -> dict:
        for required in ("mode", "success_url", "line_items"):
            if required not in params:
                raise StripeError(400, f"Missing required param: {required}.")
        if params["mode"] != "subscription":
            raise StripeError(400, "This fake only supports mode=subscription.")
        for url_name in ("success_url", "cancel_url"):
            url = params.get(url_name, "")
            if url and not url.startswith(("http://", "https://")):
                raise StripeError(400, f"Not a valid URL: {url_name}")
        lines = params["line_items"]
        for line in lines:
            if line.get("price") not in self.prices:
                raise StripeError(400, f"No such price: '{line.get('price')}'")
        sid = self.new_id("cs_test")
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.url}/pay/{sid}",
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata", {}),
            "locale": params.get("locale"),
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "subscription": None,
            "invoice": None,
            "amount_total": sum(
                self.prices[line["price"]] * int(line.get("quantity", 1)) for line in lines
            ),
            "currency": "eur",
            "created": self.now(),
            "line_items_requested": lines,
            "subscription_data": params.get("subscription_data", {}),
        }
        self.objects["checkout.session"][sid] = session
        return copy.deepcopy(session)

    def checkout_pay(self, session_id: str, *, paid_at: int | None = None) -> dict:
        """The customer pays: a customer, an active subscription and its first paid
        invoice appear; the session is complete. Returns copies of all four."""
        with self.lock:
            paid_at = paid_at or self.now()
            session = self._get_live("checkout.session", session_id)
            cid = session["customer"] or self.new_id("cus")
            self.objects["customer"].setdefault(
                cid,
                {"id": cid, "object": "customer", "email": session["customer_email"],
                 "created": paid_at},
            )  # fmt: skip
            price = session["line_items_requested"][0]["price"]
            sub_id = self.new_id("sub")
            interval = 365 * 86400 if self.prices[price] >= 5000 else 30 * 86400
            subscription = {
                "id": sub_id,
                "object": "subscription",
                "customer": cid,
                "status": "active",
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "created": paid_at,
                "start_date": paid_at,
                "metadata": dict(session["subscription_data"].get("metadata", {})),
                "latest_invoice": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self.new_id("si"),
                            "object": "subscription_item",
                            "price": {"id": price, "unit_amount": self.prices[price]},
                            "quantity": 1,
                            "current_period_start": paid_at,
                            "current_period_end": paid_at + interval,
                        }
                    ],
                },
                "_interval": interval,
            }
            self.objects["subscription"][sub_id] = subscription
            invoice = self._invoice_new(subscription, billing_reason="subscription_create",
                                        at=paid_at, start=paid_at)  # fmt: skip
            self._invoice_mark_paid(invoice, paid_at)
            session.update(
                status="complete", payment_status="paid", customer=cid,
                subscription=sub_id, invoice=invoice["id"],
            )  # fmt: skip
            return {
                "session": copy.deepcopy(session),
                "customer": copy.deepcopy(self.objects["customer"][cid]),
                "subscription": copy.deepcopy(subscription),
                "invoice": copy.deepcopy(invoice),
            }

    # --- invoices -----------------------------------------------------------------------

    def _invoice_new(self, subscription: dict, *, billing_reason: str, at: int, start: int):
        item = subscription["items"]["data"][0]
        amount = item["price"]["unit_amount"]
        end = start + subscription["_interval"]
        iid = self.new_id("in")
        invoice = {
            "id": iid,
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "open",
            "billing_reason": billing_reason,
            "currency": "eur",
            "amount_due": amount,
            "amount_paid": 0,
            "amount_remaining": amount,
            "attempt_count": 0,
            "created": at,
            "period_start": start,
            "period_end": end,
            "status_transitions": {"finalized_at": at, "paid_at": None},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            },
            "lines": {
                "object": "list",
                "data": [{"amount": amount, "period": {"start": start, "end": end}}],
            },
        }
        self.objects["invoice"][iid] = invoice
        subscription["latest_invoice"] = iid
        return invoice

    def _invoice_mark_paid(self, invoice: dict, paid_at: int) -> None:
        pi = self.new_id("pi")
        charge = self.new_id("ch")
        self.objects["payment_intent"][pi] = {
            "id": pi, "object": "payment_intent", "amount": invoice["amount_due"],
            "status": "succeeded", "latest_charge": charge, "created": paid_at,
        }  # fmt: skip
        invoice.update(
            status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
            attempt_count=invoice["attempt_count"] + 1,
        )  # fmt: skip
        invoice["status_transitions"]["paid_at"] = paid_at
        ipid = self.new_id("inpay")
        self.objects["invoice_payment"][ipid] = {
            "id": ipid, "object": "invoice_payment", "invoice": invoice["id"],
            "status": "paid", "amount_paid": invoice["amount_due"], "currency": "eur",
            "is_default": True, "created": paid_at,
            "payment": {"type": "payment_intent", "payment_intent": pi, "charge": charge},
        }  # fmt: skip

    def invoice_pay(self, subscription_id: str, *, paid_at: int, invoice_id: str | None = None):
        """Billing charges the next period (or a retry of an open invoice succeeds)."""
        with self.lock:
            subscription = self._get_live("subscription", subscription_id)
            if invoice_id is None:
                item = subscription["items"]["data"][0]
                invoice = self._invoice_new(
                    subscription, billing_reason="subscription_cycle", at=paid_at,
                    start=item["current_period_end"],
                )  # fmt: skip
            else:
                invoice = self._get_live("invoice", invoice_id)
            self._invoice_mark_paid(invoice, paid_at)
            item = subscription["items"]["data"][0]
            item["current_period_start"] = invoice["period_start"]
            item["current_period_end"] = invoice["period_end"]
            subscription["status"] = "active"
            return copy.deepcopy(invoice)

    def invoice_fail(self, subscription_id: str, *, at: int) -> dict:
        """Billing tries to charge the next period and the card is declined."""
        with self.lock:
            subscription = self._get_live("subscription", subscription_id)
            item = subscription["items"]["data"][0]
            invoice = self._invoice_new(
                subscription, billing_reason="subscription_cycle", at=at,
                start=item["current_period_end"],
            )  # fmt: skip
            invoice["attempt_count"] = 1
            invoice["next_payment_attempt"] = at + 3 * 86400
            subscription["status"] = "past_due"
            return copy.deepcopy(invoice)

    # --- subscriptions ------------------------------------------------------------------

    def _subscription_update(self, sid: str, params: dict) -> dict:
        subscription = self._get_live("subscription", sid)
        if subscription["status"] == "canceled":
            raise StripeError(400, "A canceled subscription can only update its metadata.")
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
            if subscription["cancel_at_period_end"]:
                subscription["cancel_at"] = subscription["items"]["data"][0]["current_period_end"]
            else:
                subscription["cancel_at"] = None
        if "cancel_at" in params:
            subscription["cancel_at"] = int(params["cancel_at"]) if params["cancel_at"] else None
            if subscription["cancel_at"] is None:
                subscription["cancel_at_period_end"] = False
        if "metadata" in params:
            subscription["metadata"].update(params["metadata"])
        subscription["canceled_at"] = self.now() if subscription["cancel_at"] else None
        return copy.deepcopy(subscription)

    def subscription_set(self, subscription_id: str, **fields) -> dict:
        """Change a subscription as the dashboard or billing would (tests)."""
        with self.lock:
            subscription = self._get_live("subscription", subscription_id)
            subscription.update(fields)
            return copy.deepcopy(subscription)

    def subscription_end(self, subscription_id: str, *, at: int) -> dict:
        with self.lock:
            subscription = self._get_live("subscription", subscription_id)
            subscription.update(status="canceled", ended_at=at)
            subscription["canceled_at"] = subscription["canceled_at"] or at
            return copy.deepcopy(subscription)

    # --- refunds ------------------------------------------------------------------------

    def _refund_create(self, params: dict) -> dict:
        pi_id = params.get("payment_intent")
        if not pi_id:
            raise StripeError(400, "Missing required param: payment_intent.")
        pi = self._get_live("payment_intent", pi_id)
        amount = int(params.get("amount", pi["amount"]))
        already = sum(
            r["amount"]
            for r in self.objects["refund"].values()
            if r["payment_intent"] == pi_id and r["status"] in ("succeeded", "pending")
        )
        if amount <= 0 or amount + already > pi["amount"]:
            raise StripeError(
                400, "Refund amount is greater than the unrefunded amount.",
                code="amount_too_large",
            )  # fmt: skip
        rid = self.new_id("re")
        refund = {
            "id": rid,
            "object": "refund",
            "amount": amount,
            "currency": "eur",
            "payment_intent": pi_id,
            "charge": pi["latest_charge"],
            "status": self.refund_outcome,
            "failure_reason": "expired_or_canceled_card"
            if self.refund_outcome == "failed"
            else None,
            "reason": params.get("reason"),
            "metadata": params.get("metadata", {}),
            "created": self.now(),
        }
        self.objects["refund"][rid] = refund
        return copy.deepcopy(refund)

    def refund_settle(self, refund_id: str, status: str) -> dict:
        with self.lock:
            refund = self._get_live("refund", refund_id)
            refund["status"] = status
            refund["failure_reason"] = "lost_or_stolen_card" if status == "failed" else None
            return copy.deepcopy(refund)

    # --- events and webhooks ------------------------------------------------------------

    def event(self, type_: str, obj: dict, *, created: int | None = None, event_id=None) -> dict:
        """An event as Stripe sends it: a snapshot of ``obj`` at ``created``."""
        snapshot = {k: v for k, v in copy.deepcopy(obj).items() if not k.startswith("_")}
        return {
            "id": event_id or self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": created or self.now(),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
            "data": {"object": snapshot},
        }

    def sign(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{timestamp}.".encode() + body
        mac = hmac.new((secret or self.webhook_secret).encode(), signed, hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"

    @staticmethod
    def body(event: dict) -> bytes:
        return json.dumps(event, separators=(",", ":")).encode()

    def deliver(self, client, event: dict, *, secret=None, timestamp=None, body=None, header=None):
        """Post ``event`` signed to the webhook endpoint through a Django test client."""
        body = self.body(event) if body is None else body
        header = self.sign(body, secret=secret, timestamp=timestamp) if header is None else header
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
        return client.post(WEBHOOK_PATH, data=body, content_type="application/json", **extra)

    def deliver_http(self, base_url: str, event: dict, *, secret=None) -> tuple[int, bytes]:
        """The same over real HTTP (a server on loopback)."""
        body = self.body(event)
        request = urllib.request.Request(
            base_url.rstrip("/") + WEBHOOK_PATH,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": self.sign(body, secret=secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def _invoice_subscription(invoice: dict) -> str | None:
    parent = invoice.get("parent") or {}
    return (parent.get("subscription_details") or {}).get("subscription")


def fake_stripe_settings(settings, fake: FakeStripe) -> None:
    """Point the Stripe provider at ``fake`` (``settings``: pytest-django's fixture)."""
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_PRICES = {"mensuel": "price_mensuel", "annuel": "price_annuel"}
