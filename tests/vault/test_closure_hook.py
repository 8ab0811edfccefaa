"""Account closure and the vault: links and grants end, the export window, crypto-shredding."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.closure import account_close
from audit.models import Event, OutboundEmail
from tests.accounts.factories import PASSWORD
from tests.vault.access_helpers import activated_customer, support_agent
from tests.vault.factories import document_store
from vault import export, grants, sharing
from vault.blobs import vault_storage
from vault.models import Document, ExportWindow, ShareLink, StaffGrantTeam, UserKey

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def retrieval_link(user_pk) -> str:
    from audit.emails import _read_parts

    email = OutboundEmail.objects.filter(template="vault_export_window").latest("id")
    text, _html, _attachments = _read_parts(bytes(email.raw))
    return re.search(r"https?://\S+/coffre/recuperation/\S+/", text).group(0)


def actions(user):
    return list(
        Event.objects.filter(chain_key=f"user:{user.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )


@pytest.fixture
def closed(settings):
    """A customer with two documents, a link and a grant, whose account was just closed."""
    user = activated_customer()
    address = user.email
    first = document_store(owner=user, content=b"%PDF-1.4 un", original_name="un.pdf")
    document_store(owner=user, content=b"%PDF-1.4 deux", original_name="deux.pdf")
    link, token = sharing.share_create(document=first, acting_user=user)
    support_agent()
    grant = grants.grant_create(
        owner=user,
        documents=[first],
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(days=3),
        team=StaffGrantTeam.SUPPORT,
    )
    account_close(user=user, acting_user=user)
    return {"user": user, "address": address, "token": token, "grant": grant, "link": link}


def test_closure_ends_links_and_grants_and_opens_a_12_month_window(closed):
    user = closed["user"]
    closed["link"].refresh_from_db()
    assert closed["link"].revoke_reason == ShareLink.RevokeReason.ACCOUNT_CLOSED
    with pytest.raises(sharing.ShareNotFound):
        sharing.share_resolve(token=closed["token"])
    assert grants.grant_state(grants.StaffGrant.objects.get(pk=closed["grant"].pk)) == "revoked"
    window = ExportWindow.objects.get(user=user)
    months = (window.ends_at.year - window.opened_at.year) * 12 + (
        window.ends_at.month - window.opened_at.month
    )
    assert months == 12
    assert window.password_hash  # the former password's verifier, for the retrieval page
    email = OutboundEmail.objects.get(template="vault_export_window")
    assert email.to == [closed["address"]]
    assert not UserKey.objects.get(user=user).is_destroyed
    assert "vault.export_window_opened" in actions(user)


def test_former_customer_retrieves_everything_with_link_and_password(client, closed):
    url = retrieval_link(closed["user"].pk)
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"password": "pas le bon", "action": "export"})
    assert wrong.status_code == 403
    assert "vault.export_window_password_failed" in actions(closed["user"])
    response = client.post(url, {"password": PASSWORD, "action": "export"})
    assert response.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {"documents/un.pdf", "documents/deux.pdf", "manifest.json"} <= set(zf.namelist())
    event = Event.objects.filter(action="vault.export_downloaded").latest("id")
    assert event.data["via"] == "after_closure"


def test_window_end_shreds_the_key_and_deletes_the_blobs(client, closed):
    """GIVEN a closed account's open window
    WHEN the daily job runs after its end
    THEN the user key is destroyed, documents marked destroyed, blobs gone, link dead."""
    user = closed["user"]
    url = retrieval_link(user.pk)
    names = list(Document.objects.filter(owner=user).values_list("storage_key", flat=True))
    assert all(vault_storage().exists(name) for name in names)
    assert export.export_windows_end_due() == 0  # not yet
    window = ExportWindow.objects.get(user=user)
    later = window.ends_at + dt.timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            assert export.export_windows_end_due() == 1
    assert UserKey.objects.get(user=user).is_destroyed
    assert not Document.objects.filter(owner=user, destroyed_at__isnull=True).exists()
    assert not any(vault_storage().exists(name) for name in names)
    window.refresh_from_db()
    assert window.ended_at is not None and window.password_hash == ""
    assert client.get(url).status_code == 404
    assert "vault.export_window_ended" in actions(user)
    assert export.export_windows_end_due(now=later) == 0  # idempotent


def test_former_customer_may_destroy_the_vault_at_once(client, closed):
    url = retrieval_link(closed["user"].pk)
    refused = client.post(url, {"password": PASSWORD, "action": "destroy"})
    assert refused.status_code == 400
    assert not UserKey.objects.get(user=closed["user"]).is_destroyed
    done = client.post(url, {"password": PASSWORD, "action": "destroy", "understood": "on"})
    assert done.status_code == 200
    assert UserKey.objects.get(user=closed["user"]).is_destroyed
    assert client.get(url).status_code == 404


def test_an_empty_vault_is_shredded_at_closure():
    user = activated_customer()
    account_close(user=user, acting_user=user)
    assert UserKey.objects.get(user=user).is_destroyed
    assert not ExportWindow.objects.filter(user=user).exists()
    assert not OutboundEmail.objects.filter(template="vault_export_window").exists()


def test_unknown_retrieval_token_is_404(client):
    response = client.get(reverse("vault:retrieval", args=["x" * 43]))
    assert response.status_code == 404


def test_the_daily_job_is_scheduled_and_registered(settings):
    from celery import current_app

    from mynetspace.schedule import beat_schedule

    entry = beat_schedule()["vault-export-windows"]
    assert entry["schedule"] == 24 * 3600.0
    assert entry["task"] in current_app.tasks
