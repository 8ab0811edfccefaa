"""File names from customers are made safe, or refused with a clear reason."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mynetspace.core.errors import DomainError
from vault.filenames import (
    BIDI_CONTROLS,
    MAX_FILENAME_BYTES,
    clean_filename,
    ensure_extension,
    extension_of,
)

REFUSAL_CODES = {
    "vault.filename_nul",
    "vault.filename_bidi",
    "vault.filename_empty",
    "vault.filename_reserved",
}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("avis d'imposition 2025.pdf", "avis d'imposition 2025.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system32\\pilote.pdf", "pilote.pdf"),
        ("C:\\Users\\marie\\Documents\\rib.png", "rib.png"),
        ("C:rib.png", "rib.png"),
        ("/var/lib/mynetspace/secret.pdf", "secret.pdf"),
        (".htaccess", "htaccess"),
        ("facture.pdf. . ", "facture.pdf"),
        ("  bulletin   de\tsalaire\n.pdf  ", "bulletin de salaire .pdf"),
        ('rapport<1>:"v2"|?*.pdf', "rapport_1___v2____.pdf"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("famille\u200d.jpg", "famille\u200d.jpg"),
    ],
)
def test_names_are_made_safe(raw, clean):
    assert clean_filename(raw) == clean


def test_decomposed_accents_are_composed():
    """GIVEN a name as macOS sends it (NFD) WHEN cleaned THEN it is NFC."""
    decomposed = unicodedata.normalize("NFD", "relevé de compte.pdf")
    assert decomposed != "relevé de compte.pdf"
    assert clean_filename(decomposed) == "relevé de compte.pdf"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("facture.pdf\x00.exe", "vault.filename_nul"),
        ("\x00", "vault.filename_nul"),
        ("facture\u202efdp.exe", "vault.filename_bidi"),
        ("photo\u2067gpj.exe\u2069", "vault.filename_bidi"),
        ("", "vault.filename_empty"),
        ("   ", "vault.filename_empty"),
        ("..", "vault.filename_empty"),
        ("../..", "vault.filename_empty"),
        ("dossier/", "vault.filename_empty"),
        ("CON", "vault.filename_reserved"),
        ("con.pdf", "vault.filename_reserved"),
        ("Lpt9.txt", "vault.filename_reserved"),
        ("nul .tar.gz", "vault.filename_reserved"),
    ],
)
def test_dangerous_names_are_refused_with_a_message(raw, code):
    with pytest.raises(DomainError) as caught:
        clean_filename(raw)
    assert caught.value.code == code
    assert "nom" in str(caught.value)


def test_a_reserved_word_inside_a_name_is_fine():
    assert clean_filename("console.pdf") == "console.pdf"
    assert clean_filename("COM10.pdf") == "COM10.pdf"


def test_long_names_are_cut_in_the_stem_and_keep_their_extension():
    name = clean_filename("a" * 296 + ".pdf")
    assert len(name) == MAX_FILENAME_BYTES
    assert name == "a" * 251 + ".pdf"


def test_long_names_are_cut_on_a_character_boundary():
    """GIVEN 300 two-byte characters WHEN cleaned THEN at most 255 bytes of valid UTF-8."""
    name = clean_filename("é" * 300 + ".jpeg")
    encoded = name.encode()
    assert len(encoded) <= MAX_FILENAME_BYTES
    assert name.endswith(".jpeg")
    assert set(name[: -len(".jpeg")]) == {"é"}


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("scan.PDF", "pdf"),
        ("photo.jpeg", "jpeg"),
        ("archive.tar.gz", "gz"),
        ("Relevé 12.03", ""),
        ("sans extension", ""),
        ("point.", ""),
        ("trop.longueextension", ""),
        (".pdf", "pdf"),
    ],
)
def test_extension_of(name, extension):
    assert extension_of(name) == extension


def test_ensure_extension_adds_the_sniffed_extension_only_when_missing():
    assert ensure_extension("scan", "pdf") == "scan.pdf"
    assert ensure_extension("scan.jpg", "jpg") == "scan.jpg"
    assert ensure_extension("Relevé 12.03", "pdf") == "Relevé 12.03.pdf"
    assert ensure_extension("a" * 255, "pdf") == "a" * 251 + ".pdf"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_name_is_refused_with_a_known_code_or_comes_out_safe(raw):
    try:
        name = clean_filename(raw)
    except DomainError as error:
        assert error.code in REFUSAL_CODES
        return
    assert name
    assert len(name.encode()) <= MAX_FILENAME_BYTES
    assert "/" not in name and "\\" not in name
    assert not name.startswith(".") and not name.endswith((".", " "))
    assert not any(unicodedata.category(c) == "Cc" for c in name)
    assert not (set(name) & BIDI_CONTROLS)
    assert unicodedata.is_normalized("NFC", name)
    assert clean_filename(name) == name  # cleaning is idempotent
