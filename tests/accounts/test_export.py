"""Data export (GDPR art. 15 and 20): everything about the person, nothing about others."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.urls import reverse
from django.utils import timezone

from accounts import exports
from accounts.models import Consent, Profile, ProfileChange
from audit.emails import email_queue, inbound_email_store
from audit.models import Event
from audit.services import record
from tests.accounts.privacy_helpers import PASSWORD, login_recently_reauthenticated, make_user

pytestmark = pytest.mark.django_db


def _person(tag: str):
    """A customer with one record of every kind we hold; ``tag`` marks all their values."""
    user = make_user(f"{tag}@example.test", first_name=f"Prenom{tag}", last_name=f"Nom{tag}")
    Profile.objects.create(user=user, city=f"Ville{tag}", phone="0612345678", postal_code="69002")
    ProfileChange.objects.create(
        user=user,
        changed_at=timezone.now(),
        changed_by=user,
        changes={"city": ["", f"Ville{tag}"]},
        nonce=f"nonce{tag}",
        sha256="a" * 64,
    )
    Consent.objects.create(
        user=user,
        purpose=Consent.Purpose.TERMS,
        document_key="legal:cgv",
        version=3,
        sha256="b" * 64,
        wording=f"J'accepte ({tag})",
        created_at=timezone.now(),
        ip="203.0.113.9",
        user_agent=f"Agent{tag}",
    )
    record(action="auth.login", subject=user, actor=user, data={"method": "password", "tag": tag})
    email_queue(
        template="test_message",
        to=user.email,
        context={"sent_on": "hier", "requested_by": f"Demande{tag}"},
        customer=user,
    )
    inbound_email_store(
        raw=(
            f"From: {tag}@example.test\r\nTo: support@mynetspace.test\r\n"
            f"Subject: Question{tag}\r\n\r\nCorps{tag}\r\n"
        ).encode(),
        customer=user,
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": f"TOTPSECRET{tag}"}
    )
    UserSession.objects.create(
        user=user, ip="198.51.100.7", user_agent=f"Session{tag}", session_key=f"key{tag}" * 4
    )
    return user


def _download(client, user) -> zipfile.ZipFile:
    login_recently_reauthenticated(client, user)
    response = client.post(reverse("account_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="mynetspace-')
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_export_page_explains_and_offers_one_button(client):
    user = make_user("anne@example.test")
    client.force_login(user)

    response = client.get(reverse("account_export"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "articles 15 et 20 du RGPD" in page
    assert page.count('type="submit"') >= 1
    assert "Télécharger mes données (ZIP)" in page


def test_export_requires_login(client):
    response = client.post(reverse("account_export"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_export_requires_a_recent_reauthentication(client):
    """GIVEN a session that has not confirmed the password recently WHEN the export is asked
    THEN allauth asks to reauthenticate and nothing is exported or recorded."""
    user = make_user("anne@example.test")
    client.force_login(user)

    response = client.post(reverse("account_export"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not Event.objects.filter(action="account.export_downloaded").exists()


def test_after_reauthentication_the_export_is_downloaded(client):
    user = make_user("anne@example.test")
    client.force_login(user)
    asked = client.post(reverse("account_export"))

    response = client.post(asked["Location"], {"password": PASSWORD})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert json.loads(archive.read("compte.json"))["email"] == "anne@example.test"


def test_zip_holds_every_kind_of_record_of_the_person_and_nobody_elses(client):
    """GIVEN two customers with data of every kind WHEN the first exports
    THEN every kind of their records is in the ZIP and no value of the other's is."""
    anne = _person("anne")
    _person("bruno")

    archive = _download(client, anne)
    names = set(archive.namelist())
    sent_id = anne_email_id(anne)
    expected = {
        "README.txt",
        "compte.json",
        "profil.json",
        "modifications_profil.json",
        "consentements.json",
        "journal.json",
        "e-mails/envoyes.json",
        f"e-mails/envoyes/{sent_id}.eml",
        "e-mails/recus.json",
        "adresses_email.json",
        "double_authentification.json",
        "sessions.json",
    }
    assert expected <= names
    assert any(n.startswith("e-mails/recus/") and n.endswith(".eml") for n in names)

    def load(name):
        return json.loads(archive.read(name))

    assert load("compte.json")["last_name"] == "Nomanne"
    assert load("profil.json")["city"] == "Villeanne"
    assert load("modifications_profil.json")[0]["changes"] == {"city": ["", "Villeanne"]}
    consent = load("consentements.json")[0]
    assert (consent["version"], consent["sha256"]) == (3, "b" * 64)
    actions = [e["action"] for e in load("journal.json")]
    assert "auth.login" in actions and "email.queued" in actions
    assert actions[-1] == "account.export_downloaded"
    assert all(e["chain_key"] == f"user:{anne.pk}" for e in load("journal.json"))
    assert load("e-mails/envoyes.json")[0]["to"] == ["anne@example.test"]
    assert b"Demandeanne" in archive.read(f"e-mails/envoyes/{sent_id}.eml")
    assert load("adresses_email.json")[0]["email"] == "anne@example.test"
    assert load("double_authentification.json")[0]["type"] == "totp"
    assert load("sessions.json")[0]["user_agent"] == "Sessionanne"

    everything = b"".join(archive.read(name) for name in names)
    for foreign in (b"bruno", b"Bruno"):
        assert foreign not in everything
    # Secrets never leave: TOTP seed, password hash, session key.
    assert b"TOTPSECRET" not in everything
    assert anne.password.encode() not in everything
    assert b"keyanne" not in everything


def anne_email_id(user) -> int:
    from audit.models import OutboundEmail

    return OutboundEmail.objects.get(customer=user).pk


def test_readme_explains_every_file_in_french(client):
    user = _person("anne")

    readme = _download(client, user).read("README.txt").decode()

    assert "Export de vos données MyNetSpace" in readme
    for name in ("compte.json", "journal.json", "consentements.json", "e-mails/", "sessions.json"):
        assert name in readme
    assert "articles 15 et 20 du RGPD" in readme


def test_the_export_is_recorded_on_the_persons_chain(client):
    user = make_user("anne@example.test")

    _download(client, user)

    event = Event.objects.get(action="account.export_downloaded")
    assert event.chain_key == f"user:{user.pk}"
    assert event.actor_id == user.pk
    assert "compte" in event.data["sections"]


def test_other_apps_plug_in_sections_as_json_or_files(client, monkeypatch):
    monkeypatch.setitem(
        exports._SECTIONS,
        "abonnements",
        exports.ExportSection(
            "abonnements", lambda user: [{"plan": "standard", "owner": user.pk}], "Vos abonnements"
        ),
    )
    monkeypatch.setitem(
        exports._SECTIONS,
        "factures",
        exports.ExportSection(
            "factures", lambda user: [("F-0001.pdf", b"%PDF-1.7 fake")], "Vos factures"
        ),
    )
    user = make_user("anne@example.test")

    archive = _download(client, user)

    assert json.loads(archive.read("abonnements.json")) == [{"plan": "standard", "owner": user.pk}]
    assert archive.read("factures/F-0001.pdf") == b"%PDF-1.7 fake"
    assert "Vos factures" in archive.read("README.txt").decode()


@pytest.mark.parametrize("filename", ["../evil.txt", "/etc/passwd", "a/../../b", ""])
def test_a_section_cannot_write_outside_its_folder(filename):
    with pytest.raises(ValueError):
        exports._normalise_files("factures", [(filename, b"x")])


def test_section_names_are_checked():
    with pytest.raises(ValueError):
        exports.register_export_section("../x", lambda user: None)
