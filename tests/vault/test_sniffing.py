"""The type of a file is read from its content and checked against its name."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mynetspace.core.errors import DomainError
from tests.vault import corpus
from vault import sniffing
from vault.sniffing import HEAD_BYTES, ContentCheck, check_size, sniff


def run_check(data: bytes, filename: str, *, chunk_size: int = 64 * 1024, **options):
    check = ContentCheck(filename=filename, **options)
    for start in range(0, len(data), chunk_size):
        check.feed(data[start : start + chunk_size])
    return check.finish()


def refusal(data: bytes, filename: str, **options) -> DomainError:
    with pytest.raises(DomainError) as caught:
        run_check(data, filename, **options)
    return caught.value


# --- The head ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "extension"),
    [
        (b"%PDF-1.4\n", "avis.pdf", "application/pdf", "pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "photo.JPG", "image/jpeg", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "rib.png", "image/png", "png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "photo.webp", "image/webp", "webp"),
        (b"II*\x00\x08\x00\x00\x00", "scan.tif", "image/tiff", "tif"),
        (b"MM\x00*\x00\x00\x00\x08", "scan.tiff", "image/tiff", "tif"),
        (corpus.heic_header(), "IMG_1.heic", "image/heic", "heic"),
        (b"Bonjour\n", "notes.txt", "text/plain", "txt"),
        (b"nom;montant\nloyer;650\n", "budget.csv", "text/plain", "txt"),
    ],
)
def test_accepted_types_from_their_first_bytes(data, filename, content_type, extension):
    file_type = sniff(data, filename=filename)
    assert file_type.content_type == content_type
    assert file_type.extension == extension


def test_a_file_without_extension_gets_its_type_from_the_content():
    assert sniff(b"%PDF-1.7\n", filename="scan").extension == "pdf"


def test_heic_brand_variants():
    """GIVEN a HEIF file whose major brand is mif1 and compatible brands name heic."""
    ftyp = b"ftypmif1\x00\x00\x00\x00mif1heic"
    assert sniff(len(ftyp).to_bytes(4, "big")[:0] + b"\x00\x00\x00\x18" + ftyp, filename="a.heif")
    avif = b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif"
    with pytest.raises(DomainError) as caught:
        sniff(avif, filename="photo.avif")
    assert caught.value.code == "vault.type_not_allowed"


@pytest.mark.parametrize(
    ("data", "filename", "code", "found"),
    [
        (corpus.HTML_PAGE, "facture.pdf", "vault.type_mismatch", "HTML"),
        (corpus.SVG_IMAGE, "facture.pdf", "vault.type_mismatch", "SVG"),
        (b"\xef\xbb\xbf  <html><body>x</body></html>", "lettre.txt", "vault.type_mismatch", "HTML"),
        (b"<?xml version='1.0'?><note/>", "note.txt", "vault.type_mismatch", "XML"),
        (corpus.WINDOWS_PROGRAM, "photo.jpg", "vault.type_mismatch", "exécutable"),
        (b"\x7fELF\x02\x01\x01", "programme", "vault.type_not_allowed", "exécutable"),
        (b"\xcf\xfa\xed\xfe\x07\x00", "app", "vault.type_not_allowed", "exécutable"),
        (b"#!/usr/bin/env python\n", "script.py", "vault.type_not_allowed", "script"),
        (b"\x1f\x8b\x08\x00\x00\x00", "sauvegarde.gz", "vault.type_not_allowed", "archive"),
        (b"Rar!\x1a\x07\x00", "photos.rar", "vault.type_not_allowed", "archive"),
        (b"%PDF-1.7\n", "facture.exe", "vault.type_mismatch", "PDF"),
        (b"\x89PNG\r\n\x1a\n", "image.jpg", "vault.type_mismatch", "PNG"),
        (b"\x00\x01\x02\x03binary", "donnees.bin", "vault.type_not_allowed", "non reconnu"),
        ("Relevé de compte".encode("latin-1"), "releve.txt", "vault.text_not_utf8", "UTF-8"),
        ("Relevé".encode("utf-16"), "releve.txt", "vault.text_not_utf8", "UTF-8"),
    ],
)
def test_refused_heads_say_what_the_content_is(data, filename, code, found):
    with pytest.raises(DomainError) as caught:
        sniff(data, filename=filename)
    assert caught.value.code == code
    assert found in str(caught.value)


def test_a_pdf_header_not_at_the_start_is_not_a_pdf():
    """Readers tolerate junk before %PDF-; we do not: such a file is refused."""
    with pytest.raises(DomainError) as caught:
        sniff(b"<html>%PDF-1.7", filename="facture.pdf")
    assert caught.value.code == "vault.type_mismatch"


def test_empty_and_size_limit():
    with pytest.raises(DomainError) as caught:
        sniff(b"", filename="vide.pdf")
    assert caught.value.code == "vault.file_empty"
    check_size(1, max_bytes=10)
    check_size(10, max_bytes=10)
    for size, code in ((0, "vault.file_empty"), (11, "vault.file_too_large")):
        with pytest.raises(DomainError) as caught:
            check_size(size, max_bytes=10)
        assert caught.value.code == code


def test_size_limit_uses_the_upload_setting(settings):
    settings.UPLOAD_MAX_BYTES = 3 * 1024 * 1024
    with pytest.raises(DomainError) as caught:
        check_size(3 * 1024 * 1024 + 1)
    assert "3 Mo" in str(caught.value)


def test_the_stream_is_refused_as_soon_as_it_passes_the_limit(settings):
    """GIVEN the real limit WHEN limit + 1 bytes stream in THEN refused without reading more."""
    limit = settings.UPLOAD_MAX_BYTES
    check = ContentCheck(filename="gros.pdf")
    fed = 0
    with pytest.raises(DomainError) as caught:
        for chunk in corpus.oversized(limit)():
            fed += len(chunk)
            check.feed(chunk)
    assert caught.value.code == "vault.file_too_large"
    assert fed == limit + 1


def test_the_head_is_judged_before_the_rest_is_read():
    check = ContentCheck(filename="facture.pdf")
    with pytest.raises(DomainError) as caught:
        check.feed(corpus.HTML_PAGE + b" " * HEAD_BYTES)
    assert caught.value.code == "vault.type_mismatch"


# --- Text ----------------------------------------------------------------------------------------


def test_text_must_be_utf8_to_the_last_byte():
    good = ("Quittance de loyer – janvier\n" * 1000).encode()
    assert run_check(good, "quittance.txt", chunk_size=7).content_type == "text/plain"
    assert refusal(good + "é".encode("latin-1"), "quittance.txt").code == "vault.text_not_utf8"
    # A multi-byte character cut by a chunk boundary is still valid.
    assert run_check("é".encode() * 5000, "e.txt", chunk_size=HEAD_BYTES + 1).key == "text"
    # Truncated in the middle of a character at the very end.
    assert refusal("é".encode() * 10 + b"\xc3", "e.txt").code == "vault.text_not_utf8"


# --- Office documents ------------------------------------------------------------------------


def test_odf_and_ooxml_are_settled_by_the_central_directory():
    assert run_check(corpus.odt(), "lettre.odt", chunk_size=100).key == "odt"
    assert run_check(corpus.docx(), "contrat.docx", chunk_size=100).key == "docx"
    assert run_check(corpus.docx(), "contrat", chunk_size=100).key == "docx"


def test_an_office_package_named_as_another_kind_is_refused():
    assert refusal(corpus.docx(), "tableau.xlsx").code == "vault.type_mismatch"
    assert refusal(corpus.odt(), "lettre.docx").code == "vault.type_mismatch"


def test_plain_and_disguised_archives_are_refused():
    assert refusal(corpus.eicar_zip(), "photos.zip").code == "vault.type_not_allowed"
    # An archive whose first entry happens to be named "mimetype" but is not ODF.
    epub = corpus.zip_bytes(
        [("mimetype", b"application/epub+zip"), ("x.html", b"<p/>")], stored_first=True
    )
    assert refusal(epub, "livre.odt").code == "vault.type_mismatch"
    # An OOXML lookalike without its main part.
    fake = corpus.zip_bytes([("[Content_Types].xml", b"<Types/>"), ("evil.exe", b"MZ")])
    assert refusal(fake, "contrat.docx").code == "vault.office_unreadable"


def test_a_truncated_office_document_is_refused():
    data = corpus.docx()
    assert refusal(data[: len(data) - 30], "contrat.docx").code == "vault.office_unreadable"


def test_password_protected_zip_entries_are_refused():
    data = bytearray(corpus.docx())
    # Set the "encrypted" flag bit in every local and central header, as a
    # password-protecting tool does.
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position != -1:
            data[position + flags_at] |= 0x1
            position = data.find(signature, position + 4)
    assert refusal(bytes(data), "contrat.docx").code == "vault.office_encrypted"


def test_only_the_tail_of_an_office_document_is_kept():
    """GIVEN a large docx WHEN streamed THEN memory holds about TAIL_BYTES, not the file."""
    big = corpus.docx(extra=[("word/media/image1.bin", bytes(range(256)) * 40_000)])
    deep = sniffing.ZipDocumentCheck(sniffing.OOXML, filename="gros.docx")
    for start in range(0, len(big), 64 * 1024):
        deep.feed(big[start : start + 64 * 1024])
        assert deep._kept <= deep.TAIL_BYTES + 64 * 1024
    assert deep.finish() is sniffing.DOCX


# --- PDF ----------------------------------------------------------------------------------------


HOSTILE_PDFS = {
    "javascript": corpus.pdf_with_javascript,
    "javascript-in-object-stream": corpus.pdf_with_javascript_in_object_stream,
    "escaped-name": corpus.pdf_with_escaped_javascript_name,
    "names-tree": corpus.pdf_with_javascript_names_tree,
    "launch": corpus.pdf_with_launch_action,
    "additional-actions": corpus.pdf_with_page_additional_actions,
    "attachment": corpus.pdf_with_attachment,
    "hidden-in-stream-data": corpus.pdf_with_object_hidden_in_stream_data,
}


@pytest.mark.parametrize("chunk_size", [1, 5, 512, 4096, 1 << 20])
@pytest.mark.parametrize("kind", sorted(HOSTILE_PDFS))
def test_active_pdfs_are_refused_whatever_the_chunking(kind, chunk_size):
    error = refusal(HOSTILE_PDFS[kind](), "avis.pdf", chunk_size=chunk_size)
    assert error.code == "vault.pdf_active_content"
    assert "JavaScript" in str(error)


@pytest.mark.parametrize("chunk_size", [1, 13, 4096])
def test_real_pdfs_pass_whatever_the_chunking(chunk_size):
    for data in (corpus.pdf(), corpus.pdf(object_stream=True), corpus.pdf_from_weasyprint()):
        assert run_check(data, "bulletin.pdf", chunk_size=chunk_size).key == "pdf"


def test_the_hostile_pdfs_are_real_pdfs_that_a_reader_would_run():
    """The corpus is only worth something if a PDF reader sees what we refuse."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(corpus.pdf_with_javascript_in_object_stream()))
    action = reader.trailer["/Root"]["/OpenAction"]
    assert action["/S"] == "/JavaScript"
    assert b"/JavaScript" not in corpus.pdf_with_javascript_in_object_stream()
    escaped = pypdf.PdfReader(io.BytesIO(corpus.pdf_with_escaped_javascript_name()))
    assert escaped.trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=6000), max_size=12))
def test_chunk_boundaries_anywhere_never_hide_javascript(cuts):
    data = corpus.pdf_with_javascript_in_object_stream()
    check = sniffing.PdfCheck(sniffing.PDF)
    previous = 0
    for cut in sorted({min(c, len(data)) for c in cuts}):
        check.feed(data[previous:cut])
        previous = cut
    check.feed(data[previous:])
    with pytest.raises(DomainError):
        check.finish()


def test_encrypted_pdfs():
    """Owner-password PDFs without object streams are checked and accepted; with JavaScript
    they are refused; when an object stream cannot be read, they are refused as encrypted."""
    assert run_check(corpus.pdf_encrypted(), "avis.pdf").key == "pdf"
    assert refusal(corpus.pdf_encrypted(with_javascript=True), "avis.pdf").code == (
        "vault.pdf_active_content"
    )
    assert refusal(corpus.pdf_encrypted_with_object_stream(), "avis.pdf").code == (
        "vault.pdf_encrypted"
    )


def test_object_streams_the_scan_cannot_decode_are_refused():
    hex_encoded = corpus.pdf(object_stream=True, object_stream_filter=b"/Filter /ASCIIHexDecode")
    assert refusal(hex_encoded, "avis.pdf").code == "vault.pdf_unreadable"
    # An object stream without a /Type, recognised by its /First and /N keys.
    untyped = corpus.pdf_with_javascript_in_object_stream().replace(b"/Type /ObjStm", b" " * 13)
    assert refusal(untyped, "avis.pdf").code == "vault.pdf_active_content"


def test_a_pdf_cut_inside_an_object_stream_is_refused():
    data = corpus.pdf(object_stream=True)
    cut = data.index(b"/Type /ObjStm") + 120
    assert refusal(data[:cut], "avis.pdf").code == "vault.pdf_unreadable"


def test_an_object_stream_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(sniffing, "PDF_MAX_INFLATED", 1000)
    data = corpus.pdf(object_stream=True, catalog_extra=b"/Pad (" + b"0" * 5000 + b") ")
    assert refusal(data, "avis.pdf").code == "vault.pdf_unreadable"


def test_strings_and_comments_neither_hide_nor_raise_alarms():
    """GIVEN keywords inside a literal string or a comment WHEN scanned THEN they are
    ignored, as a reader's lexer ignores them: no false alarm, and no way to make the
    scan lose track of an object stream."""
    js = corpus.pdf_with_javascript_in_object_stream()
    decoys = (
        b"<< /Decoy (x\nstream\n) /Type /ObjStm",
        b"<< /Decoy (a\\) stream\n b\\\\) /Other (c) /Type /ObjStm",
        b"<< % stream\n/Type /ObjStm",
    )
    for decoy in decoys:
        assert refusal(js.replace(b"<< /Type /ObjStm", decoy), "avis.pdf").code == (
            "vault.pdf_active_content"
        )
    titled = corpus.pdf(catalog_extra=b"/Lang (fr) /Note (Guide /JavaScript et /AA) ")
    assert run_check(titled, "guide.pdf").key == "pdf"


def test_names_inside_stream_data_are_not_alarms():
    """Compressed or binary stream data can contain "/AA " by chance: not active content."""
    body = b"\x01\x02/AA << /JS (x) >>\x03"
    data = corpus.pdf().replace(
        b"%PDF-1.7\n",
        b"%PDF-1.7\n"
        + b"10 0 obj\n<< /Length %d >>\nstream\n" % len(body)
        + body
        + b"\nendstream\nendobj\n",
        1,
    )
    assert run_check(data, "avis.pdf").key == "pdf"


def test_openaction_without_script_is_allowed():
    """/OpenAction usually only sets the first view: it is not active content by itself."""
    data = corpus.pdf(catalog_extra=b"/OpenAction [3 0 R /FitH null] ")
    assert run_check(data, "avis.pdf").key == "pdf"
