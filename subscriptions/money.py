"""Amounts in cents: VAT split and French formatting.

Prices are set incl. VAT (TTC, what the customer sees and pays). The amount before
tax (HT) is derived: ``HT = round(TTC / (1 + rate))`` to the nearest cent, halves
rounded up, and ``VAT = TTC - HT``, so that HT + VAT is always exactly the price paid.
"""

from __future__ import annotations

from dataclasses import dataclass

BASIS_POINTS = 10_000


@dataclass(frozen=True)
class VatSplit:
    ht_cents: int
    vat_cents: int
    ttc_cents: int


def vat_split(*, ttc_cents: int, vat_rate_bp: int) -> VatSplit:
    """Split an amount incl. VAT into HT and VAT (integers, exact sum)."""
    if ttc_cents < 0 or vat_rate_bp < 0:
        raise ValueError("amounts and rates are never negative")
    denominator = BASIS_POINTS + vat_rate_bp
    # Round half up with integers only: floor((2a + d) / 2d) for a/d.
    ht = (2 * ttc_cents * BASIS_POINTS + denominator) // (2 * denominator)
    return VatSplit(ht_cents=ht, vat_cents=ttc_cents - ht, ttc_cents=ttc_cents)


def format_eur(cents: int) -> str:
    """French formatting: ``1 234,56 €`` (narrow no-break spaces, as French typography
    asks for thousands; a no-break space before the euro sign)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}\u00a0€"


def format_rate(vat_rate_bp: int) -> str:
    """``2000`` -> ``20 %``, ``550`` -> ``5,5 %``."""
    whole, rest = divmod(vat_rate_bp, 100)
    text = f"{whole}" if rest == 0 else f"{whole},{rest:02d}".rstrip("0")
    return f"{text}\u00a0%"
