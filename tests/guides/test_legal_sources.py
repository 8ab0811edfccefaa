"""The repository sources of the legal texts: complete, and saying what the law asks."""

from __future__ import annotations

import pytest

from guides.legal_sources import (
    LegalSourceError,
    load_source,
    parse_source,
    placeholder_values,
    substitute,
)
from guides.models import LegalDocument
from guides.rendering import render_markdown


@pytest.mark.parametrize("kind", LegalDocument.Kind.values)
def test_every_text_exists_in_both_languages_without_leftover_placeholders(kind):
    source = load_source(kind)

    for lang in ("fr", "en"):
        text = source.texts[lang]
        assert text.title and text.summary and text.body
        assert "{{" not in text.body and "}}" not in text.body
        assert "<h1" not in render_markdown(text.body)


def test_sources_use_the_company_identity_from_settings(settings):
    settings.COMPANY_NAME = "Acme Démarches SAS"
    settings.COMPANY_SIREN = "123 456 789"
    settings.COMPANY_PUBLISHER = "Camille Martin"
    settings.COMPANY_HOST = "Hébergeur Exemple, 1 rue du Nuage, Paris"

    body = load_source("mentions-legales").texts["fr"].body

    for value in ("Acme Démarches SAS", "123 456 789", "Camille Martin", "Hébergeur Exemple"):
        assert value in body


def test_terms_carry_the_mandatory_consumer_information(settings):
    settings.MEDIATOR_NAME = "Médiateur Exemple"
    settings.MEDIATOR_URL = "https://mediateur.example/"
    body = load_source("cgv").texts["fr"].body

    for expected in [
        "service privé et payant",
        "https://www.service-public.fr/",
        "/tarifs/",
        "toutes taxes comprises",
        "au plus tôt trois mois et au plus tard un mois avant l'échéance",
        "Renoncer au contrat ici",
        "Confirmer la rétractation",
        "/retractation/",
        "quatorze jours",
        "montant proportionnel",
        "Résilier votre contrat",
        "/resilier/",
        "Confirmer ma demande de résiliation",
        "satisfait ou remboursé",
        "une seule fois par client",
        "Médiateur Exemple",
        "https://mediateur.example/",
        "droit français",
    ]:
        assert expected.lower() in body.lower(), expected


def test_satisfaction_promise_is_separate_from_the_legal_rights():
    body = load_source("cgv").texts["fr"].body
    promise = body[body.index("# 9.") : body.index("# 10.")]

    assert "ne remplace ni ne limite" in promise
    assert "rétractation" not in promise.lower()


def test_privacy_policy_states_retention_and_rights():
    body = load_source("confidentialite").texts["fr"].body

    for expected in ["5 ans", "10 ans", "CNIL", "Nous ne vendons ni ne louons", "ZIP", "Clore"]:
        assert expected in body, expected


def test_withdrawal_form_follows_the_statutory_model(settings):
    settings.COMPANY_NAME = "Acme Démarches SAS"
    body = load_source("formulaire-retractation").texts["fr"].body

    for expected in [
        "Veuillez compléter et renvoyer le présent formulaire uniquement si vous souhaitez "
        "vous rétracter du contrat.",
        "À l'attention de Acme Démarches SAS",
        r"Je/nous (\*) vous notifie/notifions (\*) par la présente ma/notre (\*) rétractation "
        r"du contrat portant sur la vente du bien (\*)/pour la prestation de services (\*) "
        "ci-dessous :",
        r"Commandé le (\*)/reçu le (\*) :",
        "Nom du (des) consommateur(s) :",
        "Adresse du (des) consommateur(s) :",
        "Signature du (des) consommateur(s) (uniquement en cas de notification du présent "
        "formulaire sur papier) :",
        "Date :",
        r"(\*) Rayez la mention inutile.",
    ]:
        assert expected in body, expected


def test_charter_has_the_six_commitments():
    body = load_source("charte").texts["fr"].body
    for heading in [
        "# 1. Satisfaction",
        "# 2. Transparence",
        "# 3. Confidentialité",
        "# 4. Qualité",
        "# 5. Sécurité",
        "# 6. Traçabilité",
    ]:
        assert heading in body


def test_vault_information_describes_mechanisms_and_guarantees():
    body = load_source("information-coffre").texts["fr"].body
    for expected in ["AES-256-GCM", "SHA-256", "antivirus", "une seule demande", "douze mois"]:
        assert expected in body, expected


def test_unknown_placeholder_is_an_error():
    with pytest.raises(LegalSourceError, match="SECRET_KEY"):
        substitute("Clé : {{SECRET_KEY}}", placeholder_values())


@pytest.mark.parametrize(
    "raw",
    [
        "pas d'en-tête",
        "---\ntitle: Titre\nsans fin d'en-tête",
        "---\nsummary: x\n---\nTexte",
        "---\ntitle: Titre\nauteur: moi\n---\nTexte",
        "---\ntitle: Titre\n---\n   ",
    ],
)
def test_malformed_sources_are_refused(raw):
    with pytest.raises(LegalSourceError):
        parse_source(raw)
