"""Share links: services, the owner's pages and the public page /partage/<token>/."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import Event
from mynetspace.core.errors import DomainError
from tests.accounts.factories import UserFactory
from tests.vault.access_helpers import activated_customer
from tests.vault.factories import document_store
from vault import sharing
from vault.models import ScanStatus, ShareLink

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    # Same code paths (Django's hashers), without the deliberate slowness of PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CONTENT = b"%PDF-1.4 partage " + bytes(range(256)) * 300
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def events(owner, action):
    return list(Event.objects.filter(chain_key=f"user:{owner.pk}", action=action).order_by("seq"))


@pytest.fixture
def owner():
    return activated_customer()


@pytest.fixture
def document(owner):
    return document_store(owner=owner, content=CONTENT, original_name="avis 2024.pdf")


def share(document, **kwargs):
    return sharing.share_create(document=document, acting_user=document.owner, **kwargs)


# --- Services ------------------------------------------------------------------------------


def test_only_the_sha256_of_the_token_is_stored(document):
    link, token = share(document)
    assert len(token) >= 43
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ShareLink.objects.filter(pk=link.pk).values().get())
    created = events(document.owner, "vault.share_created")
    assert created[-1].data["share"] == link.pk
    assert token not in str(created[-1].data)


def test_default_expiry_is_seven_days_and_at_most_thirty(document):
    link, _ = share(document)
    assert link.expires_at - link.created_at == dt.timedelta(days=7)
    with pytest.raises(DomainError) as error:
        share(document, days=31)
    assert error.value.code == "vault.share_days_invalid"


def test_access_code_is_a_password_hash(document):
    link, _ = share(document, code="secret-42")
    assert link.code_hash and "secret-42" not in link.code_hash
    assert link.code_hash.startswith(("pbkdf2", "argon2", "bcrypt", "scrypt", "md5"))


@pytest.mark.parametrize(
    "change",
    [
        {"scan_status": ScanStatus.PENDING_SCAN},
        {"scan_status": ScanStatus.UNSCANNED},
        {"trashed_at": timezone.now()},
    ],
)
def test_only_a_clean_document_in_the_vault_can_be_shared(document, change):
    type(document).objects.filter(pk=document.pk).update(**change)
    document.refresh_from_db()
    with pytest.raises(DomainError) as error:
        share(document)
    assert error.value.code == "vault.share_not_shareable"


def test_another_customer_cannot_share_my_document(document):
    stranger = UserFactory()
    with pytest.raises(DomainError) as error:
        sharing.share_create(document=document, acting_user=stranger)
    assert error.value.code == "vault.not_owner"


def test_download_limit_is_enforced(document):
    link, token = share(document, max_downloads=1)
    with sharing.share_download_start(link=sharing.share_resolve(token=token)) as stream:
        assert b"".join(stream) == CONTENT
    with pytest.raises(sharing.ShareNotFound):
        sharing.share_resolve(token=token)
    link.refresh_from_db()
    assert link.download_count == 1
    assert link.state() == "exhausted"


def test_wrong_codes_lock_then_revoke_the_link(document):
    """GIVEN a link with a code
    WHEN a visitor tries wrong codes
    THEN every failure is recorded, the link locks after 5 and is revoked after 20."""
    link, token = share(document, code="le-bon-code")
    for _ in range(sharing.CODE_LOCK_AFTER):
        with pytest.raises(sharing.ShareCodeWrong):
            sharing.share_code_check(link=link, code="mauvais")
    with pytest.raises(sharing.ShareLocked):
        sharing.share_code_check(link=link, code="le-bon-code")
    assert len(events(document.owner, "vault.share_code_failed")) == sharing.CODE_LOCK_AFTER
    # Past the lock, keep failing up to the revocation.
    failures = sharing.CODE_LOCK_AFTER
    while failures < sharing.CODE_REVOKE_AFTER:
        ShareLink.objects.filter(pk=link.pk).update(locked_until=None)
        failures += 1
        expected = (
            sharing.ShareNotFound
            if failures == sharing.CODE_REVOKE_AFTER
            else (sharing.ShareCodeWrong)
        )
        with pytest.raises(expected):
            sharing.share_code_check(link=link, code="mauvais")
    link.refresh_from_db()
    assert link.revoke_reason == ShareLink.RevokeReason.TOO_MANY_CODES
    with pytest.raises(sharing.ShareNotFound):
        sharing.share_resolve(token=token)


def test_revoked_link_resolves_to_nothing(document):
    link, token = share(document)
    sharing.share_revoke(link=link, acting_user=document.owner)
    with pytest.raises(sharing.ShareNotFound):
        sharing.share_resolve(token=token)
    assert events(document.owner, "vault.share_revoked")[-1].data["reason"] == "owner"


# --- Public page ---------------------------------------------------------------------------


def test_public_page_logged_out_shows_the_name_and_records_the_visit(client, document):
    _, token = share(document)
    response = client.get(reverse("share_public", args=[token]), HTTP_USER_AGENT=UA)
    assert response.status_code == 200
    page = response.content.decode()
    assert escape(document.title) in page
    assert "Télécharger le document" in page
    assert response["Referrer-Policy"] == "same-origin"
    visit = events(document.owner, "vault.share_accessed")[-1]
    assert visit.user_agent == UA
    assert visit.ip == "127.0.0.1"


def test_public_download_streams_the_original_with_safe_headers(client, document):
    _, token = share(document)
    response = client.post(reverse("share_public_download", args=[token]), HTTP_USER_AGENT=UA)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''Avis%20d%27imposition%202024.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert "no-store" in response["Cache-Control"]
    download = events(document.owner, "vault.share_downloaded")[-1]
    assert download.user_agent == UA
    assert download.data["download"] == 1


def test_code_is_asked_before_the_name_is_shown(client, document):
    _, token = share(document, code="ouvre-toi")
    url = reverse("share_public", args=[token])
    page = client.get(url).content.decode()
    assert escape(document.title) not in page
    assert 'name="code"' in page
    # Downloading without the code gives nothing.
    response = client.post(reverse("share_public_download", args=[token]))
    assert response.status_code == 302
    assert events(document.owner, "vault.share_downloaded") == []
    wrong = client.post(url, {"code": "non"})
    assert wrong.status_code == 403
    assert "Ce code d&#x27;accès est incorrect." in wrong.content.decode()
    assert len(events(document.owner, "vault.share_code_failed")) == 1
    right = client.post(url, {"code": "ouvre-toi"})
    assert right.status_code == 302
    assert escape(document.title) in client.get(url).content.decode()
    response = client.post(reverse("share_public_download", args=[token]))
    assert b"".join(response.streaming_content) == CONTENT


@pytest.mark.parametrize(
    "reason", ["unknown", "expired", "revoked", "exhausted", "trashed", "infected"]
)
def test_every_unusable_link_gives_the_same_404(client, document, reason):
    link, token = share(document, max_downloads=1)
    if reason == "unknown":
        token = token[:-4] + "AAAA"
    elif reason == "expired":
        ShareLink.objects.filter(pk=link.pk).update(
            created_at=timezone.now() - dt.timedelta(days=9),
            expires_at=timezone.now() - dt.timedelta(days=2),
        )
    elif reason == "revoked":
        sharing.share_revoke(link=link, acting_user=document.owner)
    elif reason == "exhausted":
        ShareLink.objects.filter(pk=link.pk).update(download_count=1)
    elif reason == "trashed":
        type(document).objects.filter(pk=document.pk).update(trashed_at=timezone.now())
    else:
        type(document).objects.filter(pk=document.pk).update(scan_status=ScanStatus.INFECTED)
    page = client.get(reverse("share_public", args=[token]))
    download = client.post(reverse("share_public_download", args=[token]))
    assert page.status_code == download.status_code == 404
    assert "Ce lien de partage n" in page.content.decode()
    assert "est pas disponible" in page.content.decode()
    assert escape(document.title) not in page.content.decode()
    assert not hasattr(download, "streaming_content")
    assert events(document.owner, "vault.share_downloaded") == []


# --- Owner pages ---------------------------------------------------------------------------


def test_owner_creates_a_link_and_sees_it_once(client, owner, document):
    client.force_login(owner)
    url = reverse("vault:share", args=[document.uuid])
    response = client.post(url, {"days": "14", "code": "", "max_downloads": "3"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    link = ShareLink.objects.get(document=document)
    assert link.max_downloads == 3
    assert link.expires_at - link.created_at == dt.timedelta(days=14)
    page = response.content.decode()
    start = page.index("/partage/")
    token = page[start + len("/partage/") :].split("/", 1)[0]
    assert hashlib.sha256(token.encode()).hexdigest() == link.token_sha256
    # Shown once: the next visit of the page does not contain it.
    assert token not in client.get(url).content.decode()


def test_owner_form_refuses_bad_values_with_a_message(client, owner, document):
    client.force_login(owner)
    url = reverse("vault:share", args=[document.uuid])
    response = client.post(url, {"days": "90", "code": "abc", "max_downloads": "0"})
    assert response.status_code == 400
    assert not ShareLink.objects.exists()


def test_owner_sees_each_access_with_ip_and_browser(client, owner, document):
    link, token = share(document)
    client.get(reverse("share_public", args=[token]), HTTP_USER_AGENT=UA)
    client.post(reverse("share_public_download", args=[token]), HTTP_USER_AGENT=UA)
    client.force_login(owner)
    page = client.get(reverse("vault:share_detail", args=[link.pk])).content.decode()
    assert "ouverture de la page" in page
    assert "téléchargement" in page
    assert "127.0.0.1" in page
    assert "Firefox" in page


def test_owner_revokes_a_link(client, owner, document):
    link, token = share(document)
    client.force_login(owner)
    response = client.post(reverse("vault:share_revoke", args=[link.pk]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.state() == "revoked"
    client.logout()
    assert client.get(reverse("share_public", args=[token])).status_code == 404


def test_one_address_cannot_try_codes_on_many_links(client, document, settings):
    """GIVEN a visitor typing codes on several links from one address THEN past the
    per-address rate the answer is 429 with a clear message, nothing is compared or
    recorded, and the links themselves are not locked by it."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "vault_share_code": "3/m/ip"}
    links = [share(document, code=f"code-{i}-secret") for i in range(2)]
    urls = [reverse("share_public", args=[token]) for _link, token in links]
    address = {"REMOTE_ADDR": "203.0.113.77"}  # no other test types codes from here
    for url in (urls[0], urls[1], urls[0]):
        assert client.post(url, {"code": "mauvais-code"}, **address).status_code == 403
    refused = client.post(urls[1], {"code": "code-1-secret"}, **address)
    assert refused.status_code == 429
    assert "Trop de codes saisis depuis votre connexion" in refused.content.decode()
    assert len(events(document.owner, "vault.share_code_failed")) == 3
    assert escape(document.title) not in client.get(urls[1], **address).content.decode()
    # Another address is not affected, and the right code still opens the link.
    other = client.post(urls[1], {"code": "code-1-secret"}, REMOTE_ADDR="198.51.100.20")
    assert other.status_code == 302
