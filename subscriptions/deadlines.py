"""Dates of the contract: billing periods and the withdrawal deadline.

All calendar reasoning happens in Paris time (``settings.TIME_ZONE``): a customer's
"day" is the French calendar day, whatever the server's clock.

**Withdrawal deadline** (Code de la consommation L221-18 and L221-19, which apply
Regulation (EEC, Euratom) No 1182/71): for a service, 14 days from the day the
contract is concluded (for us, when the first payment is received: CGV article 4).

- the day of conclusion is not counted: concluded on day D, the last day is D + 14;
- the period ends at the expiry of the last hour of the last day (midnight, Paris);
- if the last day is a Saturday, a Sunday or a public holiday, the period is
  extended to the end of the next working day (L221-19 3°).

Public holidays: the eleven national ones (Code du travail L3133-1), plus Good
Friday and 26 December, which are public holidays in Alsace and Moselle. We extend
for those two everywhere: an extension only ever favours the customer, and we do
not want the deadline to depend on where they live. (Overseas departments have a
few more days, for the abolition of slavery; they are not included yet:
docs/legal.md.)
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

WITHDRAWAL_DAYS = 14


def paris() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_date(moment: datetime) -> date:
    """The Paris calendar day of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(paris()).date()


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day``, Paris time, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=paris())


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, "Meeus/Jones/Butcher")."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def public_holidays(year: int) -> frozenset[date]:
    easter = easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),  # Jour de l'an
            easter - timedelta(days=2),  # Vendredi saint (Alsace-Moselle)
            easter + timedelta(days=1),  # Lundi de Pâques
            date(year, 5, 1),  # Fête du travail
            date(year, 5, 8),  # Victoire 1945
            easter + timedelta(days=39),  # Ascension
            easter + timedelta(days=50),  # Lundi de Pentecôte
            date(year, 7, 14),  # Fête nationale
            date(year, 8, 15),  # Assomption
            date(year, 11, 1),  # Toussaint
            date(year, 11, 11),  # Armistice
            date(year, 12, 25),  # Noël
            date(year, 12, 26),  # Saint-Étienne (Alsace-Moselle)
        }
    )


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def withdrawal_last_day(concluded_on: date) -> date:
    """The last day (inclusive) on which the customer may declare their withdrawal."""
    last = concluded_on + timedelta(days=WITHDRAWAL_DAYS)
    while not is_working_day(last):
        last += timedelta(days=1)
    return last


def withdrawal_deadline(concluded_at: datetime) -> datetime:
    """The instant the withdrawal period closes (excluded), Paris midnight.

    A declaration made at ``t`` is in time when ``t < withdrawal_deadline(...)``.
    """
    return start_of_day(withdrawal_last_day(local_date(concluded_at)) + timedelta(days=1))


def add_months(day: date, months: int, *, anchor_day: int | None = None) -> date:
    """``day`` plus ``months`` calendar months, the day clamped to the month's length.

    ``anchor_day`` keeps the original day of the month across short months:
    31 January + 1 month = 28 (or 29) February, and with ``anchor_day=31`` the
    month after that is 31 March, not 28 March.
    """
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    wanted = anchor_day or day.day
    return date(year, month, min(wanted, calendar.monthrange(year, month)[1]))


def period_end(start: datetime, interval: str, *, anchor_day: int | None = None) -> datetime:
    """The end of a billing period that starts at ``start`` (same time of day, Paris).

    ``interval`` is ``"month"`` or ``"year"`` (``Plan.Interval``).
    """
    months = {"month": 1, "year": 12}[interval]
    local = start.astimezone(paris())
    end_day = add_months(local.date(), months, anchor_day=anchor_day)
    return datetime.combine(end_day, local.timetz().replace(tzinfo=None), tzinfo=paris())
