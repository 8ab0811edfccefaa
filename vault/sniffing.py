"""What a file really is, read from its content, against the vault's allow list.

The vault accepts PDF, JPEG, PNG, WebP, HEIC, TIFF, plain UTF-8 text, OpenDocument
(odt, ods, odp, odg) and Office Open XML (docx, xlsx, pptx) files (DESIGN §4 vault).
Everything else is refused with a translated message and a stable code
(``DomainError``), and so is a file whose content does not match the extension of its
name (an HTML page named ``facture.pdf``).

The checks fit a streaming upload, in two steps:

1. :func:`sniff` decides from the first :data:`HEAD_BYTES` bytes (magic numbers,
   the first ZIP entry, the start of a text). It refuses early, before the rest of
   the upload is read.
2. A deep check, for the types whose danger or identity is further in: PDFs
   (JavaScript, automatic actions, embedded files, encryption: a streaming scan of
   the names of the whole file, object streams decompressed), ZIP-based documents
   (the central directory, at the end: type, macros, encrypted entries) and text
   (valid UTF-8 to the last byte). It is fed the *whole* stream chunk by chunk, in
   constant memory: nothing is written to disk, nothing is held whole.

:class:`ContentCheck` does both and counts the bytes against the upload limit; the
upload pipeline feeds it the same plaintext chunks it hashes and encrypts::

    check = ContentCheck(filename=clean_name)
    for chunk in chunks:
        check.feed(chunk)          # may raise DomainError (too large, wrong type...)
    file_type = check.finish()     # may raise DomainError; else the final FileType

Decisions (docs/scanning.md): PDFs with active content are refused, not
quarantined; encrypted PDFs are accepted only when every object is visible to the
scan (no compressed object streams); images get no deep check (they are served with
their own type, ``nosniff`` and a sandbox CSP).
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import struct
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mynetspace.core.errors import DomainError
from vault.filenames import extension_of

logger = logging.getLogger(__name__)

#: Bytes :func:`sniff` needs (fewer only when the file is shorter).
HEAD_BYTES = 8192


@dataclass(frozen=True)
class FileType:
    """An accepted type: what the vault stores and serves the file as."""

    key: str
    label: str | Promise
    content_type: str
    #: Canonical extension, e.g. for a download name without one.
    extension: str
    #: Extensions a file name may carry for this content.
    extensions: frozenset[str]
    #: Whether :class:`DeepCheck` must read the whole stream before accepting it.
    needs_deep_check: bool = False
    family: str = ""


def _type(key, label, content_type, extensions, *, deep=False, family=""):
    return FileType(
        key=key,
        label=label,
        content_type=content_type,
        extension=extensions[0],
        extensions=frozenset(extensions),
        needs_deep_check=deep,
        family=family or key,
    )


_ODF = "application/vnd.oasis.opendocument."
_OOXML = "application/vnd.openxmlformats-officedocument."

PDF = _type("pdf", "PDF", "application/pdf", ["pdf"], deep=True)
JPEG = _type("jpeg", "JPEG", "image/jpeg", ["jpg", "jpeg", "jpe", "jfif"], family="image")
PNG = _type("png", "PNG", "image/png", ["png"], family="image")
WEBP = _type("webp", "WebP", "image/webp", ["webp"], family="image")
HEIC = _type("heic", "HEIC", "image/heic", ["heic", "heif", "hif"], family="image")
TIFF = _type("tiff", "TIFF", "image/tiff", ["tif", "tiff"], family="image")
TEXT = _type(
    "text",
    gettext_lazy("texte"),
    "text/plain",
    ["txt", "text", "csv", "tsv", "md", "log"],
    deep=True,
)
ODT = _type(
    "odt", gettext_lazy("OpenDocument texte"), _ODF + "text", ["odt"], deep=True, family="odf"
)
ODS = _type(
    "ods",
    gettext_lazy("OpenDocument classeur"),
    _ODF + "spreadsheet",
    ["ods"],
    deep=True,
    family="odf",
)
ODP = _type(
    "odp",
    gettext_lazy("OpenDocument présentation"),
    _ODF + "presentation",
    ["odp"],
    deep=True,
    family="odf",
)
ODG = _type(
    "odg", gettext_lazy("OpenDocument dessin"), _ODF + "graphics", ["odg"], deep=True, family="odf"
)
DOCX = _type(
    "docx", "Word", _OOXML + "wordprocessingml.document", ["docx"], deep=True, family="ooxml"
)
XLSX = _type("xlsx", "Excel", _OOXML + "spreadsheetml.sheet", ["xlsx"], deep=True, family="ooxml")
PPTX = _type(
    "pptx",
    "PowerPoint",
    _OOXML + "presentationml.presentation",
    ["pptx"],
    deep=True,
    family="ooxml",
)
#: Provisional: an Office Open XML package whose kind the central directory decides.
OOXML = _type(
    "ooxml", "Office", "application/zip", ["docx", "xlsx", "pptx"], deep=True, family="ooxml"
)

ACCEPTED_TYPES = (PDF, JPEG, PNG, WEBP, HEIC, TIFF, TEXT, ODT, ODS, ODP, ODG, DOCX, XLSX, PPTX)
TYPES_BY_EXTENSION = {ext: t for t in ACCEPTED_TYPES for ext in t.extensions}
ODF_TYPES = {
    _ODF + name: t
    for name, t in (("text", ODT), ("spreadsheet", ODS), ("presentation", ODP), ("graphics", ODG))
}
OOXML_MAIN_PARTS = {
    "word/document.xml": DOCX,
    "xl/workbook.xml": XLSX,
    "ppt/presentation.xml": PPTX,
}


@dataclass(frozen=True)
class Refused:
    """Content recognised as something the vault never accepts (or not recognised)."""

    label: str | Promise


HTML = Refused(gettext_lazy("page web HTML"))
SVG = Refused(gettext_lazy("image SVG"))
XML = Refused(gettext_lazy("document XML"))
SCRIPT = Refused(gettext_lazy("script"))
EXECUTABLE = Refused(gettext_lazy("programme exécutable"))
ARCHIVE = Refused(gettext_lazy("archive"))
UNKNOWN = Refused(gettext_lazy("type non reconnu"))


# --- Refusals ------------------------------------------------------------------------------


def _accepted_list() -> str:
    return _("PDF, JPEG, PNG, WebP, HEIC, TIFF, texte, OpenDocument et Office (docx, xlsx, pptx)")


def file_empty() -> DomainError:
    return DomainError(_("Ce fichier est vide."), code="vault.file_empty")


def file_too_large(limit: int) -> DomainError:
    return DomainError(
        _("Ce fichier dépasse la taille maximale acceptée (%(limit)s Mo).")
        % {"limit": limit // (1024 * 1024)},
        code="vault.file_too_large",
    )


def _type_mismatch(found, extension: str) -> DomainError:
    return DomainError(
        _(
            "Le contenu de ce fichier (%(found)s) ne correspond pas à son extension "
            "« .%(extension)s ». Vérifiez que vous avez choisi le bon fichier."
        )
        % {"found": found, "extension": extension},
        code="vault.type_mismatch",
    )


def _type_not_allowed(found) -> DomainError:
    return DomainError(
        _("Ce type de fichier (%(found)s) n'est pas accepté. Formats acceptés : %(accepted)s.")
        % {"found": found, "accepted": _accepted_list()},
        code="vault.type_not_allowed",
    )


def _text_not_utf8() -> DomainError:
    return DomainError(
        _(
            "Ce fichier texte n'est pas en UTF-8 ou contient des caractères binaires : "
            "enregistrez-le en UTF-8 puis réessayez."
        ),
        code="vault.text_not_utf8",
    )


def check_size(size: int, *, max_bytes: int | None = None) -> None:
    """Refuse a declared or counted size: empty, or over ``UPLOAD_MAX_BYTES``."""
    limit = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    if size <= 0:
        raise file_empty()
    if size > limit:
        raise file_too_large(limit)


# --- Step 1: the head ----------------------------------------------------------------------


def sniff(head: bytes, *, filename: str) -> FileType:
    """The type of a file from its first bytes, checked against its (clean) name.

    ``head`` is the first :data:`HEAD_BYTES` bytes, or the whole file when shorter.
    Returns the accepted :class:`FileType` (possibly the provisional :data:`OOXML`,
    settled by the deep check); raises ``DomainError`` otherwise.
    """
    if not head:
        raise file_empty()
    detected = detect(head)
    extension = extension_of(filename)
    if isinstance(detected, FileType):
        if extension and extension not in detected.extensions:
            raise _type_mismatch(detected.label, extension)
        return detected
    claimed = TYPES_BY_EXTENSION.get(extension)
    if claimed is TEXT and detected is UNKNOWN:
        raise _text_not_utf8()
    if claimed is not None:
        raise _type_mismatch(detected.label, extension)
    raise _type_not_allowed(detected.label)


def detect(head: bytes) -> FileType | Refused:
    """What the first bytes say, without looking at any name."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if _is_heic(head):
        return HEIC
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip(head)
    if head.startswith((b"MZ", b"\x7fELF")) or head[:4] in MACH_O_MAGICS:
        return EXECUTABLE
    markup = _detect_markup(head)
    if markup is not None:
        return markup
    if head.startswith(b"#!"):
        return SCRIPT
    guessed = filetype.guess(head)
    if guessed is not None:
        return ARCHIVE if guessed.mime in ARCHIVE_MIMES else Refused(guessed.mime)
    if _is_text(head):
        return TEXT
    return UNKNOWN


MACH_O_MAGICS = {
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
}
ARCHIVE_MIMES = {
    "application/zip",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/x-tar",
    "application/vnd.ms-cab-compressed",
    "application/x-compress",
    "application/zstd",
}
HEIC_BRANDS = {"heic", "heix", "heim", "heis", "hevc", "hevx"}


def _is_heic(head: bytes) -> bool:
    if head[4:8] != b"ftyp" or len(head) < 16:
        return False
    (box_size,) = struct.unpack(">I", head[:4])
    major = head[8:12].decode("latin-1")
    box = head[16 : min(box_size, len(head))]
    compatible = {box[i : i + 4].decode("latin-1") for i in range(0, len(box) - 3, 4)}
    if major in HEIC_BRANDS:
        return True
    return major in {"mif1", "msf1"} and bool(compatible & HEIC_BRANDS)


def _detect_markup(head: bytes) -> Refused | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    if text.startswith((b"\xfe\xff", b"\xff\xfe")):
        # UTF-16: decode enough to look for markup, else let the text check refuse it.
        text = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
        text = text.lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    if not text.startswith(b"<"):
        return None
    lowered = text[:HEAD_BYTES].lower()
    if b"<svg" in lowered:
        return SVG
    if re.search(rb"<(!doctype html|html|head|body|script|iframe|meta|title|div|p\b)", lowered):
        return HTML
    if lowered.startswith(b"<?xml"):
        return XML
    return HTML


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _zip_local_entries(head: bytes):
    """(name, method, compressed size, data offset) of the local headers in ``head``."""
    offset = 0
    while head.startswith(b"PK\x03\x04", offset) and offset + 30 <= len(head):
        (flags, method) = struct.unpack_from("<HH", head, offset + 6)
        (compressed,) = struct.unpack_from("<I", head, offset + 18)
        name_length, extra_length = struct.unpack_from("<HH", head, offset + 26)
        name = head[offset + 30 : offset + 30 + name_length].decode("utf-8", errors="replace")
        data = offset + 30 + name_length + extra_length
        yield name, method, compressed, data
        if flags & 0x08 or not compressed:
            return  # sizes in a data descriptor: the next header cannot be located here
        offset = data + compressed


def _detect_zip(head: bytes) -> FileType | Refused:
    entries = list(_zip_local_entries(head))
    if not entries:
        return ARCHIVE
    name, method, compressed, data = entries[0]
    if name == "mimetype" and method == 0:
        mimetype = head[data : data + compressed].decode("ascii", errors="replace").strip()
        return ODF_TYPES.get(mimetype, ARCHIVE)
    names = {entry[0] for entry in entries}
    if "[Content_Types].xml" in names or any(n.startswith(("word/", "xl/", "ppt/")) for n in names):
        return OOXML
    # Some writers put [Content_Types].xml after large parts: look for the name.
    if b"[Content_Types].xml" in head:
        return OOXML
    return ARCHIVE


# --- Step 2: the whole stream --------------------------------------------------------------


class DeepCheck:
    """Reads the whole file, chunk by chunk, for what the head cannot tell."""

    def __init__(self, file_type: FileType, *, filename: str = "") -> None:
        self.file_type = file_type
        self.filename = filename

    def feed(self, chunk: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def finish(self) -> FileType:  # pragma: no cover - overridden
        raise NotImplementedError


class _NoDeepCheck(DeepCheck):
    def feed(self, chunk: bytes) -> None:
        pass

    def finish(self) -> FileType:
        return self.file_type


class TextCheck(DeepCheck):
    """Valid UTF-8 to the last byte, without NUL."""

    def __init__(self, file_type: FileType, *, filename: str = "") -> None:
        super().__init__(file_type, filename=filename)
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            raise _text_not_utf8()
        try:
            self._decoder.decode(chunk, final=False)
        except UnicodeDecodeError:
            raise _text_not_utf8() from None

    def finish(self) -> FileType:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _text_not_utf8() from None
        return self.file_type


# PDF names that run code, act on their own or carry other files. /OpenAction alone is
# harmless (it usually sets the first view); an action that runs a script or a program
# names /JavaScript, /JS or /Launch, which are caught wherever they are.
PDF_ACTIVE_NAMES = frozenset(
    {
        "JS",
        "JavaScript",
        "AA",
        "Launch",
        "EmbeddedFile",
        "EmbeddedFiles",
        "RichMedia",
        "XFA",
        "GoToE",
    }
)
PDF_FILTERS = frozenset(
    {
        "FlateDecode",
        "Fl",
        "LZWDecode",
        "LZW",
        "ASCIIHexDecode",
        "AHx",
        "ASCII85Decode",
        "A85",
        "RunLengthDecode",
        "RL",
        "Crypt",
        "DCTDecode",
        "JPXDecode",
        "JBIG2Decode",
        "CCITTFaxDecode",
    }
)
#: The other names the scan follows: encryption, and what makes an object stream.
PDF_STRUCTURE_NAMES = frozenset({"Encrypt", "ObjStm", "First", "N", "Filter", "DecodeParms"})
_PDF_TRACKED = PDF_ACTIVE_NAMES | PDF_STRUCTURE_NAMES | PDF_FILTERS
_PDF_TRACKED_RAW = frozenset(name.encode() for name in _PDF_TRACKED)
# A name: a solidus and the regular characters after it (PDF 32000-1, 7.3.5). Searching
# for literal prefixes (a "/", the keywords below) keeps the scan at hundreds of MB/s.
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_WHITESPACE = rb"\x00\t\n\x0c\r "
# Outside stream data: a name, a literal string, a comment or the stream keyword (alone,
# then an end of line).
_PDF_RAW_TOKEN = re.compile(_PDF_NAME.pattern + rb"|[(%]|stream(?:\r\n|\n|\r)")
_PDF_DELIMITERS = frozenset(b"\x00\t\n\x0c\r ()<>[]{}")
#: A token this close to the end of what has been read may continue in the next chunk.
_PDF_OVERLAP = 512
#: Most bytes decompressed from object streams in one PDF (a bomb is refused).
PDF_MAX_INFLATED = 64 * 1024 * 1024
_PDF_STRING_TOKEN = re.compile(rb"[()\\]")
_PDF_EOL = re.compile(rb"[\r\n]")
# "12 0 obj" inside stream data: an object a cross-reference entry may point to.
_PDF_OBJECT_HEADER = re.compile(
    rb"[0-9]{1,10}[" + _PDF_WHITESPACE + rb"]+[0-9]{1,5}[" + _PDF_WHITESPACE + rb"]+obj\Z"
)


def _find_hidden_object(data: bytes, start: int, end: int) -> int:
    """Start of an object header (``12 0 obj``) in ``data[start:end]``, or -1."""
    while True:
        found = data.find(b"obj", start, end)
        if found < 0:
            return -1
        if not data[found + 3 : found + 4].isalpha():
            header = _PDF_OBJECT_HEADER.search(data[max(start, found - 24) : found + 3])
            if header is not None:
                return max(start, found - 24) + header.start()
        start = found + 1


def _pdf_name(raw: bytes) -> str | None:
    """The decoded name when the scan follows it (``/J#61vaScript`` included), else None."""
    if raw in _PDF_TRACKED_RAW:
        return raw.decode("ascii")
    if b"#" not in raw:
        return None
    decoded = _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    name = decoded.decode("latin-1")
    return name if name in _PDF_TRACKED else None


class _NameScanner:
    """Finds the PDF names in a stream fed in pieces (decompressed object streams)."""

    def __init__(self, found: set[str]) -> None:
        self.found = found
        self._buffer = b""

    def feed(self, data: bytes, *, final: bool = False) -> None:
        data = self._buffer + data
        limit = len(data) if final else len(data) - _PDF_OVERLAP
        position = 0
        for match in _PDF_NAME.finditer(data):
            if match.end() > limit and len(data) - match.start() < _PDF_OVERLAP * 2:
                break
            position = match.end()
            name = _pdf_name(match.group(1))
            if name in PDF_ACTIVE_NAMES:
                self.found.add(name)
        else:
            position = max(position, limit)
        self._buffer = b"" if final else data[max(position, 0) :]
        if len(self._buffer) > _PDF_OVERLAP * 2:
            self._buffer = self._buffer[-_PDF_OVERLAP:]


class PdfCheck(DeepCheck):
    """Streams through a PDF looking for active content and encryption.

    A small tokenizer reads the file as a reader's lexer would, in constant memory:

    * outside streams, every name is decoded (``/J#61vaScript`` is ``/JavaScript``)
      and compared with :data:`PDF_ACTIVE_NAMES`; literal strings and comments are
      skipped, so that neither hides a keyword from us nor raises a false alarm;
    * stream data is skipped up to ``endstream`` (compressed bytes would give false
      alarms), except that an object hidden inside it (``12 0 obj``, reachable through
      the cross-reference table) is read as any other;
    * object streams (``/Type /ObjStm``, or ``/First`` and ``/N``: PDF 1.5 packs most
      dictionaries in them) are inflated on the fly and their names checked too. One
      the scan cannot decode makes the file refused.
    """

    def __init__(self, file_type: FileType, *, filename: str = "") -> None:
        super().__init__(file_type, filename=filename)
        self.found: set[str] = set()
        self.encrypted = False
        self.object_streams = 0
        self.undecodable = False
        self._buffer = b""
        self._mode = "raw"  # raw, string, comment, body, inflate
        self._string_depth = 0
        self._seen: set[str] = set()  # structure names since the last stream
        self._filters: list[str] = []
        self._inflater = None
        self._inner: _NameScanner | None = None
        self._inflated = 0

    def feed(self, chunk: bytes) -> None:
        self._process(self._buffer + chunk, final=False)

    def finish(self) -> FileType:
        self._process(self._buffer, final=True)
        if self._mode == "inflate":  # the file ends inside an object stream
            self._end_object_stream()
            self.undecodable = True
        if self.found:
            logger.info("PDF refused: active content %s", sorted(self.found))
            raise DomainError(
                _(
                    "Ce PDF contient du JavaScript, des actions automatiques ou des fichiers "
                    "joints, que le coffre n'accepte pas. Imprimez-le en PDF (« Enregistrer au "
                    "format PDF ») pour en garder une copie sans contenu actif."
                ),
                code="vault.pdf_active_content",
            )
        if self.encrypted and (self.object_streams or self.undecodable):
            raise DomainError(
                _(
                    "Ce PDF est chiffré ou protégé, et son contenu ne peut pas être vérifié. "
                    "Enregistrez-en une copie sans protection puis réessayez."
                ),
                code="vault.pdf_encrypted",
            )
        if self.undecodable:
            raise DomainError(
                _(
                    "Ce PDF est endommagé ou construit d'une façon que le coffre ne sait pas "
                    "vérifier. Enregistrez-en une nouvelle copie puis réessayez."
                ),
                code="vault.pdf_unreadable",
            )
        return self.file_type

    # Each step reads from ``position`` and returns the next position, or None when it
    # needs more data (what is left is then kept in ``self._buffer``).

    def _process(self, data: bytes, *, final: bool) -> None:
        self._buffer = b""
        position = 0
        steps = {
            "raw": self._raw,
            "string": self._string,
            "comment": self._comment,
            "body": self._body,
            "inflate": self._inflate,
        }
        while position < len(data):
            next_position = steps[self._mode](data, position, final)
            if next_position is None:
                return
            position = next_position

    def _keep(self, data: bytes, start: int, final: bool) -> None:
        if not final:
            self._buffer = data[max(start, len(data) - _PDF_OVERLAP) :]

    def _raw(self, data: bytes, position: int, final: bool) -> int | None:
        match = _PDF_RAW_TOKEN.search(data, position)
        if match is None:
            self._keep(data, position, final)
            return None
        start = match.start()
        near_end = match.end() > len(data) - _PDF_OVERLAP
        if not final and near_end and len(data) - start < _PDF_OVERLAP * 2:
            self._buffer = data[start:]
            return None
        token = match.group(0)
        if token.startswith(b"stream") and start and data[start - 1] not in _PDF_DELIMITERS:
            return start + 1  # the end of a longer word ("endstream", "mystream")
        if token == b"(":
            self._mode, self._string_depth = "string", 1
        elif token == b"%":
            self._mode = "comment"
        elif token.startswith(b"/"):
            self._name(_pdf_name(match.group(1)))
        else:  # "stream" and its end of line
            self._start_stream()
        return match.end()

    def _string(self, data: bytes, position: int, final: bool) -> int | None:
        while True:
            match = _PDF_STRING_TOKEN.search(data, position)
            if match is None:
                return len(data)
            if match.group(0) == b"\\":
                if match.end() >= len(data):  # the escaped byte is in the next chunk
                    if not final:
                        self._buffer = b"\\"
                    return None
                position = match.end() + 1
                continue
            self._string_depth += 1 if match.group(0) == b"(" else -1
            position = match.end()
            if self._string_depth == 0:
                self._mode = "raw"
                return position

    def _comment(self, data: bytes, position: int, final: bool) -> int | None:
        match = _PDF_EOL.search(data, position)
        if match is None:
            return len(data)
        self._mode = "raw"
        return match.end()

    def _body(self, data: bytes, position: int, final: bool) -> int | None:
        end = data.find(b"endstream", position)
        hidden = _find_hidden_object(data, position, end if end >= 0 else len(data))
        if hidden >= 0:
            # An object inside stream data: read it like any other.
            self._mode = "raw"
            return hidden
        if end < 0:
            self._keep(data, position, final)
            return None
        self._mode = "raw"
        return end + len(b"endstream")

    def _name(self, name: str | None) -> None:
        if name is None:
            return
        if name in PDF_ACTIVE_NAMES:
            self.found.add(name)
        elif name == "Encrypt":
            self.encrypted = True
        elif name in PDF_FILTERS:
            self._filters.append(name)
        else:
            self._seen.add(name)

    def _start_stream(self) -> None:
        seen, filters = self._seen, self._filters
        self._seen, self._filters = set(), []
        self._mode = "body"
        # A reader takes any stream a cross-reference entry points to as an object
        # stream, whatever its /Type: recognise one by its required keys as well.
        if "ObjStm" not in seen and not {"First", "N"} <= seen:
            return
        self.object_streams += 1
        if "Filter" not in seen:
            self._mode = "raw"  # an uncompressed object stream: read it as it is
        elif filters in (["FlateDecode"], ["Fl"]) and "DecodeParms" not in seen:
            self._mode = "inflate"
            self._inflater = zlib.decompressobj()
            self._inner = _NameScanner(self.found)
        else:
            self.undecodable = True

    def _inflate(self, data: bytes, position: int, final: bool) -> int | None:
        pending = data[position:]
        try:
            while pending and not self._inflater.eof:
                output = self._inflater.decompress(pending, 1024 * 1024)
                self._inflated += len(output)
                if self._inflated > PDF_MAX_INFLATED:
                    raise zlib.error("object streams inflate beyond the limit")
                self._inner.feed(output)
                pending = self._inflater.unconsumed_tail
        except zlib.error:
            self.undecodable = True
            self._end_object_stream()
            return len(data) - len(pending) if pending else len(data)
        if self._inflater.eof:
            rest = self._inflater.unused_data
            self._end_object_stream()
            return len(data) - len(rest)
        return len(data)

    def _end_object_stream(self) -> None:
        if self._inner is not None:
            self._inner.feed(b"", final=True)
        self._inflater = None
        self._inner = None
        self._mode = "body"


class _TailFile(io.RawIOBase):
    """A read-only file of ``size`` bytes of which only the last ones are known.

    Enough for :class:`zipfile.ZipFile` to read the central directory at the end of
    an archive that was streamed past us; reading anything earlier is an error.
    """

    def __init__(self, tail: bytes, size: int) -> None:
        self._tail = tail
        self._size = size
        self._start = size - len(tail)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self._position < self._start:
            raise OSError("read before the kept tail of the archive")
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        data = self._tail[self._position - self._start : end - self._start]
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class ZipDocumentCheck(DeepCheck):
    """OpenDocument and Office Open XML: reads the central directory at the end.

    Keeps only the last :attr:`TAIL_BYTES` of the stream. Settles the kind of an
    Office package (docx, xlsx or pptx) and refuses macros and encrypted entries.
    """

    TAIL_BYTES = 2 * 1024 * 1024

    def __init__(self, file_type: FileType, *, filename: str = "") -> None:
        super().__init__(file_type, filename=filename)
        self._chunks: deque[bytes] = deque()
        self._kept = 0
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._chunks.append(chunk)
        self._kept += len(chunk)
        while self._chunks and self._kept - len(self._chunks[0]) >= self.TAIL_BYTES:
            self._kept -= len(self._chunks.popleft())

    def finish(self) -> FileType:
        tail = b"".join(self._chunks)
        try:
            with zipfile.ZipFile(_TailFile(tail, self.size)) as archive:
                entries = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error):
            raise _office_unreadable() from None
        names = [entry.filename for entry in entries]
        if any(entry.flag_bits & 0x1 for entry in entries):
            raise DomainError(
                _(
                    "Ce document est protégé par un mot de passe et son contenu ne peut pas "
                    "être vérifié. Enregistrez-en une copie sans protection puis réessayez."
                ),
                code="vault.office_encrypted",
            )
        final = self._odf(names) if self.file_type.family == "odf" else self._ooxml(names)
        extension = extension_of(self.filename)
        if extension and extension not in final.extensions:
            raise _type_mismatch(final.label, extension)
        return final

    def _odf(self, names: list[str]) -> FileType:
        if not names or names[0] != "mimetype" or "META-INF/manifest.xml" not in names:
            raise _office_unreadable()
        if any(name.startswith(("Basic/", "Scripts/")) for name in names):
            raise _office_macros()
        return self.file_type

    def _ooxml(self, names: list[str]) -> FileType:
        if "[Content_Types].xml" not in names:
            raise _office_unreadable()
        if any(name.lower().endswith("vbaproject.bin") for name in names):
            raise _office_macros()
        kinds = {OOXML_MAIN_PARTS[name] for name in names if name in OOXML_MAIN_PARTS}
        if len(kinds) != 1:
            raise _office_unreadable()
        return kinds.pop()


def _office_unreadable() -> DomainError:
    return DomainError(
        _(
            "Ce document bureautique est endommagé, incomplet ou d'un format que le coffre "
            "n'accepte pas."
        ),
        code="vault.office_unreadable",
    )


def _office_macros() -> DomainError:
    return DomainError(
        _(
            "Ce document contient des macros, que le coffre n'accepte pas. Enregistrez-le "
            "sans macros (docx, xlsx, pptx ou OpenDocument) puis réessayez."
        ),
        code="vault.office_macros",
    )


def deep_check_for(file_type: FileType, *, filename: str = "") -> DeepCheck:
    """The deep check ``file_type`` needs; feed it the whole stream, head included."""
    if file_type is PDF:
        return PdfCheck(file_type, filename=filename)
    if file_type is TEXT:
        return TextCheck(file_type, filename=filename)
    if file_type.family in {"odf", "ooxml"}:
        return ZipDocumentCheck(file_type, filename=filename)
    return _NoDeepCheck(file_type, filename=filename)


# --- Both, with the size limit ----------------------------------------------------------------


class ContentCheck:
    """Size limit, :func:`sniff` and the deep check over one stream of chunks.

    ``feed`` raises as soon as the answer is known to be no: over the size limit, or
    a head that is not an accepted type. ``finish`` returns the final
    :class:`FileType`. Memory stays bounded whatever the file size.
    """

    def __init__(self, *, filename: str, max_bytes: int | None = None) -> None:
        self.filename = filename
        self.max_bytes = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
        self.size = 0
        self.file_type: FileType | None = None
        self._head = b""
        self._deep: DeepCheck | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise file_too_large(self.max_bytes)
        if self._deep is not None:
            self._deep.feed(chunk)
            return
        self._head += chunk
        if len(self._head) >= HEAD_BYTES:
            self._start()

    def finish(self) -> FileType:
        if self.size == 0:
            raise file_empty()
        if self._deep is None:
            self._start()
        return self._deep.finish()

    def _start(self) -> None:
        self.file_type = sniff(self._head[:HEAD_BYTES], filename=self.filename)
        self._deep = deep_check_for(self.file_type, filename=self.filename)
        head, self._head = self._head, b""
        self._deep.feed(head)
