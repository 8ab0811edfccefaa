"""Documents that arrive without an upload: deposited by the service, or sent by email.

Service deposit
    :func:`document_deposit` is what other apps call (invoices and credit notes, the
    order confirmation pack, assistance later): it stores the document through the
    upload pipeline (``vault.services.document_store``, source ``service``) and
    records where it came from (:class:`~vault.models.DocumentOrigin`,
    ``vault.document_deposited``), in the caller's transaction.

Private intake address
    Each customer may have one active address ``coffre-<token>@<VAULT_INTAKE_DOMAIN>``;
    the token is random (16 characters from a 32-letter alphabet: 80 bits), so the
    address cannot be guessed from the customer's identity. Regenerating it revokes
    the former one: mail sent there is still kept as evidence, but nothing of it
    enters the vault any more.

Email ingestion
    :func:`email_ingest` (``manage.py ingest_email``, fed one raw message by the mail
    server) stores the message raw as inbound evidence
    (:func:`audit.emails.inbound_email_store`), linked to the customer when the
    recipient is an active intake address; then each attachment goes through the
    upload pipeline (source ``email``). The customer gets one summary email: what
    entered the vault and what was refused, with the reason; the summary event
    ``vault.intake_email_processed`` records both.

    Hostile messages are expected: the message size is bounded
    (``INBOUND_EMAIL_MAX_BYTES``), at most :data:`MAX_PARTS` MIME parts are looked at,
    :data:`MAX_ATTACHMENTS` attachments and :data:`MAX_ATTACHMENTS_BYTES` bytes in all
    enter the pipeline (the rest is refused and reported), archives are refused by
    the type check and never opened, and a message the parser cannot read is kept
    as evidence and reported as unreadable.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

from django.conf import settings
from django.db import DatabaseError, transaction
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.context import RequestMeta
from audit.emails import email_queue, inbound_email_store, recipient_language
from audit.models import InboundEmail
from audit.services import record
from mynetspace.core.errors import DomainError

from .models import Document, DocumentOrigin, DocumentSource, IntakeAddress

logger = logging.getLogger(__name__)

#: Attachments of one email that may enter the vault.
MAX_ATTACHMENTS = 10
#: Decoded bytes of all the attachments of one email that may enter the vault.
MAX_ATTACHMENTS_BYTES = 50 * 1024 * 1024
#: MIME parts of one message looked at (the rest is ignored and reported).
MAX_PARTS = 200

TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # noqa: S105 (no 0/o, 1/l: read aloud safely)
TOKEN_LENGTH = 16
ADDRESS_PREFIX = "coffre-"
_SOURCE_APP = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


# --- Service deposit ------------------------------------------------------------------------


def _related_ref(related) -> tuple[str, str]:
    if related is None:
        return "", ""
    if related.pk is None:
        raise ValueError("the object a deposited document relates to must be saved first")
    return f"{related._meta.app_label}.{related._meta.model_name}", str(related.pk)


def document_deposit(
    *,
    owner,
    filename: str,
    content: bytes | Iterable[bytes],
    title: str = "",
    doc_type: str = "",
    source_app: str,
    related=None,
    meta: RequestMeta | None = None,
) -> Document:
    """Store a document the service produced for ``owner`` (source ``service``).

    ``source_app`` names the calling app (``subscriptions``...), ``related`` the
    object the document belongs to (an invoice...). Runs in the caller's
    transaction: if it rolls back, no row remains (the blob is deleted by the
    pipeline on its own failures). Raises the pipeline's ``DomainError`` (a type
    not allowed, a destroyed vault key...) like an upload would; the quota does not
    apply to what the service produces.
    """
    from .services import document_store

    if not _SOURCE_APP.match(source_app or ""):
        raise ValueError(f"invalid source_app {source_app!r}")
    related_type, related_id = _related_ref(related)
    if isinstance(content, bytes | bytearray | memoryview):
        chunks: Iterable[bytes] = [bytes(content)]
    else:
        chunks = content
    with transaction.atomic():
        document = document_store(
            owner=owner,
            chunks=chunks,
            filename=filename,
            source=DocumentSource.SERVICE,
            title=title,
            doc_type=doc_type,
            meta=meta,
        )
        DocumentOrigin.objects.create(
            document=document,
            source_app=source_app,
            related_type=related_type,
            related_id=related_id,
        )
        record(
            action="vault.document_deposited",
            subject=owner,
            target=document,
            data={
                "document": str(document.uuid),
                "title": document.title,
                "doc_type": document.doc_type,
                "source_app": source_app,
                "related_type": related_type,
                "related_id": related_id,
                "sha256": document.sha256,
            },
            meta=meta,
        )
    return document


# --- Intake address -----------------------------------------------------------------------------


def intake_domain() -> str:
    """The mail domain of intake addresses; empty when intake by email is off."""
    return (settings.VAULT_INTAKE_DOMAIN or "").strip().lower()


def intake_enabled() -> bool:
    return bool(intake_domain())


def intake_address_text(address: IntakeAddress) -> str:
    """``coffre-<token>@<domain>``, the address the customer gives out."""
    return f"{ADDRESS_PREFIX}{address.token}@{intake_domain()}"


def _new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def _intake_disabled() -> DomainError:
    return DomainError(
        _("Le dépôt de documents par e-mail n'est pas disponible pour le moment."),
        "vault.intake_disabled",
    )


def intake_address_get(user) -> IntakeAddress | None:
    """The customer's active intake address, if they have one."""
    return IntakeAddress.objects.filter(user=user, revoked_at__isnull=True).first()


def intake_address_create(*, user, meta: RequestMeta | None = None) -> IntakeAddress:
    """The customer's active intake address, created (and recorded) if they have none."""
    if not intake_enabled():
        raise _intake_disabled()
    with transaction.atomic():
        # The key row is not the right lock here: lock the user's addresses instead.
        existing = (
            IntakeAddress.objects.select_for_update()
            .filter(user=user, revoked_at__isnull=True)
            .first()
        )
        if existing is not None:
            return existing
        return _address_create(user=user, meta=meta, replaced=None)


def _address_create(*, user, meta, replaced: IntakeAddress | None) -> IntakeAddress:
    address = IntakeAddress.objects.create(user=user, token=_new_token())
    record(
        action="vault.intake_address_created",
        subject=user,
        actor=user,
        target=address,
        data={
            "address": intake_address_text(address),
            "replaces": intake_address_text(replaced) if replaced else "",
        },
        meta=meta,
    )
    return address


def intake_address_regenerate(*, user, meta: RequestMeta | None = None) -> IntakeAddress:
    """Give the customer a new address; the former one stops working at once."""
    if not intake_enabled():
        raise _intake_disabled()
    with transaction.atomic():
        current = (
            IntakeAddress.objects.select_for_update()
            .filter(user=user, revoked_at__isnull=True)
            .first()
        )
        if current is not None:
            current.revoked_at = timezone.now()
            current.save(update_fields=["revoked_at"])
            record(
                action="vault.intake_address_revoked",
                subject=user,
                actor=user,
                target=current,
                data={"address": intake_address_text(current), "reason": "regenerated"},
                meta=meta,
            )
        return _address_create(user=user, meta=meta, replaced=current)


def intake_address_revoke_all(*, user, meta: RequestMeta | None = None) -> int:
    """Revoke the customer's address (account closure); returns how many were active."""
    with transaction.atomic():
        active = list(
            IntakeAddress.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        )
        for address in active:
            address.revoked_at = timezone.now()
            address.save(update_fields=["revoked_at"])
            record(
                action="vault.intake_address_revoked",
                subject=user,
                target=address,
                data={"address": intake_address_text(address), "reason": "account_closed"},
                meta=meta,
            )
    return len(active)


def intake_address_resolve(address: str) -> IntakeAddress | None:
    """The active intake address ``address`` designates (any case), or None."""
    domain = intake_domain()
    if not domain or not address:
        return None
    local, at, address_domain = address.strip().strip("<>").rpartition("@")
    if not at or address_domain.lower().rstrip(".") != domain:
        return None
    local = local.lower()
    if not local.startswith(ADDRESS_PREFIX):
        return None
    token = local[len(ADDRESS_PREFIX) :]
    if not token or len(token) > 32 or not token.isalnum() or not token.isascii():
        return None
    return (
        IntakeAddress.objects.select_related("user")
        .filter(token=token, revoked_at__isnull=True, user__is_active=True)
        .first()
    )


# --- Email ingestion --------------------------------------------------------------------------


@dataclass
class Attachment:
    filename: str
    content: bytes | None
    #: Set when the attachment is refused before the pipeline (too many, too big).
    refusal: DomainError | None = None


@dataclass
class Refusal:
    filename: str
    code: str
    message: str


@dataclass
class IngestResult:
    """What :func:`email_ingest` did. ``status``: ``processed``, ``unknown_recipient``,
    ``too_large`` or ``empty``."""

    status: str
    inbound: InboundEmail | None = None
    customer: object = None
    accepted: list[Document] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    unreadable: bool = False


def _parse(raw: bytes) -> EmailMessage | None:
    try:
        return BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # malformed MIME, absurd nesting (RecursionError)...
        logger.info("inbound email unparsable: %s: %s", type(exc).__name__, exc)
        return None


def _header_addresses(message: EmailMessage | None) -> list[str]:
    """Candidate recipients from Delivered-To, X-Original-To, To and Cc (in that order)."""
    if message is None:
        return []
    found: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        try:
            values = [str(value) for value in message.get_all(name, [])]
            found.extend(address for _name, address in getaddresses(values) if address)
        except Exception as exc:  # a header the parser chokes on names no one
            logger.info("inbound email header %s unreadable: %s", name, type(exc).__name__)
    return found


def _recipient(recipient: str, message: EmailMessage | None):
    """The intake address a message is for, and the address text it was found under."""
    candidates = [recipient] if recipient else _header_addresses(message)
    for candidate in candidates[:20]:
        address = intake_address_resolve(candidate)
        if address is not None:
            return address, candidate
    return None, (recipient or (candidates[0] if candidates else ""))


def _fallback_name(part, index: int) -> str:
    extension = mimetypes.guess_extension(part.get_content_type() or "") or ".bin"
    return _("piece-jointe-%(number)s") % {"number": index} + extension


def _attachments(message: EmailMessage) -> list[Attachment]:
    """The attachments of ``message``, bounded (see the module docstring)."""
    attachments: list[Attachment] = []
    total = 0
    walked = 0
    try:
        for part in message.walk():
            walked += 1
            if walked > MAX_PARTS:
                attachments.append(
                    Attachment(
                        filename=_("(autres parties du message)"),
                        content=None,
                        refusal=DomainError(
                            _("Le message comporte trop de parties : la suite n'a pas été lue."),
                            "vault.intake_too_many_parts",
                        ),
                    )
                )
                break
            if part.is_multipart():
                continue
            try:
                filename = part.get_filename() or ""
                disposition = part.get_content_disposition()
            except Exception:
                filename, disposition = "", "attachment"
            if not filename and disposition != "attachment":
                continue  # the text of the message itself
            filename = filename or _fallback_name(part, len(attachments) + 1)
            if len(attachments) >= MAX_ATTACHMENTS:
                attachments.append(
                    Attachment(
                        filename=filename,
                        content=None,
                        refusal=DomainError(
                            _(
                                "Trop de pièces jointes : seules les %(max)s premières "
                                "sont déposées dans votre coffre."
                            )
                            % {"max": MAX_ATTACHMENTS},
                            "vault.intake_too_many_attachments",
                        ),
                    )
                )
                continue
            try:
                content = part.get_payload(decode=True) or b""
            except Exception:
                content = b""
            if total + len(content) > MAX_ATTACHMENTS_BYTES:
                attachments.append(
                    Attachment(
                        filename=filename,
                        content=None,
                        refusal=DomainError(
                            _("Les pièces jointes de ce message dépassent %(size)s Mo en tout.")
                            % {"size": MAX_ATTACHMENTS_BYTES // (1024 * 1024)},
                            "vault.intake_attachments_too_large",
                        ),
                    )
                )
                continue
            total += len(content)
            attachments.append(Attachment(filename=filename, content=content))
    except Exception as exc:  # RecursionError on absurd nesting, broken parts...
        logger.info("inbound email partly unreadable: %s: %s", type(exc).__name__, exc)
        attachments.append(
            Attachment(
                filename=_("(suite du message)"),
                content=None,
                refusal=DomainError(
                    _("Une partie du message est illisible : elle n'a pas été déposée."),
                    "vault.intake_unreadable_part",
                ),
            )
        )
    return attachments


def _store_attachment(*, owner, attachment: Attachment, meta) -> Document:
    from .services import document_store

    return document_store(
        owner=owner,
        chunks=[attachment.content or b""],
        filename=attachment.filename,
        source=DocumentSource.EMAIL,
        meta=meta,
    )


def _is_automatic(message: EmailMessage | None) -> bool:
    """An auto-reply or bounce (RFC 3834): processed, but not answered."""
    if message is None:
        return False
    try:
        value = str(message.get("Auto-Submitted", "no")).strip().lower()
    except Exception:
        return False
    return value not in ("", "no")


def _size_refusal_notify(*, address: IntakeAddress, size: int, meta) -> None:
    user = address.user
    with translation.override(recipient_language(customer=user)):
        reason = _(
            "Le message dépasse la taille maximale acceptée (%(size)s) : il n'a pas été conservé."
        ) % {"size": filesizeformat(settings.INBOUND_EMAIL_MAX_BYTES)}
        with transaction.atomic():
            record(
                action="vault.intake_email_refused",
                subject=user,
                data={"code": "email_too_large", "size": size},
                meta=meta,
            )
            _report_queue(user=user, subject="", accepted=[], refused=[], general=reason)


def _report_queue(*, user, subject: str, accepted, refused, general: str = "", related=None):
    if not user.email:
        return
    email_queue(
        template="vault_intake_report",
        to=[user.email],
        customer=user,
        related=related,
        context={
            "subject_line": subject,
            "accepted": [
                {"title": document.title, "url": settings.SITE_URL + _document_path(document)}
                for document in accepted
            ],
            "refused": [{"name": item.filename, "reason": item.message} for item in refused],
            "general": general,
            "vault_url": settings.SITE_URL + reverse("vault:documents"),
            "intake_url": settings.SITE_URL + reverse("vault:intake"),
        },
    )


def _document_path(document: Document) -> str:
    return reverse("vault:document", kwargs={"pk": document.uuid})


def email_ingest(
    *, raw: bytes, recipient: str = "", meta: RequestMeta | None = None
) -> IngestResult:
    """Receive one raw email for an intake address (see the module docstring).

    ``recipient`` is the envelope recipient given by the mail server; without it the
    Delivered-To, X-Original-To, To and Cc headers are tried. Never raises for a bad
    message: problems are reported in the result (and to the customer); database
    errors propagate so that the mail server retries later.
    """
    if not raw:
        return IngestResult(status="empty")
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
        address = intake_address_resolve(recipient) if recipient else None
        if address is not None:
            _size_refusal_notify(address=address, size=len(raw), meta=meta)
        logger.warning("inbound email of %s bytes refused (limit)", len(raw))
        return IngestResult(status="too_large", customer=address.user if address else None)

    message = _parse(raw)
    address, envelope = _recipient(recipient, message)
    customer = address.user if address is not None else None
    inbound = inbound_email_store(raw=raw, envelope_to=envelope, customer=customer, meta=meta)
    if customer is None:
        return IngestResult(status="unknown_recipient", inbound=inbound)

    result = IngestResult(status="processed", inbound=inbound, customer=customer)
    result.unreadable = message is None
    with translation.override(recipient_language(customer=customer)):
        attachments = _attachments(message) if message is not None else []
        for attachment in attachments:
            if attachment.refusal is not None:
                error = attachment.refusal
                result.refused.append(Refusal(attachment.filename, error.code, str(error)))
                continue
            try:
                document = _store_attachment(owner=customer, attachment=attachment, meta=meta)
            except DomainError as error:
                result.refused.append(Refusal(attachment.filename, error.code, str(error)))
                continue
            except DatabaseError:
                raise  # the mail server retries the whole message later
            except Exception:
                logger.exception("attachment of inbound email %s not stored", inbound.pk)
                result.refused.append(
                    Refusal(
                        attachment.filename,
                        "vault.intake_error",
                        _("Une erreur technique a empêché son dépôt ; réessayez plus tard."),
                    )
                )
                continue
            result.accepted.append(document)

        general = ""
        if message is None:
            general = _("Le message est illisible : aucune pièce jointe n'a pu être lue.")
        elif not attachments:
            general = _("Le message ne comportait aucune pièce jointe.")
        with transaction.atomic():
            for document in result.accepted:
                DocumentOrigin.objects.create(
                    document=document,
                    source_app="email",
                    related_type="audit.inboundemail",
                    related_id=str(inbound.pk),
                    inbound_email=inbound,
                    sender=inbound.from_email[:320],
                )
            record(
                action="vault.intake_email_processed",
                subject=customer,
                target=inbound,
                data={
                    "inbound_email": inbound.pk,
                    "sha256": inbound.sha256,
                    "from": inbound.from_email,
                    "subject": inbound.subject,
                    "accepted": [
                        {"document": str(document.uuid), "name": document.original_name}
                        for document in result.accepted
                    ],
                    "refused": [
                        {"name": item.filename, "code": item.code} for item in result.refused
                    ],
                    "unreadable": result.unreadable,
                },
                meta=meta,
            )
            if not _is_automatic(message):
                _report_queue(
                    user=customer,
                    subject=inbound.subject,
                    accepted=result.accepted,
                    refused=result.refused,
                    general=general,
                    related=inbound,
                )
    return result
