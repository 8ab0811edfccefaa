"""What the subscription emails say: their contexts and attachments.

The services (``services.py``) decide when an email goes and store it through
``audit.emails.email_queue``; this module only gathers what the templates
(``templates/emails/<name>/``) print. Contexts hold plain values (dates, formatted
amounts, absolute links), so a stored email reads the same whatever changes later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from types import SimpleNamespace

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from . import deadlines, ordering
from .models import Plan, Subscription
from .money import format_eur, format_rate

TERMS_KIND = "cgv"
WITHDRAWAL_FORM_KIND = "formulaire-retractation"
PDF = "application/pdf"


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def links() -> dict[str, str]:
    """The pages a subscription email points to, as absolute addresses."""
    return {
        "subscription_url": _absolute("/abonnement/"),
        "cancel_url": _absolute("/resilier/"),
        "withdrawal_url": _absolute("/retractation/"),
        "withdrawal_form_url": _absolute("/formulaire-retractation/"),
        "satisfaction_url": _absolute("/satisfait-ou-rembourse/"),
        "terms_url": _absolute("/cgv/"),
    }


def _plan_values(plan: Plan) -> dict:
    return {
        "plan_name": plan.name,
        "price": format_eur(plan.price_ttc_cents),
        "vat_rate": format_rate(plan.vat_rate_bp),
        "is_yearly": plan.interval == Plan.Interval.YEAR,
    }


def _local_day(moment: datetime | None):
    return deadlines.local_date(moment) if moment else None


# --- Contract confirmation (L221-13) ---------------------------------------------------


@dataclass(frozen=True)
class ConfirmationPack:
    """The confirmation email's context and attachments, with the versions they carry."""

    context: dict
    attachments: list[tuple[str, bytes, str]]
    language: str
    terms_version: int | None
    terms_sha256: str
    withdrawal_form_version: int | None


def _terms_for(subscription: Subscription):
    """The terms version the customer accepted (else the French version in force)."""
    if subscription.terms_version_id is not None:
        return subscription.terms_version
    from audit.models import ContentVersion

    return (
        ContentVersion.objects.filter(key=f"legal:{TERMS_KIND}", language="fr")
        .order_by("-version")
        .first()
    )


def _withdrawal_form_for(language: str):
    """The withdrawal form in force, else the repository text (the law asks for one)."""
    from guides import selectors as guide_selectors
    from guides.legal_sources import load_source

    published = guide_selectors.legal_version_current(kind=WITHDRAWAL_FORM_KIND, language=language)
    if published is not None:
        return published
    text = load_source(WITHDRAWAL_FORM_KIND).texts.get(language) or load_source(
        WITHDRAWAL_FORM_KIND
    ).texts.get("fr")
    return SimpleNamespace(
        language=language,
        title=text.title,
        version=None,
        sha256=hashlib.sha256(text.body.encode()).hexdigest(),
        published_at=None,
        body=text.body,
    )


def withdrawal_last_day(subscription: Subscription):
    """The last Paris day on which the customer may withdraw (inclusive)."""
    if subscription.concluded_at is None:
        return None
    return deadlines.withdrawal_last_day(deadlines.local_date(subscription.concluded_at))


def confirmation_pack(subscription: Subscription) -> ConfirmationPack:
    """Context and PDF attachments of the confirmation of a concluded subscription."""
    from .pdf import legal_text_pdf
    from .services import company_snapshot
    from .vault_hook import service_documents_supported

    terms = _terms_for(subscription)
    language = (terms.language if terms is not None else "") or settings.LANGUAGE_CODE
    form = _withdrawal_form_for(language)
    company = company_snapshot()
    attachments: list[tuple[str, bytes, str]] = []
    if terms is not None:
        attachments.append(
            (
                f"CGV-MyNetSpace-version-{terms.version}.pdf",
                legal_text_pdf(terms, company=company),
                PDF,
            )
        )
    attachments.append(
        ("formulaire-de-retractation.pdf", legal_text_pdf(form, company=company), PDF)
    )
    plan = subscription.plan
    context = {
        **_plan_values(plan),
        **links(),
        "first_name": subscription.customer.first_name,
        "reference": subscription.reference,
        "concluded_on": _local_day(subscription.concluded_at),
        "starts_on": _local_day(subscription.service_starts_at),
        "period_end_on": _local_day(subscription.current_period_end),
        "express_start": subscription.express_start,
        "express_start_wording": subscription.express_start_wording,
        "withdrawal_last_day": withdrawal_last_day(subscription),
        "terms_version": terms.version if terms is not None else None,
        "terms_published_on": _local_day(terms.published_at) if terms is not None else None,
        "attachment_names": [name for name, _content, _type in attachments],
        "deposited_in_vault": service_documents_supported(),
    }
    return ConfirmationPack(
        context=context,
        attachments=attachments,
        language=language,
        terms_version=terms.version if terms is not None else None,
        terms_sha256=terms.sha256 if terms is not None else "",
        withdrawal_form_version=form.version,
    )


def stored_attachments(email) -> list[tuple[str, bytes, str, str]]:
    """``(filename, bytes, title, doc_type)`` of the PDFs attached to a stored email."""
    message = message_from_bytes(bytes(email.raw), policy=policy.default)
    found = []
    for part in message.iter_attachments():
        filename = part.get_filename() or ""
        if part.get_content_type() != PDF or not filename:
            continue
        if filename.startswith("CGV"):
            title, doc_type = _("Conditions générales de vente acceptées"), "contract"
        else:
            title, doc_type = _("Formulaire de rétractation"), "contract"
        found.append((filename, part.get_content(), title, doc_type))
    return found


# --- Renewal notice (L215-1) -----------------------------------------------------------


def renewal_notice_context(subscription: Subscription) -> dict:
    renewal_on = _local_day(subscription.current_period_end)
    return {
        **_plan_values(subscription.plan),
        **links(),
        "first_name": subscription.customer.first_name,
        "reference": subscription.reference,
        "renewal_on": renewal_on,
        "last_day_to_cancel": renewal_on - timedelta(days=1) if renewal_on else None,
        "next_period_end_on": deadlines.add_months(renewal_on, 12) if renewal_on else None,
    }


# --- Payment failure --------------------------------------------------------------------


def payment_failed_context(
    subscription: Subscription, *, reminder: int, first_sent_at: datetime | None = None
) -> dict:
    """``reminder``: 0 for the first email, then the reminder's number."""
    first_sent_at = first_sent_at or timezone.now()
    return {
        **_plan_values(subscription.plan),
        **links(),
        "first_name": subscription.customer.first_name,
        "reference": subscription.reference,
        "reminder": reminder,
        "is_last_reminder": reminder == len(ordering.PAYMENT_REMINDER_DAYS),
        "first_sent_on": _local_day(first_sent_at),
        "suspension_on": _local_day(first_sent_at + timedelta(days=15)),
    }
