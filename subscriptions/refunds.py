"""How much a withdrawal refunds (Code de la consommation L221-24 and L221-25).

L221-24: the trader refunds everything the consumer paid, within 14 days of being
told of the withdrawal.

L221-25: if the consumer expressly asked for the service to start before the end
of the withdrawal period, and then withdraws, they owe "un montant correspondant au
service fourni jusqu'à la communication de sa décision de se rétracter",
proportionate to the total price. Without that express request they owe nothing.

**Our rule (pro rata temporis of the paid period), decided in the customer's favour:**

- ``days_supplied`` = whole calendar days (Paris) from the first day of the paid
  period to the day of the declaration, that day excluded: a declaration on the
  day the service started costs nothing, one on day 13 costs 13 days. Clamped to
  ``0 .. days_in_period``.
- ``days_in_period`` = calendar days from the period start to its end (28 to 31
  for a month, 365 or 366 for a year: a yearly period containing 29 February has
  366 days).
- ``retained = floor(paid * days_supplied / days_in_period)``: what the customer
  owes, rounded down to the cent; ``refund = paid - retained``, never negative and
  never more than paid.

This is a pure function: it reads no clock, no setting and no database, so the
amount shown before "Confirmer la rétractation" is the amount refunded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

RULE_FULL = "full_refund_no_express_start"
RULE_PRO_RATA = "pro_rata_temporis_express_start"


@dataclass(frozen=True)
class WithdrawalRefund:
    """The result and every input of the computation (kept as evidence)."""

    paid_cents: int
    refund_cents: int
    retained_cents: int
    express_start: bool
    rule: str
    period_start: date
    period_end: date
    declared_on: date
    days_supplied: int
    days_in_period: int

    def as_data(self) -> dict:
        """Canonical JSON material for the evidence log (dates as ISO strings)."""
        data = asdict(self)
        for key in ("period_start", "period_end", "declared_on"):
            data[key] = data[key].isoformat()
        return data


def withdrawal_refund(
    *,
    paid_cents: int,
    express_start: bool,
    period_start: date,
    period_end: date,
    declared_on: date,
) -> WithdrawalRefund:
    """The refund owed for a withdrawal declared on ``declared_on`` (Paris day).

    ``paid_cents``: everything the customer paid for the contract; ``period_start``
    / ``period_end``: the paid period (Paris days, end excluded) that the service
    was supplied in.
    """
    if paid_cents < 0:
        raise ValueError("paid_cents is never negative")
    if period_end <= period_start:
        raise ValueError("the period must end after it starts")
    days_in_period = (period_end - period_start).days
    if not express_start:
        return WithdrawalRefund(
            paid_cents=paid_cents,
            refund_cents=paid_cents,
            retained_cents=0,
            express_start=False,
            rule=RULE_FULL,
            period_start=period_start,
            period_end=period_end,
            declared_on=declared_on,
            days_supplied=0,
            days_in_period=days_in_period,
        )
    days_supplied = min(max((declared_on - period_start).days, 0), days_in_period)
    retained = paid_cents * days_supplied // days_in_period
    refund = max(paid_cents - retained, 0)
    return WithdrawalRefund(
        paid_cents=paid_cents,
        refund_cents=refund,
        retained_cents=paid_cents - refund,
        express_start=True,
        rule=RULE_PRO_RATA,
        period_start=period_start,
        period_end=period_end,
        declared_on=declared_on,
        days_supplied=days_supplied,
        days_in_period=days_in_period,
    )
