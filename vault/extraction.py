"""Text out of a document, for classification: PDF text layer, OCR of images.

Everything happens in memory: the plaintext comes from :func:`vault.blobs.blob_open`
and is never written to disk. OCR runs the ``tesseract`` program (when it is
installed) with the image on its standard input and the text on its standard
output, so no temporary file holds a customer's document either.

The work is bounded, because documents are hostile until proven otherwise (and a
clean scan proves little about a PDF parser's running time):

- documents larger than :data:`MAX_BYTES` are not read at all (the file name is
  still classified);
- only the first :data:`MAX_PDF_PAGES` pages of a PDF are read, and only
  :data:`MAX_TEXT_CHARS` characters kept; pypdf caps every decompressed stream;
- images larger than :data:`MAX_OCR_PIXELS` are skipped (a decompression bomb never
  gets decoded), others are reduced to :data:`OCR_MAX_SIDE` pixels on their longest
  side; tesseract gets :data:`OCR_TIMEOUT_SECONDS` and one thread per image.

Any failure of a parser means "no text": classification then relies on the name.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Largest document whose content is read for classification.
MAX_BYTES = 20 * 1024 * 1024
#: Pages of a PDF whose text layer is read.
MAX_PDF_PAGES = 5
#: Pages of a PDF without a text layer whose images go through OCR.
MAX_OCR_PAGES = 2
#: Characters of text kept (rules only need the first page or two).
MAX_TEXT_CHARS = 100_000
#: Largest image (width x height) decoded for OCR.
MAX_OCR_PIXELS = 40_000_000
#: Longest side, in pixels, of the image handed to tesseract.
OCR_MAX_SIDE = 3500
#: Seconds one tesseract run may take.
OCR_TIMEOUT_SECONDS = 30
#: Language data tesseract uses (package tesseract-ocr-fra).
OCR_LANGUAGE = "fra"
#: A PDF page with fewer characters than this is treated as a scan (OCR is tried).
MIN_TEXT_LAYER_CHARS = 20

PDF = "application/pdf"
OCR_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/tiff"})
TEXT_TYPES = frozenset({"text/plain"})


@dataclass(frozen=True)
class Extraction:
    """The text read from a document and how: ``pdf``, ``ocr``, ``text`` or ``""``."""

    text: str = ""
    method: str = ""

    def __bool__(self) -> bool:
        return bool(self.text.strip())


NOTHING = Extraction()


def ocr_available() -> bool:
    """True when the ``tesseract`` program is on the PATH."""
    return shutil.which("tesseract") is not None


def read_bounded(chunks: Iterable[bytes], *, limit: int = MAX_BYTES) -> bytes | None:
    """The concatenated chunks, or None as soon as they exceed ``limit`` bytes."""
    buffer = bytearray()
    for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > limit:
            return None
    return bytes(buffer)


def extract_text(*, content: bytes, content_type: str) -> Extraction:
    """The text of a document's plaintext ``content`` (see the module docstring)."""
    if len(content) > MAX_BYTES:
        return NOTHING
    if content_type == PDF:
        return _pdf_text(content)
    if content_type in OCR_IMAGE_TYPES:
        return Extraction(ocr_image_bytes(content), "ocr")
    if content_type in TEXT_TYPES:
        return Extraction(
            content[: MAX_TEXT_CHARS * 4].decode("utf-8", "replace")[:MAX_TEXT_CHARS], "text"
        )
    return NOTHING


# --- PDF -----------------------------------------------------------------------------------


def _pdf_reader(content: bytes):
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(content), strict=False)
    if reader.is_encrypted:
        # The upload pipeline refuses encrypted PDFs; an owner-password-only one opens.
        reader.decrypt("")
    return reader


def _pdf_text(content: bytes) -> Extraction:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = _pdf_reader(content)
            pages = list(reader.pages[:MAX_PDF_PAGES])
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        logger.info("PDF text layer unreadable: %s: %s", type(exc).__name__, exc)
        return NOTHING
    parts: list[str] = []
    length = 0
    for page in pages:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                text = page.extract_text() or ""
        except Exception as exc:
            logger.info("PDF page text unreadable: %s: %s", type(exc).__name__, exc)
            continue
        parts.append(text)
        length += len(text)
        if length >= MAX_TEXT_CHARS:
            break
    text = "\n".join(parts)[:MAX_TEXT_CHARS]
    if len(text.strip()) >= MIN_TEXT_LAYER_CHARS or not ocr_available():
        return Extraction(text, "pdf") if text.strip() else NOTHING
    # A scan saved as PDF: read the pictures of its first pages.
    scanned = _pdf_images_text(pages[:MAX_OCR_PAGES])
    if scanned.strip():
        return Extraction(scanned[:MAX_TEXT_CHARS], "ocr")
    return Extraction(text, "pdf") if text.strip() else NOTHING


def _pdf_page_images(page) -> list:
    """The image objects drawn directly by ``page`` whose size is acceptable."""
    images = []
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources is not None else None
        xobjects = xobjects.get_object() if xobjects is not None else None
        if not xobjects:
            return images
        for name in list(xobjects.keys())[:8]:
            stream = xobjects[name].get_object()
            if stream.get("/Subtype") != "/Image":
                continue
            width, height = int(stream.get("/Width", 0)), int(stream.get("/Height", 0))
            if 0 < width * height <= MAX_OCR_PIXELS:
                images.append(stream)
    except Exception as exc:
        logger.info("PDF page images unreadable: %s: %s", type(exc).__name__, exc)
    return images


def _pdf_images_text(pages) -> str:
    texts = []
    for page in pages:
        for stream in _pdf_page_images(page)[:2]:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    image = stream.decode_as_image()
            except Exception as exc:
                logger.info("PDF image undecodable: %s: %s", type(exc).__name__, exc)
                continue
            if image is not None:
                texts.append(ocr_image(image))
    return "\n".join(text for text in texts if text)


# --- OCR -------------------------------------------------------------------------------------


def ocr_image_bytes(content: bytes) -> str:
    """OCR of an encoded image (JPEG, PNG, WebP, TIFF); "" when impossible or too big."""
    if not ocr_available():
        return ""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs: both mean "skip".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            width, height = image.size
            if width * height > MAX_OCR_PIXELS:
                logger.info("Image of %sx%s pixels not read by OCR", width, height)
                return ""
            image.load()
    except Exception as exc:
        logger.info("Image undecodable for OCR: %s: %s", type(exc).__name__, exc)
        return ""
    return ocr_image(image)


def ocr_image(image) -> str:
    """OCR of a decoded Pillow image: reduced, grey, PNG-encoded in memory, to tesseract."""
    executable = shutil.which("tesseract")
    if executable is None:
        return ""
    try:
        width, height = image.size
        if width * height > MAX_OCR_PIXELS:
            return ""
        image = image.convert("L")
        if max(width, height) > OCR_MAX_SIDE:
            image.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    except Exception as exc:
        logger.info("Image not convertible for OCR: %s: %s", type(exc).__name__, exc)
        return ""
    return run_tesseract(buffer.getvalue(), executable=executable)


def run_tesseract(png: bytes, *, executable: str | None = None) -> str:
    """Run tesseract on one PNG image, from standard input to standard output."""
    executable = executable or shutil.which("tesseract")
    if executable is None:
        return ""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # One thread: a worker runs several tasks, and OpenMP threads slow them all.
        "OMP_THREAD_LIMIT": "1",
    }
    if "TESSDATA_PREFIX" in os.environ:
        env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
    try:
        completed = subprocess.run(
            [executable, "-", "-", "-l", OCR_LANGUAGE],
            input=png,
            capture_output=True,
            timeout=OCR_TIMEOUT_SECONDS,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        logger.warning("tesseract took more than %s s, OCR abandoned", OCR_TIMEOUT_SECONDS)
        return ""
    except OSError as exc:
        logger.warning("tesseract could not run: %s", exc)
        return ""
    if completed.returncode != 0:
        logger.warning(
            "tesseract failed (%s): %s",
            completed.returncode,
            completed.stderr.decode("utf-8", "replace")[:300],
        )
        return ""
    return completed.stdout.decode("utf-8", "replace")[:MAX_TEXT_CHARS]
