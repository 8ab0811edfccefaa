"""Classification suggestions: what kind of document this is, and when it expires.

Only with the customer's consent (``Consent.Purpose.CLASSIFICATION``, the newest
answer decides). The rules are in vault/rules.py, text extraction in
vault/extraction.py; this module holds the services:

- :func:`document_classify` (the task's body): once the scan said ``clean`` (or
  ``unscanned`` where no scanner is configured: the documents the service serves),
  reads the name and the text, stores a suggestion on the document
  (``suggested_doc_type``, ``suggestion_confidence``, ``suggested_expires_on``,
  ``suggested_tag``, ``suggestion_reason``, ``suggested_at``) and records
  ``vault.classification_suggested``. Never on a pending, infected, rejected,
  trashed or destroyed document. A document is classified once (``suggested_at``
  set, even when nothing was recognised), so the sweeper does not loop;
- :func:`suggestion_confirm` / :func:`suggestion_dismiss`: the customer accepts,
  corrects or ignores the suggestion (``vault.classification_confirmed`` /
  ``vault.classification_dismissed``);
- :func:`classification_rule_create` / :func:`classification_rule_delete`: the
  customer's own rules;
- :func:`classification_consent_set`: grants or withdraws the consent. Withdrawing
  clears every suggestion not yet confirmed (:func:`suggestions_clear`) in the same
  transaction; the task checks the consent again before it reads anything, so a
  document already queued is not classified after a withdrawal.

How a document gets classified: :func:`classification_enqueue` (called when a scan
says clean) enqueues the task on commit; the pending-work sweeper
(``vault.classification``, registered in ``VaultConfig.ready``) picks up any eligible
document left unclassified, e.g. when the consent is granted after the upload.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Consent
from accounts.selectors import current_consent
from audit.context import RequestMeta
from audit.services import record
from mynetspace.core.errors import DomainError, InvalidState
from mynetspace.core.tasks import enqueue_on_commit

from . import extraction, rules
from .models import ClassificationRule, Document, DocumentType, ScanStatus, Tag

logger = logging.getLogger(__name__)

#: Scan statuses whose documents may be read for classification.
CLASSIFIABLE_STATUSES = (ScanStatus.CLEAN, ScanStatus.UNSCANNED)
#: Most rules one customer may keep.
MAX_RULES = 50
PATTERN_MIN, PATTERN_MAX = 2, 100
TAG_MAX = 50

CONSENT_WORDING = gettext_lazy(
    "J'accepte que MyNetSpace lise le nom et le contenu de mes documents, sur ses "
    "serveurs, pour me suggérer leur type et leur date d'expiration. Je peux retirer "
    "ce consentement à tout moment."
)
WITHDRAWAL_WORDING = gettext_lazy(
    "Je retire mon consentement au classement automatique de mes documents."
)


# --- Consent -------------------------------------------------------------------------------


def classification_allowed(user) -> bool:
    """Whether the newest answer of ``user`` about classification grants it (one query)."""
    consent = current_consent(user, Consent.Purpose.CLASSIFICATION)
    return consent is not None and consent.granted


def classification_consent_set(
    *, user, granted: bool, wording: str | None = None, meta: RequestMeta | None = None
) -> Consent:
    """Record the customer's answer about classification; a withdrawal clears suggestions.

    ``wording`` is the sentence shown (the standard one by default). Withdrawing
    stops any further classification (the task checks the consent first) and clears
    the suggestions not confirmed yet: what was read from the documents is no longer
    kept. Confirmed types and dates are the customer's own data and stay.
    """
    from accounts.services import consent_record

    if wording is None:
        wording = str(CONSENT_WORDING if granted else WITHDRAWAL_WORDING)
    with transaction.atomic():
        consent = consent_record(
            user=user,
            purpose=Consent.Purpose.CLASSIFICATION,
            granted=granted,
            wording=wording,
            meta=meta,
        )
        if not granted:
            suggestions_clear(user=user, meta=meta)
    return consent


def suggestions_clear(*, user, meta: RequestMeta | None = None) -> int:
    """Erase the unconfirmed suggestions of ``user``'s documents; returns how many.

    Called by :func:`classification_consent_set` on a withdrawal; a withdrawal recorded
    another way (``accounts.services.consent_record`` directly) is caught up by the
    pending-work sweeper (``vault.classification_withdrawn``) within minutes.
    """
    with transaction.atomic():
        ids = list(
            Document.objects.select_for_update()
            .filter(
                owner=user, suggested_at__isnull=False, classification_confirmed_at__isnull=True
            )
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Document.objects.filter(pk__in=ids).update(
            suggested_doc_type="",
            suggested_expires_on=None,
            suggestion_confidence=None,
            suggested_tag="",
            suggestion_reason="",
            suggested_at=None,
            updated_at=timezone.now(),
        )
        record(
            action="vault.classification_suggestions_cleared",
            subject=user,
            data={"count": len(ids)},
            meta=meta,
        )
    return len(ids)


# --- Classifying a document ------------------------------------------------------------------


def is_classifiable(document: Document) -> bool:
    return (
        document.destroyed_at is None
        and document.trashed_at is None
        and document.scan_status in CLASSIFIABLE_STATUSES
    )


def classification_enqueue(document: Document) -> None:
    """Enqueue the classification of ``document`` once the current transaction commits.

    Call it where a scan turns a document ``clean`` (or a document is stored
    ``unscanned``). Cheap: the consent and the state are checked by the task.
    """
    from .intake_tasks import document_classify_task

    enqueue_on_commit(document_classify_task, document.pk)


def customer_rules_for(user) -> list[rules.CustomerRule]:
    return [
        rules.CustomerRule(pk=rule.pk, pattern=rule.pattern, doc_type=rule.doc_type, tag=rule.tag)
        for rule in ClassificationRule.objects.filter(owner=user)
    ]


def document_text(document: Document) -> extraction.Extraction:
    """The text of ``document`` (decrypted in memory, bounded; see vault/extraction.py)."""
    from .blobs import blob_open

    if document.size > extraction.MAX_BYTES:
        return extraction.NOTHING
    kinds = extraction.OCR_IMAGE_TYPES | extraction.TEXT_TYPES | {extraction.PDF}
    if document.content_type not in kinds:
        return extraction.NOTHING
    with blob_open(document=document) as stream:
        content = extraction.read_bounded(stream)
    if content is None:
        return extraction.NOTHING
    return extraction.extract_text(content=content, content_type=document.content_type)


def document_classify(*, document_id: int, force: bool = False) -> Document | None:
    """Suggest a type and an expiry date for one document (the task's body; idempotent).

    Does nothing without the owner's consent, for a document that is not
    classifiable (see :data:`CLASSIFIABLE_STATUSES`), already classified (unless
    ``force``) or already confirmed by the customer. The reading happens outside any
    transaction; the result is written under a row lock if the document did not
    change state meanwhile.
    """
    document = Document.objects.select_related("owner").filter(pk=document_id).first()
    if document is None or not is_classifiable(document):
        return document
    if document.classification_confirmed_at is not None:
        return document
    if document.suggested_at is not None and not force:
        return document
    if not classification_allowed(document.owner):
        return document
    try:
        text = document_text(document)
    except Exception as exc:
        # A damaged blob, a destroyed key...: classify on the name alone.
        logger.warning(
            "classification of document %s: content unreadable (%s: %s)",
            document.pk,
            type(exc).__name__,
            exc,
        )
        text = extraction.NOTHING
    guess = rules.classify(
        filename=document.original_name,
        title=document.title if document.title != document.original_name else "",
        text=text.text,
        text_method=text.method,
        customer_rules=customer_rules_for(document.owner),
    )
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document_id)
        if not is_classifiable(document) or document.classification_confirmed_at is not None:
            return document
        if document.suggested_at is not None and not force:
            return document
        # Consent withdrawn while the text was being read: keep nothing.
        if not classification_allowed(document.owner):
            return document
        guess = guess or rules.Guess()
        document.suggested_doc_type = guess.doc_type
        document.suggestion_confidence = guess.confidence if guess.doc_type else None
        document.suggested_expires_on = guess.expires_on
        document.suggested_tag = guess.tag[:TAG_MAX]
        document.suggestion_reason = guess.reason_text
        document.suggested_at = timezone.now()
        document.save(
            update_fields=[
                "suggested_doc_type",
                "suggestion_confidence",
                "suggested_expires_on",
                "suggested_tag",
                "suggestion_reason",
                "suggested_at",
                "updated_at",
            ]
        )
        record(
            action="vault.classification_suggested",
            subject=document.owner,
            target=document,
            data={
                "document": str(document.uuid),
                "doc_type": guess.doc_type,
                "confidence": guess.confidence,
                "expires_on": guess.expires_on.isoformat() if guess.expires_on else "",
                "tag": guess.tag,
                "reasons": list(guess.reasons),
                "read": text.method,
            },
        )
    return document


def pending_classification_ids(older_than: datetime, limit: int) -> list[int]:
    """Documents waiting for a classification their owner consented to (for the sweeper)."""
    return list(
        Document.objects.filter(
            scan_status__in=CLASSIFIABLE_STATUSES,
            destroyed_at__isnull=True,
            trashed_at__isnull=True,
            suggested_at__isnull=True,
            classification_confirmed_at__isnull=True,
            updated_at__lt=older_than,
        )
        .annotate(consented=Subquery(_latest_answer()))
        .filter(consented=True)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def _latest_answer():
    return (
        Consent.objects.filter(user=OuterRef("owner"), purpose=Consent.Purpose.CLASSIFICATION)
        .order_by("-created_at", "-pk")
        .values("granted")[:1]
    )


def orphan_suggestion_ids(older_than: datetime, limit: int) -> list[int]:
    """Documents still carrying an unconfirmed suggestion although the owner's consent
    is withdrawn (recorded elsewhere than :func:`classification_consent_set`)."""
    return list(
        Document.objects.filter(
            suggested_at__isnull=False,
            classification_confirmed_at__isnull=True,
            updated_at__lt=older_than,
        )
        .annotate(consented=Subquery(_latest_answer()))
        .exclude(consented=True)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def orphan_suggestions_clear(*, document_id: int) -> int:
    """Clear the owner's suggestions if their consent is withdrawn (the sweeper's task)."""
    document = Document.objects.select_related("owner").filter(pk=document_id).first()
    if document is None or classification_allowed(document.owner):
        return 0
    return suggestions_clear(user=document.owner)


def pending_classification_enqueued(ids: list[int]) -> None:
    """Leave swept documents to the worker for one grace period."""
    Document.objects.filter(pk__in=ids, suggested_at__isnull=True).update(updated_at=timezone.now())


# --- The customer's answer ----------------------------------------------------------------


def has_pending_suggestion(document: Document) -> bool:
    """Whether the document carries a suggestion that would change something."""
    if document.suggested_at is None or document.classification_confirmed_at is not None:
        return False
    new_type = bool(document.suggested_doc_type) and (
        document.suggested_doc_type != document.doc_type
    )
    new_date = document.suggested_expires_on is not None and (
        document.suggested_expires_on != document.expires_on
    )
    new_tag = bool(document.suggested_tag) and not any(
        tag.name.casefold() == document.suggested_tag.casefold() for tag in document.tags.all()
    )
    return new_type or new_date or new_tag


def _locked_own_document(document: Document, acting_user) -> Document:
    locked = Document.objects.select_for_update().get(pk=document.pk)
    if locked.owner_id != acting_user.pk or locked.is_destroyed or locked.is_trashed:
        raise InvalidState(_("Ce document n'est plus disponible."), "vault.document_unavailable")
    return locked


def suggestion_confirm(
    *,
    document: Document,
    acting_user,
    doc_type: str,
    expires_on: date | None,
    add_tag: bool = True,
    meta: RequestMeta | None = None,
) -> Document:
    """The customer sets the type and expiry date, from the suggestion or corrected.

    ``doc_type`` and ``expires_on`` are what the customer chose (the suggestion
    pre-fills the form); ``corrected`` in the event says whether they differ from it.
    The suggested tag (from one of the customer's rules) is added when ``add_tag``.
    """
    if doc_type not in DocumentType.values:
        raise DomainError(_("Choisissez un type de document."), "vault.classification_bad_type")
    with transaction.atomic():
        locked = _locked_own_document(document, acting_user)
        if (
            locked.issued_on is not None
            and expires_on is not None
            and expires_on < locked.issued_on
        ):
            raise DomainError(
                _("La date d'expiration ne peut pas précéder la date de délivrance."),
                "vault.expiry_before_issue",
            )
        corrected = (bool(locked.suggested_doc_type) and doc_type != locked.suggested_doc_type) or (
            locked.suggested_expires_on is not None and expires_on != locked.suggested_expires_on
        )
        previous = {
            "doc_type": locked.doc_type,
            "expires_on": locked.expires_on.isoformat() if locked.expires_on else "",
        }
        locked.doc_type = doc_type
        locked.expires_on = expires_on
        locked.classification_confirmed_at = timezone.now()
        locked.save(
            update_fields=["doc_type", "expires_on", "classification_confirmed_at", "updated_at"]
        )
        tag_added = ""
        if add_tag and locked.suggested_tag:
            tag = Tag.objects.filter(owner=locked.owner, name__iexact=locked.suggested_tag).first()
            if tag is None:
                tag = Tag.objects.create(owner=locked.owner, name=locked.suggested_tag)
            locked.tags.add(tag)
            tag_added = tag.name
        record(
            action="vault.classification_confirmed",
            subject=locked.owner,
            actor=acting_user,
            target=locked,
            data={
                "document": str(locked.uuid),
                "doc_type": doc_type,
                "expires_on": expires_on.isoformat() if expires_on else "",
                "suggested_doc_type": locked.suggested_doc_type,
                "suggested_expires_on": (
                    locked.suggested_expires_on.isoformat() if locked.suggested_expires_on else ""
                ),
                "previous": previous,
                "corrected": bool(corrected),
                "tag": tag_added,
            },
            meta=meta,
        )
    return locked


def suggestion_dismiss(
    *, document: Document, acting_user, meta: RequestMeta | None = None
) -> Document:
    """The customer ignores the suggestion: nothing changes, it is no longer offered."""
    with transaction.atomic():
        locked = _locked_own_document(document, acting_user)
        if locked.suggested_at is None or locked.classification_confirmed_at is not None:
            return locked
        locked.classification_confirmed_at = timezone.now()
        locked.save(update_fields=["classification_confirmed_at", "updated_at"])
        record(
            action="vault.classification_dismissed",
            subject=locked.owner,
            actor=acting_user,
            target=locked,
            data={
                "document": str(locked.uuid),
                "suggested_doc_type": locked.suggested_doc_type,
                "doc_type": locked.doc_type,
            },
            meta=meta,
        )
    return locked


# --- The customer's rules --------------------------------------------------------------------


def classification_rule_create(
    *,
    owner,
    pattern: str,
    doc_type: str,
    tag: str = "",
    meta: RequestMeta | None = None,
) -> ClassificationRule:
    """Add a rule: documents whose name or text contains ``pattern`` get ``doc_type``.

    ``pattern`` is plain words (at least two letters or digits once accents and
    punctuation are set aside); it is never interpreted as a regular expression.
    """
    pattern = " ".join((pattern or "").split())
    tag = " ".join((tag or "").split())
    if len(rules.normalize(pattern)) < PATTERN_MIN or len(pattern) > PATTERN_MAX:
        raise DomainError(
            _("Indiquez de %(min)s à %(max)s caractères (lettres ou chiffres).")
            % {"min": PATTERN_MIN, "max": PATTERN_MAX},
            "vault.rule_pattern_invalid",
        )
    if any(not ch.isprintable() for ch in pattern + tag):
        raise DomainError(
            _("Ces mots contiennent des caractères non autorisés."), "vault.rule_pattern_invalid"
        )
    if doc_type not in DocumentType.values:
        raise DomainError(_("Choisissez un type de document."), "vault.classification_bad_type")
    if len(tag) > TAG_MAX:
        raise DomainError(
            _("L'étiquette ne peut dépasser %(max)s caractères.") % {"max": TAG_MAX},
            "vault.rule_tag_invalid",
        )
    with transaction.atomic():
        existing = ClassificationRule.objects.select_for_update().filter(owner=owner)
        normalized = rules.normalize(pattern)
        if any(rules.normalize(rule.pattern) == normalized for rule in existing):
            raise DomainError(_("Vous avez déjà une règle pour ces mots."), "vault.rule_duplicate")
        if len(existing) >= MAX_RULES:
            raise DomainError(
                _("Vous avez atteint le nombre maximal de règles (%(max)s).") % {"max": MAX_RULES},
                "vault.rule_limit",
            )
        rule = ClassificationRule.objects.create(
            owner=owner, pattern=pattern, doc_type=doc_type, tag=tag
        )
        record(
            action="vault.classification_rule_created",
            subject=owner,
            actor=owner,
            target=rule,
            data={"pattern": pattern, "doc_type": doc_type, "tag": tag},
            meta=meta,
        )
    return rule


def classification_rule_delete(
    *, rule: ClassificationRule, acting_user, meta: RequestMeta | None = None
) -> None:
    """Remove one of the customer's rules (suggestions already made stay)."""
    with transaction.atomic():
        locked = (
            ClassificationRule.objects.select_for_update()
            .filter(pk=rule.pk, owner=acting_user)
            .first()
        )
        if locked is None:
            raise InvalidState(_("Cette règle n'existe plus."), "vault.rule_missing")
        data = {"pattern": locked.pattern, "doc_type": locked.doc_type, "tag": locked.tag}
        record(
            action="vault.classification_rule_deleted",
            subject=acting_user,
            actor=acting_user,
            target=locked,
            data=data,
            meta=meta,
        )
        locked.delete()


# --- Reading a suggestion's reasons -----------------------------------------------------------


def reason_lines(reason: str) -> list[str]:
    """The stored reasons (``name:…;text:…;mrz;rule:…;read:ocr``) as sentences to show."""
    name_words: list[str] = []
    text_words: list[str] = []
    lines: list[str] = []
    method = ""
    for item in (reason or "").split(";"):
        kind, _sep, value = item.partition(":")
        if kind == "name" and value:
            name_words.append(value)
        elif kind == "text" and value:
            text_words.append(value)
        elif kind == "rule" and value:
            lines.append(_("Votre règle « %(words)s »") % {"words": value})
        elif kind == "mrz":
            lines.append(_("La bande de lecture automatique (lignes de chevrons)"))
        elif kind == "read":
            method = value
    if name_words:
        lines.insert(0, _("Dans le nom du fichier : %(words)s") % {"words": ", ".join(name_words)})
    if text_words:
        where = (
            _("Dans le texte lu sur l'image (reconnaissance de caractères) : %(words)s")
            if method == "ocr"
            else _("Dans le texte du document : %(words)s")
        )
        lines.append(where % {"words": ", ".join(text_words)})
    return lines


def confidence_label(confidence: int | None) -> str:
    if confidence is None:
        return ""
    if confidence >= 80:
        return _("élevée")
    if confidence >= 60:
        return _("moyenne")
    return _("faible")
