"""Consents: accepting the terms and privacy policy at signup, and each new version."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Consent, User
from audit.context import RequestMeta
from audit.models import AppendOnlyError, ContentVersion, Event
from guides.models import LegalDocument
from mynetspace.core.errors import DomainError

from .factories import (
    PASSWORD,
    StaffFactory,
    UserFactory,
    accept_current_texts,
    publish_legal,
    publish_required_texts,
)

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
SIGNUP_URL = "/accounts/signup/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing a password the production way takes half a second; not what we test here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _current(purpose: str) -> ContentVersion:
    return selectors.legal_version_in_force(purpose, language="fr")


def _signup_data(email="lea@example.org", *, terms=True, privacy=True, versions=None) -> dict:
    versions = versions or {
        purpose: _current(purpose).version for purpose in selectors.REQUIRED_PURPOSES
    }
    data = {
        "email": email,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "version_terms": str(versions["terms"]),
        "version_privacy": str(versions["privacy"]),
    }
    if terms:
        data["accept_terms"] = "on"
    if privacy:
        data["accept_privacy"] = "on"
    return data


def _post_signup(client, data):
    return client.post(SIGNUP_URL, data, REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=BROWSER)


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _chain_events(user, action_prefix="consent."):
    return list(
        Event.objects.filter(
            chain_key=f"user:{user.pk}", action__startswith=action_prefix
        ).order_by("seq")
    )


# --- Signup ---------------------------------------------------------------------------------


def test_signup_page_offers_both_texts_with_their_version_and_a_link(client):
    publish_required_texts()

    page = client.get(SIGNUP_URL).content.decode()

    assert 'name="accept_terms"' in page
    assert 'name="accept_privacy"' in page
    assert "conditions générales de vente (version 1 du" in page
    assert "politique de confidentialité (version 1 du" in page
    assert 'href="/cgv/"' in page
    assert 'href="/confidentialite/"' in page


def test_signup_records_each_acceptance_with_version_hash_time_ip_and_browser(client):
    """GIVEN the terms (published twice) and privacy policy in force
    WHEN a person signs up, ticking both boxes
    THEN one Consent per text holds the exact version, its hash, the sentence shown,
    the time, IP address and user agent, and one consent.granted event each.
    """
    publish_required_texts()
    publish_legal(LegalDocument.Kind.TERMS, body_fr="# 1. Objet\n\nNouveau texte.")
    before = timezone.now()

    response = _post_signup(client, _signup_data())

    assert response.status_code == 302
    user = User.objects.get(email="lea@example.org")
    consents = {c.purpose: c for c in Consent.objects.filter(user=user)}
    assert set(consents) == {"terms", "privacy"}
    for purpose, consent in consents.items():
        shown = _current(purpose)
        assert consent.granted
        assert consent.content_version == shown
        assert (consent.document_key, consent.version, consent.sha256) == (
            shown.key,
            shown.version,
            shown.sha256,
        )
        assert consent.ip == "203.0.113.7"
        assert consent.user_agent == BROWSER
        assert before <= consent.created_at <= timezone.now()
    assert consents["terms"].version == 2
    assert consents["terms"].wording.startswith(
        "J'ai lu et j'accepte les conditions générales de vente (version 2 du "
    )
    assert "politique de confidentialité (version 1 du" in consents["privacy"].wording

    events = _chain_events(user)
    assert [e.action for e in events] == ["consent.granted", "consent.granted"]
    by_purpose = {e.data["purpose"]: e for e in events}
    for purpose, event in by_purpose.items():
        consent = consents[purpose]
        assert event.data == {
            "purpose": purpose,
            "key": consent.document_key,
            "version": consent.version,
            "sha256": consent.sha256,
        }
        assert (event.target_type, event.target_id) == ("accounts.consent", str(consent.pk))
        assert (event.ip, event.user_agent, event.actor_id) == ("203.0.113.7", BROWSER, user.pk)


@pytest.mark.parametrize(
    ("terms", "privacy", "field"),
    [(False, True, "accept_terms"), (True, False, "accept_privacy"), (False, False, None)],
)
def test_signup_without_both_acceptances_creates_nothing(client, terms, privacy, field):
    publish_required_texts()

    response = _post_signup(client, _signup_data(terms=terms, privacy=privacy))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Cochez cette case pour accepter" in page
    if field:
        # The error is announced with its field: aria-describedby names it.
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', page)
        assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in page
    assert not User.objects.filter(email="lea@example.org").exists()
    assert not Consent.objects.exists()


def test_signup_is_refused_with_a_clear_message_when_no_terms_are_published(client):
    response = _post_signup(client, _signup_data(versions={"terms": 1, "privacy": 1}))

    assert response.status_code == 200
    assert "ne sont pas encore publiés" in response.content.decode()
    assert not User.objects.filter(email="lea@example.org").exists()
    assert not Consent.objects.exists()


def test_signup_refuses_a_version_published_after_the_page_was_shown(client):
    """GIVEN a person who saw version 1 of the terms
    WHEN version 2 is published before they submit
    THEN nothing is stored and the page now shows version 2 to accept.
    """
    publish_required_texts()
    shown = _signup_data()
    publish_legal(LegalDocument.Kind.TERMS, body_fr="# 1. Objet\n\nTexte modifié.")

    response = _post_signup(client, shown)

    page = _text(response)
    assert response.status_code == 200
    assert "Une nouvelle version de ce texte vient d'être publiée" in page
    assert "conditions générales de vente (version 2 du" in page
    assert re.search(r'name="version_terms" value="2"', page)
    assert not User.objects.filter(email="lea@example.org").exists()


def test_a_failure_while_recording_consents_leaves_no_account(client, monkeypatch):
    """GIVEN the second consent fails to be stored
    WHEN a person signs up
    THEN the user, its email address, the first consent and its event are all rolled back.
    """
    from allauth.account.models import EmailAddress

    publish_required_texts()
    real = services.consent_record
    calls = []

    def failing(**kwargs):
        calls.append(kwargs["purpose"])
        if len(calls) == 2:
            raise IntegrityError("simulated failure")
        return real(**kwargs)

    monkeypatch.setattr(services, "consent_record", failing)
    client.raise_request_exception = True

    with pytest.raises(IntegrityError):
        _post_signup(client, _signup_data())

    assert calls == ["terms", "privacy"]
    assert not User.objects.filter(email="lea@example.org").exists()
    assert not EmailAddress.objects.exists()
    assert not Consent.objects.exists()
    assert not Event.objects.filter(action__startswith="consent.").exists()


# --- The service and selectors --------------------------------------------------------------


def test_consent_record_needs_the_version_of_the_right_text():
    publish_required_texts()
    user = UserFactory()

    with pytest.raises(DomainError) as missing:
        services.consent_record(user=user, purpose="terms", granted=True, wording="Oui.")
    with pytest.raises(DomainError) as mismatch:
        services.consent_record(
            user=user,
            purpose="terms",
            granted=True,
            content_version=_current("privacy"),
            wording="Oui.",
        )
    with pytest.raises(DomainError) as no_wording:
        services.consent_record(
            user=user, purpose="terms", granted=True, content_version=_current("terms"), wording=""
        )

    assert missing.value.code == "consent_version_required"
    assert mismatch.value.code == "consent_version_mismatch"
    assert no_wording.value.code == "consent_wording_required"
    assert not Consent.objects.exists()


def test_withdrawing_a_consent_is_a_new_row_and_the_newest_answer_counts():
    user = UserFactory()
    meta = RequestMeta(ip="198.51.100.2", user_agent="Test", request_id="r1")

    services.consent_record(
        user=user, purpose="classification", granted=True, wording="J'accepte.", meta=meta
    )
    assert selectors.has_accepted_current(user, "classification")
    withdrawn = services.consent_record(
        user=user, purpose="classification", granted=False, wording="Je retire.", meta=meta
    )

    assert selectors.current_consent(user, "classification") == withdrawn
    assert not selectors.has_accepted_current(user, "classification")
    assert [e.action for e in _chain_events(user)] == ["consent.granted", "consent.withdrawn"]
    assert withdrawn.ip == "198.51.100.2"


def test_has_accepted_current_follows_new_versions():
    publish_required_texts()
    user = UserFactory()
    assert not selectors.has_accepted_current(user, "terms")

    accept_current_texts(user)
    assert selectors.has_accepted_current(user, "terms")
    assert selectors.has_accepted_current(user, "privacy")

    publish_legal(LegalDocument.Kind.TERMS, body_fr="Nouveau.")
    assert not selectors.has_accepted_current(user, "terms")
    assert selectors.has_accepted_current(user, "privacy")
    assert [s.pending for s in selectors.acceptance_status(user)] == [True, False]


def test_nothing_is_pending_while_no_text_is_published():
    user = UserFactory()

    assert not any(status.pending for status in selectors.acceptance_status(user))
    assert not selectors.has_accepted_current(user, "terms")


def test_consents_cannot_be_changed_or_deleted():
    publish_required_texts()
    user = UserFactory()
    accept_current_texts(user)
    consent = Consent.objects.first()

    consent.wording = "Autre chose"
    with pytest.raises(AppendOnlyError):
        consent.save()
    with pytest.raises(AppendOnlyError):
        Consent.objects.filter(pk=consent.pk).delete()


def test_database_refuses_to_change_consents(postgres):
    publish_required_texts()
    user = UserFactory()
    accept_current_texts(user)

    for statement in (
        "UPDATE accounts_consent SET wording = 'x'",
        "DELETE FROM accounts_consent",
        "TRUNCATE accounts_consent CASCADE",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            # Run the deferred foreign key checks of the inserts first: PostgreSQL
            # refuses TRUNCATE while they are pending, before any trigger fires.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(statement)
    assert Consent.objects.count() == 2


# --- Re-acceptance of a new version ----------------------------------------------------------


@pytest.fixture
def customer(client):
    """A logged-in customer who accepted version 1 of both texts."""
    publish_required_texts()
    user = UserFactory(verified_email=True)
    accept_current_texts(user)
    client.force_login(user)
    return user


def _publish_new_terms():
    return publish_legal(
        LegalDocument.Kind.TERMS,
        body_fr=(
            "# 1. Objet\n\nLe service est payant et indépendant de l'administration.\n\n"
            "# 2. Prix\n\nLe prix est de 12 euros TTC par mois."
        ),
        summary="Le prix mensuel passe à 12 euros.",
    )


def test_customer_is_asked_to_accept_new_terms_with_what_changed(client, customer):
    assert client.get("/espace/").status_code == 200
    _publish_new_terms()

    response = client.get("/espace/profil/?onglet=1")

    assert response.status_code == 302
    assert response["Location"] == "/espace/conditions/?next=%2Fespace%2Fprofil%2F%3Fonglet%3D1"
    page = client.get(response["Location"]).content.decode()
    assert "Vous aviez accepté la version 1. La version 2 est en vigueur" in page
    assert "Le prix mensuel passe à 12 euros." in page
    assert '<del><span class="visually-hidden">[début de la suppression] </span>10' in page
    assert '<ins><span class="visually-hidden">[début de l&#x27;ajout] </span>12' in page
    assert 'name="accept_terms"' in page
    assert 'name="accept_privacy"' not in page
    for way_out in ('href="/resilier/"', 'href="/espace/export/"', 'href="/espace/fermeture/"'):
        assert way_out in page


def test_accepting_records_the_new_version_and_returns_to_the_page(client, customer):
    publication = _publish_new_terms()

    response = client.post(
        "/espace/conditions/",
        {"accept_terms": "on", "version_terms": "2", "next": "/espace/profil/"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 302
    assert response["Location"] == "/espace/profil/"
    consent = selectors.current_consent(customer, "terms")
    assert (consent.version, consent.sha256) == (2, publication.french.sha256)
    assert (consent.ip, consent.user_agent) == ("203.0.113.9", BROWSER)
    assert client.get("/espace/profil/").status_code == 200


def test_accepting_without_ticking_records_nothing(client, customer):
    _publish_new_terms()

    response = client.post("/espace/conditions/", {"version_terms": "2", "next": "/espace/"})

    assert response.status_code == 400
    assert "Cochez cette case pour accepter la nouvelle version" in response.content.decode()
    assert selectors.current_consent(customer, "terms").version == 1


def test_an_outside_next_address_is_ignored(client, customer):
    _publish_new_terms()

    response = client.post(
        "/espace/conditions/",
        {"accept_terms": "on", "version_terms": "2", "next": "https://evil.example/"},
    )

    assert response["Location"] == reverse("dashboard")


@pytest.mark.parametrize(
    "path",
    [
        "/resilier/",
        "/cgv/",
        "/cgv/versions/",
        "/cgv/versions/1/",
        "/cgv/diff/?de=1&a=2",
        "/confidentialite/",
        "/espace/conditions/",
        "/accounts/reauthenticate/",
    ],
)
def test_pages_needed_to_decide_or_leave_stay_reachable(client, customer, path):
    _publish_new_terms()

    response = client.get(path)

    assert response.status_code == 200, response.get("Location")


@pytest.mark.parametrize("path", ["/espace/export/", "/espace/fermeture/"])
def test_leaving_with_ones_data_is_not_gated(client, customer, path):
    """Someone who refuses the new terms can still take their data and close the account
    (those pages may ask to reauthenticate first, never to accept)."""
    _publish_new_terms()

    response = client.get(path)

    assert response.status_code in (200, 302)
    assert "/espace/conditions/" not in response.get("Location", "")


def test_logout_stays_reachable(client, customer):
    _publish_new_terms()

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert "/espace/conditions/" not in response["Location"]
    assert "_auth_user_id" not in client.session


def test_staff_are_not_gated(client):
    publish_required_texts()
    _publish_new_terms()
    staff = StaffFactory(verified_email=True)
    client.force_login(staff)

    response = client.get("/espace/")

    assert response.status_code != 302 or "/espace/conditions/" not in response["Location"]


def test_customer_who_never_accepted_is_asked_too(client):
    publish_required_texts()
    user = UserFactory(verified_email=True)
    client.force_login(user)

    response = client.get("/espace/", follow=True)

    page = response.content.decode()
    assert response.redirect_chain[0][0].startswith("/espace/conditions/")
    assert "Vous n'avez pas encore accepté ce texte" in page
    assert 'name="accept_terms"' in page and 'name="accept_privacy"' in page


def test_consents_page_lists_past_acceptances_when_nothing_is_pending(client, customer):
    response = client.get("/espace/conditions/")

    page = _text(response)
    assert response.status_code == 200
    assert "Mes acceptations" in page
    assert page.count("J'ai lu et j'accepte ce texte.") == 2


def test_gate_costs_one_query_per_page(client, customer, django_assert_num_queries):
    """The check runs on every page of a customer: one query, whatever the history."""
    status = selectors.acceptance_status(customer)
    with django_assert_num_queries(1):
        status = selectors.acceptance_status(customer)
    assert not any(s.pending for s in status)
    assert customer.date_joined <= timezone.now() + dt.timedelta(seconds=1)
