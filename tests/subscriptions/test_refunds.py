"""Withdrawal refund amounts (L221-24, L221-25): the table of cases."""

from __future__ import annotations

from datetime import date

import pytest

from subscriptions.refunds import RULE_FULL, RULE_PRO_RATA, withdrawal_refund

M = 990  # 9,90 € per month
Y = 9900  # 99 € per year


# (case, paid, express_start, period_start, period_end, declared_on, refund, days_supplied, days)
CASES = [
    # Without an express start, everything is refunded, whatever the day.
    ("monthly, no express start, day 0", M, False, date(2026, 3, 10), date(2026, 4, 10),
     date(2026, 3, 10), M, 0, 31),
    ("monthly, no express start, day 13", M, False, date(2026, 3, 10), date(2026, 4, 10),
     date(2026, 3, 23), M, 0, 31),
    ("yearly, no express start, day 13", Y, False, date(2026, 3, 10), date(2027, 3, 10),
     date(2026, 3, 23), Y, 0, 365),
    # Express start, declared the day the service started: nothing supplied yet.
    ("monthly, express, day 0", M, True, date(2026, 3, 10), date(2026, 4, 10),
     date(2026, 3, 10), M, 0, 31),
    ("yearly, express, day 0", Y, True, date(2026, 3, 10), date(2027, 3, 10),
     date(2026, 3, 10), Y, 0, 365),
    # Months of 28, 29, 30 and 31 days, day 13: 990 - floor(990*13/d).
    ("monthly, 28-day February, day 13", M, True, date(2026, 2, 1), date(2026, 3, 1),
     date(2026, 2, 14), 990 - 459, 13, 28),  # 990*13/28 = 459.64 -> 459 owed
    ("monthly, 29-day February (leap), day 13", M, True, date(2028, 2, 1), date(2028, 3, 1),
     date(2028, 2, 14), 990 - 443, 13, 29),  # 443.79 -> 443
    ("monthly, 30-day April, day 13", M, True, date(2026, 4, 1), date(2026, 5, 1),
     date(2026, 4, 14), 990 - 429, 13, 30),  # 429.0 exactly
    ("monthly, 31-day January, day 13", M, True, date(2026, 1, 1), date(2026, 2, 1),
     date(2026, 1, 14), 990 - 415, 13, 31),  # 415.16 -> 415
    # A period starting on 31 January ends on 28 February: 28 days.
    ("monthly from 31 January, day 13", M, True, date(2026, 1, 31), date(2026, 2, 28),
     date(2026, 2, 13), 990 - 459, 13, 28),
    # A period starting on 29 February (leap year).
    ("monthly from 29 February 2028, day 13", M, True, date(2028, 2, 29), date(2028, 3, 29),
     date(2028, 3, 13), 990 - 443, 13, 29),  # 29 Feb -> 29 Mar: 29 days, 443.79 -> 443
    # Yearly periods: 365 days, or 366 when 29 February falls inside.
    ("yearly, no leap day inside, day 13", Y, True, date(2026, 3, 10), date(2027, 3, 10),
     date(2026, 3, 23), 9900 - 352, 13, 365),  # 9900*13/365 = 352.60 -> 352
    ("yearly spanning 29 February 2028, day 13", Y, True, date(2027, 6, 1), date(2028, 6, 1),
     date(2027, 6, 14), 9900 - 351, 13, 366),  # 351.63 -> 351
    ("yearly from 29 February 2028, day 13", Y, True, date(2028, 2, 29), date(2029, 2, 28),
     date(2028, 3, 13), 9900 - 352, 13, 365),
    # Never negative, never more than paid.
    ("declared after the period (clamped)", M, True, date(2026, 4, 1), date(2026, 5, 1),
     date(2026, 6, 1), 0, 30, 30),
    ("declared before the period (clamped)", M, True, date(2026, 4, 1), date(2026, 5, 1),
     date(2026, 3, 25), M, 0, 30),
    ("nothing paid", 0, True, date(2026, 4, 1), date(2026, 5, 1), date(2026, 4, 5), 0, 4, 30),
]  # fmt: skip


@pytest.mark.parametrize(
    ("paid", "express", "start", "end", "declared", "refund", "supplied", "days"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_withdrawal_refund_table(paid, express, start, end, declared, refund, supplied, days):
    result = withdrawal_refund(
        paid_cents=paid,
        express_start=express,
        period_start=start,
        period_end=end,
        declared_on=declared,
    )

    assert result.refund_cents == refund
    assert result.retained_cents == paid - refund
    assert 0 <= result.refund_cents <= paid
    assert result.days_in_period == days
    assert result.days_supplied == supplied
    assert result.rule == (RULE_PRO_RATA if express else RULE_FULL)


def test_rounding_favours_the_customer():
    """GIVEN a retained amount with a fraction of a cent WHEN computed THEN the customer
    owes the cent below (9,90 € * 1/31 = 31,9 cents: 31 owed, 959 refunded)."""
    result = withdrawal_refund(
        paid_cents=990,
        express_start=True,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 2, 1),
        declared_on=date(2026, 1, 2),
    )
    assert (result.retained_cents, result.refund_cents) == (31, 959)


def test_the_computation_is_kept_as_canonical_evidence():
    from audit.hashing import validate_json_value

    result = withdrawal_refund(
        paid_cents=9900,
        express_start=True,
        period_start=date(2027, 6, 1),
        period_end=date(2028, 6, 1),
        declared_on=date(2027, 6, 14),
    )
    data = result.as_data()
    validate_json_value(data)
    assert data["declared_on"] == "2027-06-14"
    assert data["refund_cents"] == 9549


@pytest.mark.parametrize(
    "kwargs",
    [
        {"paid_cents": -1},
        {"period_end": date(2026, 4, 1)},
    ],
)
def test_impossible_inputs_are_refused(kwargs):
    values = {
        "paid_cents": 990,
        "express_start": True,
        "period_start": date(2026, 4, 1),
        "period_end": date(2026, 5, 1),
        "declared_on": date(2026, 4, 2),
    } | kwargs
    with pytest.raises(ValueError):
        withdrawal_refund(**values)
