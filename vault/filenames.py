"""Safe names for the files customers give the vault.

A file name arrives from a browser, an email attachment or another app, and it comes
back out in ``Content-Disposition`` headers, export ZIPs and pages. :func:`clean_filename`
turns it into a name that is safe everywhere, or refuses it with a clear message:

* directories are dropped (``../``, absolute paths, Windows backslashes and drive
  letters): only the last component is kept, as browsers on Windows may send the
  whole path;
* a NUL byte or a bidirectional control (U+202E RIGHT-TO-LEFT OVERRIDE and friends)
  is refused: they exist to make a name read as something it is not
  (``facture<RLO>fdp.exe`` displays as ``factureexe.pdf``);
* other control characters become spaces, other invisible format characters are
  removed, whitespace runs collapse to one space;
* Unicode is normalised to NFC (macOS sends decomposed accents);
* characters Windows cannot store (``<>:"|?*``) become ``_``; leading dots and
  trailing dots and spaces go (hidden files, Windows quirks);
* Windows reserved device names (``CON``, ``NUL``, ``COM1``...) and names left empty
  are refused;
* the result is at most :data:`MAX_FILENAME_BYTES` bytes of UTF-8, shortened in the
  stem so that the extension survives.

:func:`extension_of` gives the extension the type sniffer compares with the content
(``vault/sniffing.py``).
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _

from mynetspace.core.errors import DomainError

#: Longest name kept, in bytes of UTF-8 (the limit of most file systems).
MAX_FILENAME_BYTES = 255

#: Longest suffix treated as an extension (".jpeg", ".xlsx", ".heic"...).
MAX_EXTENSION_LENGTH = 8

#: Bidirectional controls: embeddings, overrides, isolates and marks. They reorder
#: what the reader sees; no honest file name needs them.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: Joiners are format characters too, but scripts and emoji need them.
KEPT_FORMAT_CHARACTERS = frozenset("\u200c\u200d")

WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)
EXTENSION = re.compile(rf"\.([A-Za-z0-9]{{1,{MAX_EXTENSION_LENGTH}}})\Z")


def clean_filename(name: str) -> str:
    """Return a safe version of ``name``, or raise a ``DomainError``.

    Codes: ``vault.filename_nul``, ``vault.filename_bidi``, ``vault.filename_empty``,
    ``vault.filename_reserved``.
    """
    name = name or ""
    if "\x00" in name:
        raise DomainError(
            _("Le nom du fichier contient un caractère nul : renommez le fichier puis réessayez."),
            code="vault.filename_nul",
        )
    if any(char in BIDI_CONTROLS for char in name):
        raise DomainError(
            _(
                "Le nom du fichier contient des caractères qui inversent le sens de lecture "
                "et peuvent déguiser son type : renommez le fichier puis réessayez."
            ),
            code="vault.filename_bidi",
        )

    name = unicodedata.normalize("NFC", name)
    # Keep the last path component, whatever the separator.
    name = re.split(r"[\\/]", name)[-1]
    if re.match(r"[A-Za-z]:", name):  # "C:document.pdf", a drive-relative path
        name = name[2:]

    characters = []
    for char in name:
        category = unicodedata.category(char)
        if category == "Cc" or char in "\u2028\u2029":
            characters.append(" ")
        elif category == "Cf" and char not in KEPT_FORMAT_CHARACTERS:
            continue
        else:
            characters.append(char)
    name = "".join(characters)
    name = WINDOWS_FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", " ", name)
    name = name.strip(" ").lstrip(".").rstrip(". ").strip(" ")

    if not name or not name.strip("._-"):
        raise DomainError(
            _("Le nom du fichier est vide une fois nettoyé : donnez-lui un nom puis réessayez."),
            code="vault.filename_empty",
        )
    if name.split(".", 1)[0].rstrip(" ").lower() in WINDOWS_RESERVED:
        raise DomainError(
            _("« %(name)s » est un nom réservé par Windows : renommez le fichier puis réessayez.")
            % {"name": name},
            code="vault.filename_reserved",
        )
    return _shorten(name)


def extension_of(name: str) -> str:
    """The lower-case extension of ``name`` without its dot, or ``""``.

    Only a short alphanumeric suffix containing a letter counts: "Relevé 12.03" has
    no extension, "scan.JPEG" has "jpeg".
    """
    match = EXTENSION.search(name or "")
    if not match or not re.search(r"[A-Za-z]", match.group(1)):
        return ""
    return match.group(1).lower()


def ensure_extension(name: str, extension: str) -> str:
    """``name`` ending with ``.extension`` (added when the name has no extension).

    Used to give a download the extension of its sniffed type, so that "scan" stored
    as a PDF downloads as "scan.pdf".
    """
    if not extension or extension_of(name):
        return name
    return _shorten(f"{name}.{extension}")


def _shorten(name: str) -> str:
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        return name
    extension = extension_of(name)
    suffix = f".{extension}" if extension else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = MAX_FILENAME_BYTES - len(suffix.encode())
    encoded = stem.encode()[:budget]
    # Cut on a character boundary (never inside a UTF-8 sequence).
    stem = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    return f"{stem}{suffix}"
