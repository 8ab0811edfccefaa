"""Emails as evidence: every email we send or receive is stored raw, with its hash.

Outgoing
    :func:`email_queue` is the one way to send an email. It renders the templates in
    the recipient's language, builds the MIME message with Django's email classes,
    stores the exact bytes and their SHA-256 as an :class:`~audit.models.OutboundEmail`
    with status ``queued``, records ``email.queued`` (on the customer's chain, else
    the system chain) in the same transaction, and enqueues ``audit.tasks.email_send``
    once the transaction commits.

    :func:`email_deliver` (called by the task) sends the stored bytes, unchanged, and
    marks the email ``sent`` only after the backend accepted it. A failed attempt is
    counted and the email stays ``queued`` for a retry; after ``EMAIL_MAX_ATTEMPTS``
    it becomes ``failed`` (``email.failed``), and staff may put it back with
    :func:`email_requeue`. The pending-work sweeper re-enqueues queued emails whose
    message was lost (broker down, worker killed).

    Delivery is at least once, never "sent" when it was not: the row is locked while
    the message is handed to the server and marked sent in the same transaction, so
    two workers never send it twice; if the process dies after the server accepted
    the message but before the commit, the email is still ``queued`` and is sent
    again later.

Incoming
    :func:`inbound_email_store` keeps a received message exactly as it arrived, with
    a few header values parsed defensively for display and search.

Templates
    An email named ``<name>`` lives in ``templates/emails/<name>/``:

    - ``subject.txt``: one line (whitespace is collapsed);
    - ``body.txt``: the plain-text part, usually ``{% extends "emails/base.txt" %}``
      filling ``{% block content %}``;
    - ``body.html`` (optional): the HTML alternative, usually extending
      ``emails/base.html``.

    The base layouts carry the frame and the footer (company identity,
    the statement that the service is private, paid and independent of the
    administration, the link to the free official procedures). ``subject.txt`` and
    ``body.txt`` are rendered without HTML escaping; ``body.html`` with it. Every
    template gets the identity values of :func:`email_base_context` besides the
    caller's context. Write the text in French inside ``{% translate %}`` /
    ``{% blocktranslate %}``: it is rendered in the recipient's language.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.template import Context, TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mynetspace.core.context_processors import OFFICIAL_ACCOUNT_URL, OFFICIAL_PORTAL_URL
from mynetspace.core.errors import DomainError, InvalidState, NotAllowed
from mynetspace.core.tasks import enqueue_on_commit

from .context import RequestMeta
from .models import InboundEmail, OutboundEmail
from .services import record

logger = logging.getLogger(__name__)

TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
HEADER_MAX = 998
LAST_ERROR_MAX = 2000
#: Longest wait between two delivery attempts (below the broker's visibility timeout).
MAX_RETRY_DELAY = 1800


# --- Outgoing ------------------------------------------------------------------------


def email_base_context() -> dict:
    """Values every email template may use (identity and official links)."""
    return {
        "SITE_NAME": "MyNetSpace",
        "SITE_URL": settings.SITE_URL,
        "COMPANY_NAME": settings.COMPANY_NAME,
        "COMPANY_ADDRESS": settings.COMPANY_ADDRESS,
        "COMPANY_SIREN": settings.COMPANY_SIREN,
        "COMPANY_EMAIL": settings.COMPANY_EMAIL,
        "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
        "MEDIATOR_NAME": settings.MEDIATOR_NAME,
        "MEDIATOR_URL": settings.MEDIATOR_URL,
        "OFFICIAL_PORTAL_URL": OFFICIAL_PORTAL_URL,
        "OFFICIAL_ACCOUNT_URL": OFFICIAL_ACCOUNT_URL,
    }


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None
    language: str


def recipient_language(*, language: str | None = None, customer=None) -> str:
    """The language to write in: the one asked for, else the customer's, else French."""
    for candidate in (language, getattr(customer, "language", None)):
        if candidate and isinstance(candidate, str):
            try:
                return translation.get_supported_language_variant(candidate, strict=False)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


def _template_exists(name: str) -> bool:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return False
    return True


def email_render(*, template: str, context: dict, language: str) -> RenderedEmail:
    """Render ``templates/emails/<template>/`` in ``language`` (see the module docstring)."""
    if not TEMPLATE_NAME_RE.match(template):
        raise ValueError(f"invalid email template name {template!r}")
    base = f"emails/{template}"
    values = {**email_base_context(), **context, "LANGUAGE_CODE": language}
    with translation.override(language):
        subject = _render(f"{base}/subject.txt", values, autoescape=False)
        text = _render(f"{base}/body.txt", values, autoescape=False)
        html = (
            _render(f"{base}/body.html", values, autoescape=True)
            if _template_exists(f"{base}/body.html")
            else None
        )
    # A subject is one header line: newlines from a template or a value never pass.
    subject = " ".join(subject.split())[:HEADER_MAX]
    if not subject:
        raise ValueError(f"email template {template!r} rendered an empty subject")
    return RenderedEmail(subject=subject, text=_tidy_text(text), html=html, language=language)


def _render(name: str, values: dict, *, autoescape: bool) -> str:
    # The engine-level template takes a Context, which lets plain-text parts be rendered
    # without HTML escaping ("Dupont & fils" must not become "Dupont &amp; fils").
    return get_template(name).template.render(Context(values, autoescape=autoescape))


def _tidy_text(text: str) -> str:
    """Strip trailing spaces and runs of blank lines that template tags leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy) + "\n"


def _clean_addresses(addresses, *, field: str) -> list[str]:
    if isinstance(addresses, str):
        addresses = [addresses]
    cleaned = []
    for address in addresses or []:
        address = (address or "").strip()
        try:
            if not address or any(c in address for c in "\r\n\x00,;<>"):
                raise ValidationError("bad characters")
            validate_email(address)
        except ValidationError:
            raise DomainError(
                _("L'adresse e-mail « %(address)s » n'est pas valide.") % {"address": address},
                f"invalid_{field}",
            ) from None
        cleaned.append(address)
    return cleaned


def _related_ref(related) -> tuple[str, str]:
    if related is None:
        return "", ""
    if related.pk is None:
        raise ValueError("the object an email relates to must be saved first")
    return f"{related._meta.app_label}.{related._meta.model_name}", str(related.pk)


def _msgid_domain(from_email: str) -> str:
    address = parseaddr(from_email)[1]
    domain = address.rpartition("@")[2]
    return domain or "mynetspace.invalid"


def email_build_raw(
    *,
    rendered: RenderedEmail,
    from_email: str,
    to: list[str],
    reply_to: list[str],
    attachments: list,
) -> tuple[bytes, str]:
    """The exact bytes to store and send (CRLF line endings), and their Message-ID."""
    message_id = make_msgid(domain=_msgid_domain(from_email))
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=to,
        reply_to=reply_to,
        headers={
            "Message-ID": message_id,
            "Date": format_datetime(timezone.now()),
            "Content-Language": rendered.language,
            # Transactional mail: tells auto-responders not to answer (RFC 3834).
            "Auto-Submitted": "auto-generated",
        },
    )
    if rendered.html is not None:
        message.attach_alternative(rendered.html, "text/html")
    for attachment in attachments:
        filename, content, mimetype = attachment
        message.attach(filename, content, mimetype)
    raw = message.message().as_bytes(linesep="\r\n")
    # SMTP ends the data with CRLF; storing it too makes the bytes on the wire equal
    # to the stored bytes (smtplib only dot-stuffs, which the server undoes).
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw, message_id


def email_queue(
    *,
    template: str,
    to: list[str] | str,
    context: dict,
    customer=None,
    related=None,
    language: str | None = None,
    reply_to: list[str] | str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    actor=None,
    meta: RequestMeta | None = None,
) -> OutboundEmail:
    """Render, store and queue one email; it is sent by a task after the commit.

    Call it inside the transaction of the change the email is about: if that
    transaction rolls back, no email is stored and none is sent. ``related`` is the
    object the email is about (an order, a request...); ``attachments`` are
    ``(filename, content, mimetype)`` triples. Raises ``DomainError`` (code
    ``invalid_to`` / ``invalid_reply_to`` / ``no_recipient``) for bad addresses.
    """
    recipients = _clean_addresses(to, field="to")
    if not recipients:
        raise DomainError(_("Aucun destinataire pour cet e-mail."), "no_recipient")
    reply_to_list = _clean_addresses(reply_to, field="reply_to")
    lang = recipient_language(language=language, customer=customer)
    rendered = email_render(template=template, context=context, language=lang)
    from_email = settings.DEFAULT_FROM_EMAIL
    raw, message_id = email_build_raw(
        rendered=rendered,
        from_email=from_email,
        to=recipients,
        reply_to=reply_to_list,
        attachments=list(attachments or []),
    )
    digest = hashlib.sha256(raw).hexdigest()
    related_type, related_id = _related_ref(related)
    now = timezone.now()

    from .tasks import email_send  # the task module imports this one

    with transaction.atomic():
        email = OutboundEmail(
            created_at=now,
            updated_at=now,
            customer=customer,
            related_type=related_type,
            related_id=related_id,
            template=template,
            from_email=from_email,
            to=recipients,
            subject=rendered.subject,
            message_id=message_id,
            raw=raw,
            sha256=digest,
            status=OutboundEmail.Status.QUEUED,
        )
        email.save(force_insert=True)
        record(
            action="email.queued",
            subject=customer,
            actor=actor,
            target=email,
            data={
                "template": template,
                "language": lang,
                "to": recipients,
                "subject": rendered.subject,
                "message_id": message_id,
                "sha256": digest,
                "size": len(raw),
                "related_type": related_type,
                "related_id": related_id,
            },
            meta=meta,
        )
        enqueue_on_commit(email_send, email.pk)
    return email


class _StoredMessage:
    """Stands in for ``email.message.Message``: gives the stored bytes, untouched."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        return self._raw

    def as_string(self, unixfrom: bool = False, linesep: str = "\n") -> str:
        return self._raw.decode("utf-8", "replace")

    def get_charset(self):
        return None


class StoredEmailMessage(EmailMessage):
    """A Django email whose ``message()`` is the stored raw message.

    Any backend (console, file, locmem...) then delivers the exact stored bytes;
    the SMTP backend is handled by :func:`_send_smtp` to know what the server did.
    ``body``, ``alternatives`` (the HTML part) and ``attachments`` are read back from
    the stored bytes, for tests that look at ``django.core.mail.outbox``.
    """

    def __init__(self, email: OutboundEmail) -> None:
        raw = bytes(email.raw)
        text, html, attachments = _read_parts(raw)
        super().__init__(
            subject=email.subject,
            from_email=email.from_email,
            to=list(email.to),
            body=text,
        )
        self.alternatives = [(html, "text/html")] if html is not None else []
        self.attachments = attachments
        self.raw = raw
        self.outbound_email_id = email.pk

    def message(self):
        return _StoredMessage(self.raw)


def _read_parts(raw: bytes) -> tuple[str, str | None, list[tuple[str, bytes | str, str]]]:
    """The text body, the HTML alternative and the attachments of a stored message."""
    message = message_from_bytes(raw, policy=policy.default)
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    attachments = [
        (part.get_filename() or "", part.get_content(), part.get_content_type())
        for part in message.iter_attachments()
    ]
    return (
        text_part.get_content() if text_part is not None else "",
        html_part.get_content() if html_part is not None else None,
        attachments,
    )


def _send_smtp(backend: SMTPBackend, email: OutboundEmail, raw: bytes) -> dict:
    """Hand ``raw`` to the SMTP server; returns the recipients it refused (if some)."""
    sender = sanitize_address(email.from_email, "utf-8")
    recipients = [sanitize_address(address, "utf-8") for address in email.to]
    backend.open()
    try:
        refused = backend.connection.sendmail(sender, recipients, raw)
    finally:
        try:
            backend.close()
        except (smtplib.SMTPException, OSError):
            # The server has already accepted the message: a failing QUIT changes nothing.
            logger.warning("SMTP QUIT failed after sending email %s", email.pk, exc_info=True)
    return {
        address: f"{code} {reply.decode('utf-8', 'replace')}"
        for address, (code, reply) in (refused or {}).items()
    }


def _send_stored(email: OutboundEmail) -> dict:
    """Send the stored bytes with the configured backend; raises if it did not accept."""
    raw = bytes(email.raw)
    if hashlib.sha256(raw).hexdigest() != email.sha256:
        # Never send something other than what the evidence says we sent.
        raise RuntimeError("stored raw message does not match its recorded hash")
    backend = get_connection(fail_silently=False)
    if isinstance(backend, SMTPBackend):
        return _send_smtp(backend, email, raw)
    accepted = backend.send_messages([StoredEmailMessage(email)])
    if accepted != 1:
        raise RuntimeError(f"email backend accepted {accepted!r} messages instead of 1")
    return {}


def retry_delay(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt (doubling, capped)."""
    if attempts <= 0:
        return 0
    base = max(int(settings.EMAIL_RETRY_BACKOFF_SECONDS), 0)
    return min(base * 2 ** (attempts - 1), MAX_RETRY_DELAY)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What :func:`email_deliver` did: ``sent``, ``retry``, ``failed`` or ``skipped``."""

    status: str
    retry_in: int = 0


def email_deliver(*, email_id: int, meta: RequestMeta | None = None) -> DeliveryOutcome:
    """Make one delivery attempt of a queued email (the body of the send task).

    The row is locked for the whole attempt (``SKIP LOCKED``: a second worker given
    the same id does nothing) and nothing happens unless it is still ``queued``.
    """
    with transaction.atomic():
        email = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status=OutboundEmail.Status.QUEUED)
            .first()
        )
        if email is None:
            return DeliveryOutcome("skipped")
        try:
            refused = _send_stored(email)
        except Exception as exc:  # any backend error is one failed attempt
            return _delivery_failed(email, exc, meta=meta)
        now = timezone.now()
        email.status = OutboundEmail.Status.SENT
        email.attempts += 1
        email.sent_at = now
        email.updated_at = now
        email.save(update_fields=["status", "attempts", "sent_at", "updated_at"])
        data = {"sha256": email.sha256, "message_id": email.message_id, "attempt": email.attempts}
        if refused:
            data["refused"] = refused
        record(
            action="email.sent",
            subject=email.customer,
            target=email,
            data=data,
            meta=meta,
        )
    return DeliveryOutcome("sent")


def _delivery_failed(email: OutboundEmail, exc: Exception, *, meta) -> DeliveryOutcome:
    error = f"{type(exc).__name__}: {exc}".replace("\x00", "")[:LAST_ERROR_MAX]
    email.attempts += 1
    email.last_error = error
    email.updated_at = timezone.now()
    fields = ["attempts", "last_error", "updated_at"]
    give_up = email.attempts >= settings.EMAIL_MAX_ATTEMPTS
    if give_up:
        email.status = OutboundEmail.Status.FAILED
        fields.append("status")
    email.save(update_fields=fields)
    logger.warning("Email %s attempt %s failed: %s", email.pk, email.attempts, error)
    if not give_up:
        return DeliveryOutcome("retry", retry_in=retry_delay(email.attempts))
    record(
        action="email.failed",
        subject=email.customer,
        target=email,
        data={"sha256": email.sha256, "attempts": email.attempts, "last_error": error},
        meta=meta,
    )
    return DeliveryOutcome("failed")


def email_requeue(*, email: OutboundEmail, acting_user, meta: RequestMeta | None = None):
    """Staff put a failed email back in the queue (attempts start again from zero)."""
    from .tasks import email_send

    if acting_user is None or not acting_user.is_staff:
        raise NotAllowed(_("Seule l'équipe peut renvoyer un e-mail."), "staff_only")
    with transaction.atomic():
        locked = OutboundEmail.objects.select_for_update().get(pk=email.pk)
        if locked.status != OutboundEmail.Status.FAILED:
            raise InvalidState(_("Seul un e-mail en échec peut être renvoyé."), "email_not_failed")
        previous_attempts = locked.attempts
        locked.status = OutboundEmail.Status.QUEUED
        locked.attempts = 0
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "attempts", "updated_at"])
        record(
            action="email.requeued",
            subject=locked.customer,
            actor=acting_user,
            target=locked,
            data={"previous_attempts": previous_attempts, "last_error": locked.last_error},
            meta=meta,
        )
        enqueue_on_commit(email_send, locked.pk)
    return locked


# --- Pending work (registered in AuditConfig.ready) ------------------------------------


def pending_email_ids(older_than, limit: int) -> list[int]:
    """Queued emails untouched since ``older_than`` plus their retry delay, oldest first."""
    max_attempts = max(int(settings.EMAIL_MAX_ATTEMPTS), 1)
    # Rows past the limit (it was lowered since) get one last attempt, then fail.
    due = Q(
        attempts__gte=max_attempts,
        updated_at__lt=older_than - timedelta(seconds=MAX_RETRY_DELAY),
    )
    for attempts in range(max_attempts):
        due |= Q(
            attempts=attempts,
            updated_at__lt=older_than - timedelta(seconds=retry_delay(attempts)),
        )
    return list(
        OutboundEmail.objects.filter(due, status=OutboundEmail.Status.QUEUED)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def pending_emails_enqueued(ids: list[int]) -> None:
    """Mark swept emails as just enqueued so the next sweeps leave them to the worker."""
    now = timezone.now()
    for email in OutboundEmail.objects.filter(pk__in=ids, status=OutboundEmail.Status.QUEUED).only(
        "pk", "updated_at"
    ):
        email.updated_at = now
        email.save(update_fields=["updated_at"])


# --- Incoming -------------------------------------------------------------------------


def _header_text(message, name: str) -> str:
    """A header's value as readable text, whatever the sender put in it."""
    raw_value = next(
        (value for key, value in message.raw_items() if key.lower() == name.lower()), None
    )
    if raw_value is None:
        return ""
    text = str(raw_value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        # Raw 8-bit bytes in a header (not RFC 2047): most senders mean UTF-8.
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    # Malformed encoded words or unknown charsets: keep the text as sent.
    with contextlib.suppress(Exception):
        text = str(make_header(decode_header(text)))
    # Readable and storable: no control characters (PostgreSQL refuses NUL).
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:HEADER_MAX]


def _sender_address(message) -> str:
    raw_from = _header_text(message, "From")
    try:
        addresses = [address for _name, address in getaddresses([raw_from]) if address]
    except Exception:
        addresses = []
    return (addresses[0] if addresses else raw_from)[:HEADER_MAX]


def inbound_email_store(
    *,
    raw: bytes,
    envelope_to: str = "",
    customer=None,
    related=None,
    meta: RequestMeta | None = None,
) -> InboundEmail:
    """Store a received message exactly as it arrived, with its ``email.received`` event.

    Any bytes are accepted (the evidence is what arrived, however malformed); only
    empty and oversized messages are refused (``DomainError`` ``empty_email`` /
    ``email_too_large``).
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("raw must be bytes")
    raw = bytes(raw)
    if not raw:
        raise DomainError(_("Le message reçu est vide."), "empty_email")
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
        raise DomainError(_("Le message reçu est trop volumineux."), "email_too_large")
    try:
        # compat32 parses lazily and never raises on bad headers; values are decoded
        # one by one by _header_text.
        message = message_from_bytes(raw, policy=policy.compat32)
    except Exception:
        message = None
    if message is not None:
        from_email = _sender_address(message)
        subject = _header_text(message, "Subject")
        message_id = _header_text(message, "Message-ID")
    else:
        from_email = subject = message_id = ""
    envelope = "".join(ch for ch in (envelope_to or "") if ch.isprintable()).strip()[:320]
    related_type, related_id = _related_ref(related)
    digest = hashlib.sha256(raw).hexdigest()
    with transaction.atomic():
        inbound = InboundEmail(
            received_at=timezone.now(),
            customer=customer,
            related_type=related_type,
            related_id=related_id,
            envelope_to=envelope,
            from_email=from_email,
            subject=subject,
            message_id=message_id,
            raw=raw,
            sha256=digest,
        )
        inbound.save(force_insert=True)
        record(
            action="email.received",
            subject=customer,
            target=inbound,
            data={
                "sha256": digest,
                "size": len(raw),
                "envelope_to": envelope,
                "from": from_email,
                "message_id": message_id,
                "related_type": related_type,
                "related_id": related_id,
            },
            meta=meta,
        )
    return inbound
