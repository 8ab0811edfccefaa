"""Classification: the rule table, expiry dates, customer rules, consent, OCR, the panel."""

from __future__ import annotations

import io
import time
from datetime import date

import pytest
from django.urls import reverse

from accounts.models import Consent
from audit.models import Event
from tests.conftest import require_service
from tests.vault import corpus
from tests.vault.factories import UserFactory, document_store
from vault import classification, extraction, rules
from vault.models import ClassificationRule, Document, DocumentType, ScanStatus

T = DocumentType


# --- The rule table (pure) -------------------------------------------------------------------

NAMES = [
    ("CNI_recto-verso.jpg", T.ID_CARD),
    ("carte d'identité.pdf", T.ID_CARD),
    ("Passeport Léa.jpg", T.PASSPORT),
    ("permis-de-conduire.png", T.DRIVING_LICENCE),
    ("Carte grise Clio.pdf", T.VEHICLE_REGISTRATION),
    ("certificat_immatriculation.pdf", T.VEHICLE_REGISTRATION),
    ("titre de séjour 2025.pdf", T.RESIDENCE_PERMIT),
    ("AvisImposition2024.pdf", T.TAX_NOTICE),
    ("avis d'impôt 2025 sur les revenus 2024.pdf", T.TAX_NOTICE),
    ("bulletin_de_paie_janvier.pdf", T.PAYSLIP),
    ("Fiche de paie 03-2025.pdf", T.PAYSLIP),
    ("quittance-loyer-mars.pdf", T.RENT_RECEIPT),
    ("Facture EDF 2025-01.pdf", T.INVOICE),
    ("attestation_caf.pdf", T.CAF_CERTIFICATE),
    ("attestation-droits-ameli.pdf", T.HEALTH_INSURANCE_CERTIFICATE),
    ("RIB La Banque.pdf", T.BANK_DETAILS),
    ("justificatif_de_domicile.pdf", T.PROOF_OF_ADDRESS),
    ("acte de naissance.pdf", T.BIRTH_CERTIFICATE),
    ("livret-de-famille.pdf", T.FAMILY_RECORD_BOOK),
    ("contrat de bail.pdf", T.CONTRACT),
]

TEXTS = [
    ("CARTE NATIONALE D'IDENTITÉ\nNom : DUPONT\nPrénom(s) : Léa", T.ID_CARD),
    ("RÉPUBLIQUE FRANÇAISE\nPASSEPORT / PASSPORT\nType P", T.PASSPORT),
    ("PERMIS DE CONDUIRE\n1. DUPONT 2. LÉA 4a. 01.02.2015", T.DRIVING_LICENCE),
    (
        "CERTIFICAT D'IMMATRICULATION\n(A) Numéro d'immatriculation AB-123-CD",
        T.VEHICLE_REGISTRATION,
    ),
    ("TITRE DE SÉJOUR\nCarte de séjour pluriannuelle", T.RESIDENCE_PERMIT),
    (
        "Direction générale des Finances publiques\nAVIS D'IMPÔT 2025\nImpôt sur le revenu\n"
        "Revenu fiscal de référence : 31 250",
        T.TAX_NOTICE,
    ),
    (
        "BULLETIN DE PAIE\nSalaire de base 2 100,00\nSalaire brut 2 300,00\n"
        "Net à payer avant impôt sur le revenu 1 812,40\nNet imposable 1 900,00",
        T.PAYSLIP,
    ),
    (
        "QUITTANCE DE LOYER\nJe soussigné, bailleur, déclare avoir reçu du locataire la somme "
        "de 750 € au titre du loyer et des charges.",
        T.RENT_RECEIPT,
    ),
    ("FACTURE N° 2025-0042\nTotal HT 100,00 €\nTVA 20 %\nTotal TTC 120,00 €", T.INVOICE),
    (
        "Caisse d'allocations familiales\nAttestation de paiement\nNuméro allocataire : 1234567",
        T.CAF_CERTIFICATE,
    ),
    (
        "l'Assurance Maladie\nATTESTATION DE DROITS\nameli.fr\nNuméro de sécurité sociale",
        T.HEALTH_INSURANCE_CERTIFICATE,
    ),
    (
        "RELEVÉ D'IDENTITÉ BANCAIRE\nTitulaire du compte : Léa Dupont\n"
        "IBAN FR76 3000 6000 0112 3456 7890 189\nBIC AGRIFRPP",
        T.BANK_DETAILS,
    ),
    ("ATTESTATION D'HÉBERGEMENT\nJe certifie héberger à mon domicile", T.PROOF_OF_ADDRESS),
    ("EXTRAIT D'ACTE DE NAISSANCE\nL'officier de l'état civil", T.BIRTH_CERTIFICATE),
    ("LIVRET DE FAMILLE\nÉpoux : DUPONT", T.FAMILY_RECORD_BOOK),
    ("CONTRAT DE TRAVAIL À DURÉE INDÉTERMINÉE\nEntre les soussignés", T.CONTRACT),
]

NOTHING_TO_SUGGEST = [
    ("scan001.pdf", ""),
    ("IMG_20250101_120000.jpg", ""),
    ("lettre.pdf", "Bonjour, veuillez trouver ma lettre de motivation pour le poste."),
    ("notes.txt", "Liste de courses : pain, lait, café."),
    # Words inside other words are not words: "cni" in "technique", "rib" in "tribunal",
    # "caf" in "cafetière", "bail" in "baille".
    ("fiche technique.pdf", "Le tribunal ; la cafetière ; il baille"),
]


@pytest.mark.parametrize(("filename", "expected"), NAMES)
def test_file_names_of_the_common_french_documents(filename, expected):
    guess = rules.classify(filename=filename)

    assert guess is not None and guess.doc_type == expected
    assert guess.confidence >= 55


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_texts_of_the_common_french_documents(text, expected):
    guess = rules.classify(filename="document.pdf", text=text, text_method="pdf")

    assert guess is not None and guess.doc_type == expected
    assert "read:pdf" in guess.reasons


@pytest.mark.parametrize(("filename", "text"), NOTHING_TO_SUGGEST)
def test_nothing_is_suggested_without_a_clear_sign(filename, text):
    assert rules.classify(filename=filename, text=text) is None


def test_the_text_beats_a_weak_file_name_and_a_payslip_is_not_a_tax_notice():
    """A payslip mentions "impôt sur le revenu" (withholding): it stays a payslip."""
    guess = rules.classify(
        filename="impots.pdf",
        text="Bulletin de salaire\nNet à payer avant impôt sur le revenu\nSalaire brut",
    )

    assert guess.doc_type == T.PAYSLIP


def test_two_close_candidates_lower_the_confidence():
    clear = rules.classify(filename="facture.pdf", text="Facture\nTotal TTC 12 €")
    ambiguous = rules.classify(filename="facture quittance.pdf")

    assert clear.confidence >= 80
    assert ambiguous.confidence < clear.confidence


def test_normalisation_ignores_case_accents_and_punctuation():
    assert rules.normalize("Carte_Nationale-d'IDENTITÉ") == "carte nationale d identite"
    assert rules.normalize_name("AvisImpot2024.pdf") == "avis impot 2024"
    assert rules.contains_phrase("la quittance de loyer", "quittance")
    assert not rules.contains_phrase("quittances", "quittance")


# --- Expiry dates --------------------------------------------------------------------------

EXPIRY_SAMPLES = [
    ("Date d'expiration : 12/03/2031", date(2031, 3, 12)),
    ("DATE D'EXPIRATION 12.03.2031", date(2031, 3, 12)),
    ("Date d'expir. / Date of expiry\n12 03 2031", date(2031, 3, 12)),
    ("Attestation valable jusqu'au 30 septembre 2026", date(2026, 9, 30)),
    ("Valable jusqu’au 1er avril 2030.", date(2030, 4, 1)),
    ("Fin de validité : 2029-11-05", date(2029, 11, 5)),
    ("4b. Date d'expiration 05-06-33", date(2033, 6, 5)),
    ("Expire le 31 déc. 2027", date(2027, 12, 31)),
]


@pytest.mark.parametrize(("text", "expected"), EXPIRY_SAMPLES)
def test_expiry_dates_the_documents_state(text, expected):
    assert rules.expiry_from_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Date de délivrance : 12/03/2021",  # an issue date is not an expiry
        "Date d'expiration : 31/02/2031",  # no such day
        "Date d'expiration : 12/03/1850",  # misread
        "Facture du 12/03/2025, échéance le 12/04/2025",
        "Date d'expiration : voir au verso. " + "Texte. " * 20 + "12/03/2031",  # too far
    ],
)
def test_no_expiry_is_guessed_from_other_dates(text):
    assert rules.expiry_from_text(text) is None


# ICAO 9303 part 4 and 5 specimens (check digits as published).
PASSPORT_MRZ = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
ID_CARD_MRZ = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)


def test_passport_machine_readable_zone_gives_type_and_expiry():
    guess = rules.classify(filename="scan.jpg", text=PASSPORT_MRZ, text_method="ocr")

    assert guess.doc_type == T.PASSPORT
    assert guess.expires_on == date(2012, 4, 15)
    assert "mrz" in guess.reasons


def test_identity_card_machine_readable_zone_read_with_stray_spaces():
    ocr_like = ID_CARD_MRZ.replace("7408122F", "7408 122F")

    mrz = rules.read_mrz(ocr_like)

    assert mrz == rules.MRZ(T.ID_CARD, date(2012, 4, 15))


def test_a_wrong_check_digit_gives_no_expiry():
    damaged = PASSPORT_MRZ.replace("1204159", "1204158")

    mrz = rules.read_mrz(damaged)

    assert mrz is None or mrz.expires_on is None


def test_the_zone_wins_over_a_printed_date():
    text = "PASSEPORT\nDate d'expiration : 01/01/2030\n" + PASSPORT_MRZ

    assert rules.classify(filename="x.jpg", text=text).expires_on == date(2012, 4, 15)


def test_a_date_alone_is_still_suggested():
    guess = rules.classify(filename="scan.pdf", text="Valable jusqu'au 15/07/2027")

    assert guess.doc_type == "" and guess.expires_on == date(2027, 7, 15)


# --- Customer rules (pure) -------------------------------------------------------------------


def test_a_customer_rule_wins_over_the_table_and_brings_its_tag():
    own = [rules.CustomerRule(pk=1, pattern="Mutuelle Horizon", doc_type=T.CONTRACT, tag="Santé")]

    guess = rules.classify(
        filename="facture.pdf", text="MUTUELLE HORIZON — facture", customer_rules=own
    )

    assert (guess.doc_type, guess.tag, guess.confidence) == (T.CONTRACT, "Santé", 100)
    assert guess.reasons[0] == "rule:mutuelle horizon"


def test_customer_rules_ignore_accents_and_prefer_the_longest_pattern():
    own = [
        rules.CustomerRule(pk=1, pattern="ecole", doc_type=T.OTHER),
        rules.CustomerRule(pk=2, pattern="École Jules Ferry", doc_type=T.CONTRACT),
    ]

    guess = rules.classify(filename="inscription ecole jules ferry.pdf", customer_rules=own)

    assert guess.doc_type == T.CONTRACT


def test_a_customer_pattern_is_never_a_regular_expression():
    """GIVEN a rule full of regular-expression syntax WHEN a long hostile text is classified
    THEN it matches only its literal words, in linear time."""
    own = [rules.CustomerRule(pk=1, pattern="(a+)+$ banque.*", doc_type=T.BANK_DETAILS)]
    hostile = "a" * 50_000 + "!"

    started = time.monotonic()
    assert rules.match_customer_rule(own, name="", text=rules.normalize(hostile)) is None
    assert rules.match_customer_rule(own, name="", text="a banque") is not None
    assert time.monotonic() - started < 1


# --- Services (database) ---------------------------------------------------------------------


def stored(owner, content: bytes, name: str, **fields) -> Document:
    """A clean document named ``name`` (title too), typed from its extension."""
    if name.endswith(".txt"):
        fields.setdefault("content_type", "text/plain")
    return document_store(owner=owner, content=content, title=name, original_name=name, **fields)


def consent(user, granted=True):
    return classification.classification_consent_set(user=user, granted=granted)


def events(user, action):
    return list(Event.objects.filter(chain_key=f"user:{user.pk}", action=action).order_by("seq"))


@pytest.mark.django_db
def test_a_clean_pdf_is_classified_from_its_text_layer():
    owner = UserFactory()
    consent(owner)
    document = stored(owner, corpus.pdf(), "scan.pdf")

    classification.document_classify(document_id=document.pk)

    document.refresh_from_db()
    assert document.suggested_doc_type == T.TAX_NOTICE  # "Avis d'imposition 2025"
    assert document.suggestion_confidence >= 55
    assert document.suggested_at is not None
    assert document.doc_type == T.OTHER  # nothing changes until the customer confirms
    [event] = events(owner, "vault.classification_suggested")
    assert event.data["doc_type"] == "tax_notice" and event.data["read"] == "pdf"


@pytest.mark.django_db
def test_a_pdf_from_a_real_producer_is_read():
    owner = UserFactory()
    consent(owner)
    document = stored(owner, corpus.pdf_from_weasyprint(), "document.pdf")

    classification.document_classify(document_id=document.pk)

    assert Document.objects.get(pk=document.pk).suggested_doc_type == T.PAYSLIP


@pytest.mark.django_db
def test_no_classification_without_consent():
    owner = UserFactory()
    document = stored(owner, corpus.pdf(), "avis.pdf")

    classification.document_classify(document_id=document.pk)

    document.refresh_from_db()
    assert document.suggested_at is None and document.suggested_doc_type == ""
    assert not events(owner, "vault.classification_suggested")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ScanStatus.PENDING_SCAN, ScanStatus.INFECTED])
def test_never_on_a_document_not_declared_clean(status):
    owner = UserFactory()
    consent(owner)
    document = stored(owner, corpus.pdf(), "avis.pdf", scan_status=status)

    classification.document_classify(document_id=document.pk)

    assert Document.objects.get(pk=document.pk).suggested_at is None


@pytest.mark.django_db
def test_a_document_is_classified_once_even_when_nothing_is_recognised():
    owner = UserFactory()
    consent(owner)
    document = stored(owner, b"Bonjour\n", "notes.txt")

    classification.document_classify(document_id=document.pk)
    classification.document_classify(document_id=document.pk)

    document.refresh_from_db()
    assert document.suggested_at is not None and document.suggested_doc_type == ""
    assert len(events(owner, "vault.classification_suggested")) == 1


@pytest.mark.django_db
def test_the_customer_rule_is_used_by_the_service():
    owner = UserFactory()
    consent(owner)
    classification.classification_rule_create(
        owner=owner,
        pattern="Mutuelle Horizon",
        doc_type=T.HEALTH_INSURANCE_CERTIFICATE,
        tag="Santé",
    )
    document = stored(owner, b"Mutuelle HORIZON\nEcheancier 2025\n", "courrier.txt")

    classification.document_classify(document_id=document.pk)

    document.refresh_from_db()
    assert document.suggested_doc_type == T.HEALTH_INSURANCE_CERTIFICATE
    assert document.suggested_tag == "Santé"


@pytest.mark.django_db
def test_rules_are_validated():
    owner = UserFactory()
    classification.classification_rule_create(owner=owner, pattern="Ma banque", doc_type=T.OTHER)

    for pattern, code in [
        ("!", "vault.rule_pattern_invalid"),
        ("x" * 101, "vault.rule_pattern_invalid"),
        ("MA BANQUE", "vault.rule_duplicate"),
    ]:
        with pytest.raises(classification.DomainError) as caught:
            classification.classification_rule_create(
                owner=owner, pattern=pattern, doc_type=T.OTHER
            )
        assert caught.value.code == code
    with pytest.raises(classification.DomainError) as caught:
        classification.classification_rule_create(owner=owner, pattern="abc", doc_type="nope")
    assert caught.value.code == "vault.classification_bad_type"
    assert ClassificationRule.objects.filter(owner=owner).count() == 1


@pytest.mark.django_db
def test_confirming_applies_the_suggestion_and_its_tag():
    owner = UserFactory()
    consent(owner)
    classification.classification_rule_create(
        owner=owner, pattern="passeport", doc_type=T.PASSPORT, tag="Identité"
    )
    document = stored(owner, b"PASSEPORT\nDate d'expiration : 12/03/2031\n", "passeport.txt")
    classification.document_classify(document_id=document.pk)
    document.refresh_from_db()

    classification.suggestion_confirm(
        document=document, acting_user=owner, doc_type=T.PASSPORT, expires_on=date(2031, 3, 12)
    )

    document.refresh_from_db()
    assert (document.doc_type, document.expires_on) == (T.PASSPORT, date(2031, 3, 12))
    assert [tag.name for tag in document.tags.all()] == ["Identité"]
    assert document.classification_confirmed_at is not None
    [event] = events(owner, "vault.classification_confirmed")
    assert event.data["corrected"] is False and event.data["tag"] == "Identité"


@pytest.mark.django_db
def test_correcting_records_what_was_suggested():
    owner = UserFactory()
    consent(owner)
    document = stored(owner, corpus.pdf(), "avis.pdf")
    classification.document_classify(document_id=document.pk)
    document.refresh_from_db()

    classification.suggestion_confirm(
        document=document, acting_user=owner, doc_type=T.PAYSLIP, expires_on=None
    )

    [event] = events(owner, "vault.classification_confirmed")
    assert event.data["corrected"] is True
    assert event.data["suggested_doc_type"] == "tax_notice"
    assert Document.objects.get(pk=document.pk).doc_type == T.PAYSLIP


@pytest.mark.django_db
def test_another_customer_cannot_confirm():
    owner, intruder = UserFactory(), UserFactory()
    document = document_store(owner=owner)

    with pytest.raises(classification.InvalidState):
        classification.suggestion_confirm(
            document=document, acting_user=intruder, doc_type=T.OTHER, expires_on=None
        )


@pytest.mark.django_db
def test_withdrawing_consent_clears_pending_suggestions_and_stops_classification():
    """GIVEN two suggestions, one confirmed WHEN the customer withdraws the consent
    THEN the unconfirmed one is erased, the confirmed one stays, and a document stored
    later is not read."""
    owner = UserFactory()
    consent(owner)
    pending = stored(owner, corpus.pdf(), "avis.pdf")
    confirmed = stored(owner, corpus.pdf(), "avis2.pdf")
    for document in (pending, confirmed):
        classification.document_classify(document_id=document.pk)
    confirmed.refresh_from_db()
    classification.suggestion_confirm(
        document=confirmed, acting_user=owner, doc_type=T.TAX_NOTICE, expires_on=None
    )

    consent(owner, granted=False)
    later = stored(owner, corpus.pdf(), "avis3.pdf")
    classification.document_classify(document_id=later.pk)

    pending.refresh_from_db()
    confirmed.refresh_from_db()
    later.refresh_from_db()
    assert pending.suggested_at is None and pending.suggested_doc_type == ""
    assert confirmed.doc_type == T.TAX_NOTICE and confirmed.suggested_doc_type == T.TAX_NOTICE
    assert later.suggested_at is None
    [cleared] = events(owner, "vault.classification_suggestions_cleared")
    assert cleared.data == {"count": 1}
    assert not classification.classification_allowed(owner)
    latest = Consent.objects.filter(user=owner).order_by("-created_at", "-pk").first()
    assert latest.granted is False


@pytest.mark.django_db
def test_the_sweeper_picks_only_documents_whose_owner_consented():
    from datetime import timedelta

    from django.utils import timezone

    yes, no, withdrawn = UserFactory(), UserFactory(), UserFactory()
    consent(yes)
    consent(withdrawn)
    consent(withdrawn, granted=False)
    wanted = document_store(owner=yes)
    document_store(owner=yes, scan_status=ScanStatus.PENDING_SCAN)
    document_store(owner=no)
    document_store(owner=withdrawn)

    later = timezone.now() + timedelta(seconds=5)
    assert classification.pending_classification_ids(later, 10) == [wanted.pk]
    classification.pending_classification_enqueued([wanted.pk])
    assert (
        classification.pending_classification_ids(timezone.now() - timedelta(seconds=1), 10) == []
    )


# --- Extraction bounds and OCR ------------------------------------------------------------------


def tesseract_with_french() -> bool:
    import subprocess

    if not extraction.ocr_available():
        return False
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, check=False)
    return "fra" in (listed.stdout + listed.stderr).decode().split()


@pytest.fixture
def tesseract():
    require_service(
        "tesseract with French data",
        tesseract_with_french(),
        "apt-get install tesseract-ocr tesseract-ocr-fra",
    )


def text_image(lines: list[str], *, size=(1400, 420)):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    for index, line in enumerate(lines):
        draw.text((40, 40 + 80 * index), line, font=font, fill=(0, 0, 0))
    return image


def encoded(image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_photographed_passport_is_read_by_ocr(tesseract):
    owner = UserFactory()
    consent(owner)
    photo = encoded(text_image(["PASSEPORT", "Date d'expiration : 12/03/2031"]), "JPEG")
    document = stored(owner, photo, "IMG_0042.jpg", content_type="image/jpeg")

    classification.document_classify(document_id=document.pk)

    document.refresh_from_db()
    assert document.suggested_doc_type == T.PASSPORT
    assert document.suggested_expires_on == date(2031, 3, 12)
    assert "read:ocr" in document.suggestion_reason


def test_a_scanned_pdf_without_text_layer_goes_through_ocr(tesseract):
    scan = encoded(text_image(["QUITTANCE DE LOYER", "Mars 2025"]), "PDF")

    result = extraction.extract_text(content=scan, content_type="application/pdf")

    assert result.method == "ocr"
    assert rules.classify(filename="scan.pdf", text=result.text).doc_type == T.RENT_RECEIPT


def test_an_oversized_image_is_never_decoded(monkeypatch):
    """A decompression bomb (a small file declaring a huge picture) is skipped at once."""
    from PIL import Image

    calls = []
    monkeypatch.setattr(extraction.shutil, "which", lambda name: "/usr/bin/tesseract")
    monkeypatch.setattr(extraction, "run_tesseract", lambda *a, **k: calls.append(a) or "")
    bomb = encoded(Image.new("1", (9000, 9000)), "PNG")
    assert len(bomb) < 200_000

    assert extraction.ocr_image_bytes(bomb) == ""
    assert calls == []


def test_damaged_and_oversized_content_gives_no_text():
    assert not extraction.extract_text(content=b"%PDF-1.7\ngarbage", content_type="application/pdf")
    assert not extraction.extract_text(
        content=b"x" * (extraction.MAX_BYTES + 1), content_type="text/plain"
    )
    assert extraction.read_bounded(iter([b"a" * 10, b"b" * 10]), limit=15) is None


def test_without_tesseract_images_are_classified_on_their_name(monkeypatch):
    monkeypatch.setattr(extraction.shutil, "which", lambda name: None)

    assert extraction.ocr_image_bytes(encoded(text_image(["PASSEPORT"]), "PNG")) == ""


# --- Pages ------------------------------------------------------------------------------------


@pytest.fixture
def customer(client):
    from tests.vault.access_helpers import activated_customer

    user = activated_customer(verified_email=True)
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_consent_page_grants_and_withdraws(client, customer):
    url = reverse("vault:classification")
    assert client.get(url).status_code == 200

    refused = client.post(url, {"action": "grant"})
    assert refused.status_code == 400 and not classification.classification_allowed(customer)

    client.post(url, {"action": "grant", "consent-accept": "on"})
    assert classification.classification_allowed(customer)
    consent_row = Consent.objects.filter(user=customer, purpose="classification").latest("pk")
    assert consent_row.wording == str(classification.CONSENT_WORDING)

    client.post(url, {"action": "withdraw"})
    assert not classification.classification_allowed(customer)


@pytest.mark.django_db
def test_rules_page_adds_and_deletes_a_rule(client, customer):
    url = reverse("vault:classification")
    response = client.post(
        url,
        {"action": "rule", "rule-pattern": "Mutuelle", "rule-doc_type": "contract", "rule-tag": ""},
    )
    assert response.status_code == 302
    rule = ClassificationRule.objects.get(owner=customer)

    bad = client.post(url, {"action": "rule", "rule-pattern": "?", "rule-doc_type": "contract"})
    assert bad.status_code == 400
    assert "lettres ou chiffres" in bad.content.decode()

    other = UserFactory()
    foreign = classification.classification_rule_create(
        owner=other, pattern="abc", doc_type="other"
    )
    url_foreign = reverse("vault:classification_rule_delete", args=[foreign.pk])
    assert client.post(url_foreign).status_code == 404

    client.post(reverse("vault:classification_rule_delete", args=[rule.pk]))
    assert not ClassificationRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.django_db
def test_the_panel_offers_the_suggestion_and_the_answer_is_saved(client, customer, rf):
    from django.template.loader import render_to_string

    from vault.views.classification import classification_panel

    consent(customer)
    document = stored(customer, b"PASSEPORT\nDate d'expiration : 12/03/2031\n", "p.txt")
    classification.document_classify(document_id=document.pk)
    document = Document.objects.prefetch_related("tags").get(pk=document.pk)
    request = rf.get("/")
    request.user = customer

    panel = classification_panel(request, document)
    html = render_to_string("vault/classification_panel.html", {"panel": panel}, request=request)

    assert panel["state"] == "suggestion"
    assert "Passeport" in html and "12 mars 2031" in html
    assert 'value="2031-03-12"' in html

    url = reverse("vault:classification_answer", args=[document.uuid])
    invalid = client.post(url, {"classification-doc_type": "nope", "action": "confirm"})
    assert invalid.status_code == 400
    response = client.post(
        url,
        {
            "classification-doc_type": "passport",
            "classification-expires_on": "2031-03-12",
            "action": "confirm",
        },
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.doc_type == T.PASSPORT and document.expires_on == date(2031, 3, 12)
    assert classification_panel(request, document)["state"] == "none"


@pytest.mark.django_db
def test_the_panel_says_when_classification_is_off(customer, rf):
    from vault.views.classification import classification_panel

    document = document_store(owner=customer)
    request = rf.get("/")
    request.user = customer

    assert classification_panel(request, document)["state"] == "off"


@pytest.mark.django_db
def test_another_customers_document_is_404_on_the_answer_url(client, customer):
    document = document_store(owner=UserFactory())

    response = client.post(
        reverse("vault:classification_answer", args=[document.uuid]), {"action": "dismiss"}
    )

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_withdrawal_recorded_elsewhere_is_caught_up_by_the_sweeper():
    """GIVEN a suggestion WHEN the consent is withdrawn through the accounts service
    directly (another page) THEN the sweeper finds the document and its task clears it."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import consent_record

    owner, keeps = UserFactory(), UserFactory()
    consent(owner)
    consent(keeps)
    document = stored(owner, corpus.pdf(), "avis.pdf")
    kept = stored(keeps, corpus.pdf(), "avis.pdf")
    for each in (document, kept):
        classification.document_classify(document_id=each.pk)
    consent_record(
        user=owner, purpose=Consent.Purpose.CLASSIFICATION, granted=False, wording="Non merci."
    )

    later = timezone.now() + timedelta(seconds=5)
    assert classification.orphan_suggestion_ids(later, 10) == [document.pk]
    assert classification.orphan_suggestions_clear(document_id=document.pk) == 1

    assert Document.objects.get(pk=document.pk).suggested_at is None
    assert Document.objects.get(pk=kept.pk).suggested_doc_type == T.TAX_NOTICE
    assert classification.orphan_suggestion_ids(later, 10) == []
