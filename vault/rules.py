"""The classification rules: which words point to which kind of French document.

Pure functions, no database: :func:`classify` takes a file name, the text read
from the document (vault/extraction.py) and the customer's own rules, and returns
a :class:`Guess` (type, confidence, expiry date, reasons), or None.

Matching works on *normalised* text (:func:`normalize`): lower case, accents
removed, every run of characters other than letters and digits turned into one
space. A phrase matches when it appears with word boundaries on both sides. No
regular expression is built from a customer's words: a rule is a plain phrase,
matched in linear time (no ReDoS).

Scores: each type has phrases with a weight, separately for the file name and for
the text. A type's score is the best name phrase plus the sum of distinct text
phrases (a machine-readable zone adds more), capped at 100. The best type wins if
it reaches :data:`MIN_SCORE`; the confidence drops when a second type comes close.
A customer's rule always wins over the built-in table.

Expiry dates: a date following "date d'expiration", "valable jusqu'au", "fin de
validité"... (numeric, "12 03 2031" or "12 mars 2031"), or the expiry field of a
passport or identity card machine-readable zone (checked with its check digit).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from .models import DocumentType

#: Below this score, nothing is suggested.
MIN_SCORE = 45
#: Highest confidence the built-in table gives (a customer's rule gives RULE_CONFIDENCE).
MAX_CONFIDENCE = 95
RULE_CONFIDENCE = 100
#: A runner-up within this many points makes the suggestion less certain.
CLOSE_MARGIN = 15
#: Characters of text the rules look at.
MAX_RULE_TEXT = 100_000

_SEPARATORS = re.compile(r"[^0-9a-z]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """« Carte_Nationale-d'Identité » -> « carte nationale d identite »."""
    text = strip_accents(text or "").casefold()
    # Ligatures and letters NFKD leaves whole.
    text = text.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return " ".join(_SEPARATORS.split(text)).strip()


def normalize_name(name: str) -> str:
    """A file name split on case and digit changes too: « AvisImpot2024 » -> « avis impot 2024 »."""
    stem = name.rsplit(".", 1)[0] if "." in (name or "") else (name or "")
    return normalize(_CAMEL.sub(" ", strip_accents(stem)))


def contains_phrase(haystack: str, phrase: str) -> bool:
    """Whether normalised ``phrase`` occurs in normalised ``haystack`` as whole words."""
    if not phrase:
        return False
    return f" {phrase} " in f" {haystack} "


# --- The built-in table ----------------------------------------------------------------


@dataclass(frozen=True)
class TypeRule:
    doc_type: str
    name: dict[str, int]
    text: dict[str, int]

    def __post_init__(self) -> None:
        # Plain strings: the type goes into events (canonical JSON) and comparisons.
        object.__setattr__(self, "doc_type", str(self.doc_type))


T = DocumentType

TYPE_RULES: tuple[TypeRule, ...] = (
    TypeRule(
        T.ID_CARD,
        name={
            "cni": 70,
            "carte identite": 70,
            "carte d identite": 70,
            "carte nationale d identite": 75,
            "carte nationale identite": 75,
            "piece d identite": 55,
            "piece identite": 55,
        },
        text={
            "carte nationale d identite": 80,
            "carte d identite": 60,
            "identity card": 40,
        },
    ),
    TypeRule(
        T.PASSPORT,
        name={"passeport": 75, "passport": 70},
        text={"passeport": 70, "passport": 40},
    ),
    TypeRule(
        T.DRIVING_LICENCE,
        name={"permis de conduire": 75, "permis conduire": 75, "permis": 55},
        text={"permis de conduire": 80, "driving licence": 40, "driving license": 40},
    ),
    TypeRule(
        T.VEHICLE_REGISTRATION,
        name={
            "carte grise": 75,
            "certificat d immatriculation": 75,
            "certificat immatriculation": 75,
            "immatriculation": 55,
        },
        text={
            "certificat d immatriculation": 80,
            "carte grise": 60,
            "numero d immatriculation": 30,
        },
    ),
    TypeRule(
        T.RESIDENCE_PERMIT,
        name={"titre de sejour": 75, "titre sejour": 75, "carte de resident": 70},
        text={"titre de sejour": 80, "carte de resident": 70, "residence permit": 50},
    ),
    TypeRule(
        T.TAX_NOTICE,
        name={
            "avis d imposition": 75,
            "avis imposition": 75,
            "avis d impot": 75,
            "avis impot": 75,
            "avis de situation declarative": 70,
            "taxe fonciere": 65,
            "taxe d habitation": 65,
            "impots": 55,
            "impot": 55,
        },
        text={
            "avis d imposition": 60,
            "avis d impot": 60,
            "avis de situation declarative": 60,
            "impot sur le revenu": 35,
            "revenu fiscal de reference": 50,
            "direction generale des finances publiques": 30,
            "taxe fonciere": 50,
            "taxe d habitation": 50,
            "numero fiscal": 20,
        },
    ),
    TypeRule(
        T.PAYSLIP,
        name={
            "bulletin de salaire": 75,
            "bulletin salaire": 75,
            "bulletin de paie": 75,
            "bulletin paie": 75,
            "fiche de paie": 75,
            "fiche paie": 75,
            "salaire": 55,
            "paie": 55,
        },
        text={
            "bulletin de salaire": 70,
            "bulletin de paie": 70,
            "fiche de paie": 60,
            "net a payer": 40,
            "salaire brut": 40,
            "salaire de base": 30,
            "net imposable": 30,
            "cotisations salariales": 30,
        },
    ),
    TypeRule(
        T.RENT_RECEIPT,
        name={"quittance de loyer": 75, "quittance loyer": 75, "quittance": 65, "loyer": 50},
        text={
            "quittance de loyer": 80,
            "quittance": 50,
            "loyer": 25,
            "bailleur": 15,
            "locataire": 15,
            "provision pour charges": 15,
        },
    ),
    TypeRule(
        T.INVOICE,
        name={"facture": 65, "invoice": 65},
        text={
            "facture": 45,
            "invoice": 40,
            "total ttc": 25,
            "montant ttc": 25,
            "total ht": 15,
            "numero de facture": 20,
        },
    ),
    TypeRule(
        T.CAF_CERTIFICATE,
        name={"attestation caf": 75, "caf": 65, "allocations familiales": 60},
        text={
            "caisse d allocations familiales": 70,
            "allocations familiales": 40,
            "caf": 35,
            "allocataire": 30,
            "quotient familial": 30,
            "attestation de paiement": 20,
        },
    ),
    TypeRule(
        T.HEALTH_INSURANCE_CERTIFICATE,
        name={
            "ameli": 70,
            "attestation de droits": 65,
            "attestation droits": 65,
            "assurance maladie": 60,
            "attestation securite sociale": 65,
            "cpam": 60,
        },
        text={
            "assurance maladie": 50,
            "ameli": 45,
            "attestation de droits": 45,
            "caisse primaire d assurance maladie": 40,
            "cpam": 30,
            "numero de securite sociale": 20,
        },
    ),
    TypeRule(
        T.BANK_DETAILS,
        name={
            "rib": 70,
            "releve d identite bancaire": 75,
            "releve identite bancaire": 75,
            "iban": 55,
        },
        text={
            "releve d identite bancaire": 80,
            "rib": 45,
            "iban": 25,
            "bic": 15,
            "titulaire du compte": 20,
            "code banque": 20,
            "code guichet": 20,
            "cle rib": 20,
        },
    ),
    TypeRule(
        T.PROOF_OF_ADDRESS,
        name={
            "justificatif de domicile": 75,
            "justificatif domicile": 75,
            "attestation d hebergement": 75,
            "attestation hebergement": 75,
            "attestation de domicile": 70,
        },
        text={
            "justificatif de domicile": 70,
            "attestation d hebergement": 70,
            "attestation de domicile": 60,
            "attestation de residence": 50,
        },
    ),
    TypeRule(
        T.BIRTH_CERTIFICATE,
        name={"acte de naissance": 75, "acte naissance": 75, "extrait de naissance": 70},
        text={
            "extrait d acte de naissance": 80,
            "acte de naissance": 75,
            "officier de l etat civil": 25,
        },
    ),
    TypeRule(
        T.FAMILY_RECORD_BOOK,
        name={"livret de famille": 75, "livret famille": 75},
        text={"livret de famille": 75},
    ),
    TypeRule(
        T.CONTRACT,
        name={"contrat": 55, "bail": 55},
        text={
            "contrat de travail": 60,
            "contrat de location": 60,
            "entre les soussignes": 30,
            "contrat": 25,
            "bail": 20,
        },
    ),
)
del T

#: Score a valid machine-readable zone adds to its type.
MRZ_WEIGHT = 60


# --- Expiry dates ------------------------------------------------------------------------

_MONTHS = {
    "janvier": 1,
    "janv": 1,
    "fevrier": 2,
    "fevr": 2,
    "fev": 2,
    "mars": 3,
    "avril": 4,
    "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "juil": 7,
    "aout": 8,
    "septembre": 9,
    "sept": 9,
    "octobre": 10,
    "oct": 10,
    "novembre": 11,
    "nov": 11,
    "decembre": 12,
    "dec": 12,
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))

#: Words after which a document states its end of validity (lower case, no accents).
_EXPIRY_WORDS = re.compile(
    r"date d.?expiration|date de fin de validite|fin de validite|valable jusqu.?(?:au|a)"
    r"|valide jusqu.?(?:au|a)|expire le|date of expiry|expiry date|valid until|expiration"
)
#: How far after those words the date may be (labels in two languages, a colon...).
_EXPIRY_WINDOW = 60
_DATE_PATTERNS = (
    # 12/03/2031, 12.03.2031, 12-03-31
    ("dmy", re.compile(r"\b(\d{1,2}) ?[/.\-] ?(\d{1,2}) ?[/.\-] ?(\d{4}|\d{2})\b")),
    # 2031-03-12
    ("ymd", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    # 12 03 2031 (the visual zone of passports and identity cards)
    ("dmy", re.compile(r"\b(\d{2}) (\d{2}) (\d{4})\b")),
    # 12 mars 2031, 1er avril 2030
    ("dmy_name", re.compile(r"\b(\d{1,2})(?:er)? (" + _MONTH_NAMES + r")\.? (\d{4})\b")),
)
#: Plausible expiry years (a guess outside is a misread).
MIN_YEAR, MAX_YEAR = 1990, 2100


def _make_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _first_date(window: str) -> date | None:
    found: list[tuple[int, date]] = []
    for kind, pattern in _DATE_PATTERNS:
        match = pattern.search(window)
        if match is None:
            continue
        a, b, c = match.groups()
        if kind == "ymd":
            value = _make_date(int(a), int(b), int(c))
        elif kind == "dmy_name":
            value = _make_date(int(c), _MONTHS[b], int(a))
        else:
            value = _make_date(int(c), int(b), int(a))
        if value is not None:
            found.append((match.start(), value))
    return min(found)[1] if found else None


def expiry_from_text(text: str) -> date | None:
    """The date following the first « date d'expiration » (or similar) that has one."""
    lowered = strip_accents(text[:MAX_RULE_TEXT]).casefold()
    # Keep the punctuation dates need, fold other runs of blanks into one space.
    lowered = re.sub(r"[ \t\r\n\xa0]+", " ", lowered)
    for match in _EXPIRY_WORDS.finditer(lowered):
        window = lowered[match.end() : match.end() + _EXPIRY_WINDOW]
        value = _first_date(window)
        if value is not None:
            return value
    return None


# --- Machine-readable zones (ICAO 9303) ---------------------------------------------------

_MRZ_LINE = re.compile(r"^[A-Z0-9<]{28,46}$")
#: TD3 (passport) second line: number, check, nationality, birth, check, sex, expiry, check.
_TD3_LINE2 = re.compile(r"^[A-Z0-9<]{9}\d[A-Z<]{3}(\d{6})(\d)[MFX<](\d{6})(\d)")
#: TD1 (identity card since 2021, residence permit) second line.
_TD1_LINE2 = re.compile(r"^(\d{6})(\d)[MFX<](\d{6})(\d)[A-Z<]{3}")


def mrz_check_digit(value: str) -> int:
    """ICAO 9303 check digit (weights 7, 3, 1; letters A=10..Z=35, < = 0)."""
    total = 0
    for index, char in enumerate(value):
        if char.isdigit():
            number = int(char)
        elif "A" <= char <= "Z":
            number = ord(char) - 55
        else:
            number = 0
        total += number * (7, 3, 1)[index % 3]
    return total % 10


@dataclass(frozen=True)
class MRZ:
    doc_type: str
    expires_on: date | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "doc_type", str(self.doc_type))


def _mrz_date(value: str) -> date | None:
    year, month, day = int(value[:2]), int(value[2:4]), int(value[4:])
    return _make_date(2000 + year, month, day)


def read_mrz(text: str) -> MRZ | None:
    """The type and expiry of a passport or identity card from its machine-readable zone.

    OCR often reads the zone with stray spaces; lines are compacted first. The
    expiry counts only when its check digit is right.
    """
    lines = []
    for raw_line in text[:MAX_RULE_TEXT].splitlines():
        compact = raw_line.replace(" ", "").upper()
        if _MRZ_LINE.match(compact):
            lines.append(compact)
    for index, line in enumerate(lines):
        if line.startswith("P") and line[1:2] in ("<", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
            doc_type = DocumentType.PASSPORT
            pattern = _TD3_LINE2
        elif line.startswith(("ID", "I<")):
            doc_type = DocumentType.ID_CARD
            pattern = _TD1_LINE2
        else:
            continue
        expires_on = None
        for following in lines[index + 1 : index + 3]:
            match = pattern.match(following)
            if match is None:
                continue
            birth, birth_check, expiry, expiry_check = match.groups()
            if mrz_check_digit(birth) == int(birth_check) and mrz_check_digit(expiry) == int(
                expiry_check
            ):
                expires_on = _mrz_date(expiry)
                break
        if expires_on is not None or line.startswith(("P<FRA", "IDFRA")):
            return MRZ(doc_type, expires_on)
    return None


# --- Classifying --------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRule:
    """A customer's rule as the engine sees it (see ``ClassificationRule``)."""

    pk: int
    pattern: str
    doc_type: str
    tag: str = ""


@dataclass(frozen=True)
class Guess:
    """What the rules suggest. ``reasons`` are stored (``Document.suggestion_reason``)."""

    doc_type: str = ""
    confidence: int = 0
    expires_on: date | None = None
    tag: str = ""
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason_text(self) -> str:
        """Reasons as stored: ``name:<phrase>``, ``text:<phrase>``, ``mrz``, ``rule:<pattern>``."""
        text = ";".join(self.reasons)
        return text[:255]


def _score(doc_rule: TypeRule, name: str, text: str) -> tuple[int, list[str]]:
    reasons: list[str] = []
    best_name = 0
    best_phrase = ""
    for phrase, weight in doc_rule.name.items():
        if weight > best_name and contains_phrase(name, phrase):
            best_name, best_phrase = weight, phrase
    if best_phrase:
        reasons.append(f"name:{best_phrase}")
    text_score = 0
    matched = [phrase for phrase in doc_rule.text if contains_phrase(text, phrase)]
    # A phrase inside a longer matched one counts once ("quittance" in "quittance de loyer").
    for phrase in matched:
        if any(phrase != other and contains_phrase(other, phrase) for other in matched):
            continue
        text_score += doc_rule.text[phrase]
        reasons.append(f"text:{phrase}")
    return best_name + text_score, reasons


def match_customer_rule(
    rules: Sequence[CustomerRule], *, name: str, text: str
) -> CustomerRule | None:
    """The customer's rule that applies: the longest pattern found in the name or text."""
    ordered = sorted(rules, key=lambda rule: (-len(normalize(rule.pattern)), rule.pk))
    for rule in ordered:
        pattern = normalize(rule.pattern)
        if contains_phrase(name, pattern) or contains_phrase(text, pattern):
            return rule
    return None


def classify(
    *,
    filename: str,
    text: str = "",
    customer_rules: Iterable[CustomerRule] = (),
    title: str = "",
    text_method: str = "",
) -> Guess | None:
    """Suggest a type (and an expiry date) for a document; None when nothing fits.

    ``filename`` and ``title`` are matched against the name phrases, ``text``
    against the text phrases. ``text_method`` (``pdf``, ``ocr``, ``text``) is kept
    among the reasons so the customer knows what was read.
    """
    text = text[:MAX_RULE_TEXT]
    name = " ".join(part for part in (normalize_name(filename), normalize(title)) if part)
    normalized_text = normalize(text)
    expires_on = expiry_from_text(text) if text else None
    mrz = read_mrz(text) if text else None
    if mrz is not None and mrz.expires_on is not None:
        expires_on = mrz.expires_on
    read_with = (f"read:{text_method}",) if text_method and normalized_text else ()

    rules = list(customer_rules)
    rule = match_customer_rule(rules, name=name, text=normalized_text) if rules else None
    if rule is not None:
        return Guess(
            doc_type=rule.doc_type,
            confidence=RULE_CONFIDENCE,
            expires_on=expires_on,
            tag=rule.tag,
            reasons=(f"rule:{normalize(rule.pattern)}", *read_with),
        )

    scores: list[tuple[int, str, list[str]]] = []
    for doc_rule in TYPE_RULES:
        score, reasons = _score(doc_rule, name, normalized_text)
        if mrz is not None and mrz.doc_type == doc_rule.doc_type:
            score += MRZ_WEIGHT
            reasons.append("mrz")
        if score:
            scores.append((min(score, 100), doc_rule.doc_type, reasons))
    scores.sort(key=lambda item: -item[0])
    if not scores or scores[0][0] < MIN_SCORE:
        if expires_on is None:
            return None
        # No type, but a date worth suggesting.
        return Guess(expires_on=expires_on, reasons=read_with)
    best, doc_type, reasons = scores[0]
    confidence = min(best, MAX_CONFIDENCE)
    if len(scores) > 1 and scores[1][0] >= best - CLOSE_MARGIN:
        confidence = max(confidence - 20, 1)
    return Guess(
        doc_type=doc_type,
        confidence=confidence,
        expires_on=expires_on,
        reasons=(*reasons, *read_with),
    )
