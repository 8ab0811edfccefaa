"""Expiry reminders: an email 90, 30 and 7 days before a document expires, once each.

The daily job (``vault.intake_tasks.expiry_reminders_send``, mynetspace/schedule.py;
``manage.py vault_send_reminders`` for operators) looks at every active document
whose ``expires_on`` is within 90 days and sends the reminder of the *current*
stage (:func:`reminder_stage`): 7 when 7 days or fewer are left, else 30 when 30 or
fewer, else 90. A stage is sent only if neither it nor a later one was sent for that
expiry date, so:

- running twice, or two runs at once, sends nothing more (the
  :class:`~vault.models.ExpiryReminder` row is unique per document, date and stage,
  and is created in the transaction that queues the email);
- a run that comes late, or a document first seen 20 days before its expiry, sends
  the 30-day reminder only, never the 90-day one afterwards;
- a new expiry date (the renewed document) starts a new series.

The email (template ``vault_expiry``) names the document and its date, links to the
document, to the free official procedure (service-public.fr, by type:
:data:`RENEWAL_URLS`) and to our procedures page ``/demarches/?renouveler=<type>``
for an assisted, paid request (pre-filled once the assistance app reads that
parameter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit.emails import email_queue
from audit.services import record
from mynetspace.core.context_processors import OFFICIAL_PORTAL_URL
from mynetspace.core.errors import DomainError

from .models import Document, DocumentType, ExpiryReminder

logger = logging.getLogger(__name__)

#: Days before the expiry date at which a reminder is sent, latest stage first.
STAGES = (7, 30, 90)
#: Documents handled per database batch.
BATCH = 500

#: The free official procedure to renew each kind of document (others: the portal).
RENEWAL_URLS = {
    DocumentType.ID_CARD: "https://www.service-public.fr/particuliers/vosdroits/N358",
    DocumentType.PASSPORT: "https://www.service-public.fr/particuliers/vosdroits/N360",
    DocumentType.DRIVING_LICENCE: "https://www.service-public.fr/particuliers/vosdroits/N530",
    DocumentType.VEHICLE_REGISTRATION: "https://www.service-public.fr/particuliers/vosdroits/N367",
    DocumentType.RESIDENCE_PERMIT: "https://administration-etrangers-en-france.interieur.gouv.fr/",
}
#: Our procedures page, with the type to renew (read by the assistance app).
PROCEDURES_PATH = "/demarches/"


def reminder_stage(days_left: int) -> int | None:
    """The stage due ``days_left`` days before expiry, or None (too early, or expired)."""
    if days_left < 0:
        return None
    for stage in STAGES:
        if days_left <= stage:
            return stage
    return None


def renewal_url(doc_type: str) -> str:
    return RENEWAL_URLS.get(doc_type, OFFICIAL_PORTAL_URL)


def procedure_url(doc_type: str) -> str:
    return f"{settings.SITE_URL}{PROCEDURES_PATH}?{urlencode({'renouveler': doc_type})}"


def _candidates(today: date):
    return (
        Document.objects.active()
        .filter(
            expires_on__gte=today,
            expires_on__lte=today + timedelta(days=max(STAGES)),
            owner__is_active=True,
        )
        .exclude(owner__email="")
        .select_related("owner")
        .order_by("pk")
    )


@dataclass
class ReminderRun:
    sent: int = 0
    skipped: int = 0


def expiry_reminders_send(*, today: date | None = None) -> ReminderRun:
    """Send every reminder due today (idempotent; see the module docstring)."""
    today = today or timezone.localdate()
    run = ReminderRun()
    last_pk = 0
    while True:
        batch = list(_candidates(today).filter(pk__gt=last_pk)[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        sent_stages: dict[int, set[int]] = {}
        rows = ExpiryReminder.objects.filter(document__in=batch).values_list(
            "document_id", "expires_on", "days_before"
        )
        expiry_by_document = {document.pk: document.expires_on for document in batch}
        for document_id, expires_on, days_before in rows:
            if expiry_by_document.get(document_id) == expires_on:
                sent_stages.setdefault(document_id, set()).add(days_before)
        for document in batch:
            stage = reminder_stage((document.expires_on - today).days)
            already = sent_stages.get(document.pk, set())
            if stage is None or any(sent <= stage for sent in already):
                run.skipped += 1
                continue
            if expiry_reminder_send(document=document, stage=stage, today=today):
                run.sent += 1
            else:
                run.skipped += 1
    if run.sent:
        logger.info("Expiry reminders: %s sent", run.sent)
    return run


def expiry_reminder_send(*, document: Document, stage: int, today: date) -> ExpiryReminder | None:
    """Record and queue one reminder; None if it was sent already (by a concurrent run)."""
    try:
        with transaction.atomic():
            locked = (
                Document.objects.select_for_update()
                .select_related("owner")
                .filter(pk=document.pk, trashed_at__isnull=True, destroyed_at__isnull=True)
                .first()
            )
            if locked is None or locked.expires_on != document.expires_on:
                return None
            if ExpiryReminder.objects.filter(
                document=locked, expires_on=locked.expires_on, days_before__lte=stage
            ).exists():
                return None
            reminder = ExpiryReminder.objects.create(
                document=locked, expires_on=locked.expires_on, days_before=stage
            )
            owner = locked.owner
            days_left = (locked.expires_on - today).days
            email = email_queue(
                template="vault_expiry",
                to=[owner.email],
                customer=owner,
                related=locked,
                context={
                    "title": locked.title,
                    "doc_type": locked.get_doc_type_display(),
                    "expires_on": locked.expires_on,
                    "days_left": days_left,
                    "document_url": settings.SITE_URL
                    + reverse("vault:document", kwargs={"pk": locked.uuid}),
                    "renewal_url": renewal_url(locked.doc_type),
                    "procedure_url": procedure_url(locked.doc_type),
                },
            )
            reminder.email = email
            reminder.save(update_fields=["email"])
            record(
                action="vault.expiry_reminder_sent",
                subject=owner,
                target=locked,
                data={
                    "document": str(locked.uuid),
                    "title": locked.title,
                    "expires_on": locked.expires_on.isoformat(),
                    "days_before": stage,
                    "days_left": days_left,
                    "email": email.pk,
                },
            )
    except IntegrityError:
        # A concurrent run created the same reminder first.
        return None
    except DomainError as error:
        # An address the mail service refuses: nothing recorded, tried again tomorrow.
        logger.warning("Expiry reminder of document %s not queued: %s", document.pk, error.code)
        return None
    return reminder
