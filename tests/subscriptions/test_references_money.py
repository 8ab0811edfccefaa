"""Contract references and amounts as people read and type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.money import format_eur, format_rate, vat_split
from subscriptions.references import ALPHABET, generate_reference, reference_normalize


def test_references_look_like_mns_xxxx_xxxx_and_differ():
    references = {generate_reference() for _ in range(200)}
    assert len(references) == 200
    for reference in references:
        prefix, first, second = reference.split("-")
        assert prefix == "MNS"
        assert len(first) == len(second) == 4
        assert set(first + second) <= set(ALPHABET)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("MNS-7K3P-9QX2", "MNS-7K3P-9QX2"),
        ("mns 7k3p 9qx2", "MNS-7K3P-9QX2"),
        ("7K3P9QX2", "MNS-7K3P-9QX2"),
        (" MNS-7K3P-9QX2 ", "MNS-7K3P-9QX2"),
        ("MNS-7K3P-9QXO", "MNS-7K3P-9QX0"),  # O typed for zero
        ("MNS-7K3P-9QXI", "MNS-7K3P-9QX1"),  # I typed for one
        ("MNS-7K3P-9QX", None),
        ("MNS-7K3P-9QXU", None),  # U is not in the alphabet
        ("", None),
        ("x" * 500, None),
    ],
)
def test_typed_references_are_normalised(typed, expected):
    assert reference_normalize(typed) == expected


@given(st.text(max_size=60))
def test_normalising_never_fails(value):
    result = reference_normalize(value)
    assert result is None or reference_normalize(result) == result


@pytest.mark.parametrize(
    ("ttc", "rate", "ht", "vat"),
    [(990, 2000, 825, 165), (9900, 2000, 8250, 1650), (1, 2000, 1, 0), (0, 2000, 0, 0),
     (1055, 550, 1000, 55), (123456, 2000, 102880, 20576)],
)  # fmt: skip
def test_vat_split(ttc, rate, ht, vat):
    split = vat_split(ttc_cents=ttc, vat_rate_bp=rate)
    assert (split.ht_cents, split.vat_cents, split.ttc_cents) == (ht, vat, ttc)


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from([0, 210, 550, 1000, 2000]))
def test_vat_split_always_adds_up(ttc, rate):
    split = vat_split(ttc_cents=ttc, vat_rate_bp=rate)
    assert split.ht_cents + split.vat_cents == ttc
    assert split.vat_cents >= 0


@pytest.mark.parametrize(
    ("cents", "text"),
    [(123456, "1\u202f234,56\u00a0€"), (990, "9,90\u00a0€"), (5, "0,05\u00a0€"),
     (100000000, "1\u202f000\u202f000,00\u00a0€"), (-250, "-2,50\u00a0€")],
)  # fmt: skip
def test_format_eur_french(cents, text):
    assert format_eur(cents) == text


def test_format_rate():
    assert (format_rate(2000), format_rate(550), format_rate(210)) == (
        "20\u00a0%",
        "5,5\u00a0%",
        "2,1\u00a0%",
    )
