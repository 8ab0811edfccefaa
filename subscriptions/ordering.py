"""The words of the order page that the law makes evidence, kept in one place.

The express-start request (L221-25) is recorded with the exact sentence the
customer saw and a version string: the page shows :data:`EXPRESS_START_WORDING`,
the order stores the same text (in the language it was shown in) and
:data:`EXPRESS_START_VERSION`. Change the sentence only together with the version.

:data:`PRECONTRACT_VERSION` names the pre-contract information block of the order
page (``subscriptions/order.html``, L221-5); it is recorded with each order, so the
information a customer was given can be traced to the template of that version.

Renewal notices (L215-1) and payment-failure reminders follow the calendar below.
"""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext_lazy as _

from .deadlines import add_months

EXPRESS_START_VERSION = "express-start-2026-11"
EXPRESS_START_WORDING = _(
    "Je demande expressément que le service commence dès la réception de mon paiement, "
    "avant la fin du délai de rétractation de quatorze jours. Je reconnais que je perdrai "
    "mon droit de rétractation une fois le service pleinement exécuté, et que si je me "
    "rétracte avant, je devrai payer un montant proportionnel au service fourni jusqu'à "
    "ma rétractation."
)

PRECONTRACT_VERSION = "precontract-2026-11"

#: The sentence next to the terms box; ``%(version)s`` is the CGV version shown.
TERMS_WORDING = _(
    "J'ai lu et j'accepte les conditions générales de vente (version %(version)s), "
    "qui s'appliquent à ma commande."
)

# --- Renewal notice (L215-1) -----------------------------------------------------------

#: The notice is sent this many months before the renewal deadline...
RENEWAL_NOTICE_TARGET_MONTHS = 2
#: ...never earlier than this (the law: no earlier than three months)...
RENEWAL_NOTICE_EARLIEST_MONTHS = 3
#: ...and, when the daily job missed that day, still until this (no later than one month).
RENEWAL_NOTICE_LATEST_MONTHS = 1


def renewal_notice_window(deadline: date) -> tuple[date, date, date]:
    """``(earliest, target, latest)`` Paris days on which a notice may go, inclusive.

    ``deadline`` is the day of renewal (the last day of the paid year). The job
    sends on ``target`` (two months before) and catches up on any later day up to
    ``latest`` (one month before); never before ``earliest`` (three months before).
    Month arithmetic clamps to the month's length: for a deadline on 31 May the
    target is 31 March and the latest day 30 April; for 29 February, 29 December
    and 29 January.
    """
    return (
        add_months(deadline, -RENEWAL_NOTICE_EARLIEST_MONTHS),
        add_months(deadline, -RENEWAL_NOTICE_TARGET_MONTHS),
        add_months(deadline, -RENEWAL_NOTICE_LATEST_MONTHS),
    )


def renewal_notice_due(deadline: date, today: date) -> bool:
    """Whether a notice not yet sent for ``deadline`` goes out on ``today``."""
    _earliest, target, latest = renewal_notice_window(deadline)
    return target <= today <= latest


# --- Payment failure -------------------------------------------------------------------

#: Days after the first payment-failure email at which a reminder goes, while the
#: subscription is still past due (CGV article 6: access to assistance may be
#: suspended fifteen days after the first email).
PAYMENT_REMINDER_DAYS: tuple[int, ...] = (3, 7)
