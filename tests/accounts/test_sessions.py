"""``accounts.sessions``: Django's database sessions, read with one SQL statement."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.sessions import SessionStore
from tests.accounts.privacy_helpers import make_user

pytestmark = pytest.mark.django_db


def test_the_product_uses_these_sessions(settings):
    assert settings.SESSION_ENGINE == "accounts.sessions"


def test_a_session_reads_back_what_django_stored_in_one_query():
    stored = DjangoSessionStore()
    stored["answer"] = {"nested": [1, "deux"]}
    stored.create()

    session = SessionStore(stored.session_key)
    with CaptureQueriesContext(connection) as queries:
        data = dict(session.items())

    assert data == {"answer": {"nested": [1, "deux"]}}
    assert session.session_key == stored.session_key
    assert len(queries) == 1


def test_an_expired_or_unknown_session_is_empty_and_loses_its_key():
    """GIVEN a session past its expiry date, and a key that was never issued
    WHEN they are read THEN both are empty and forget their key, as with Django's backend,
    so that a new session (new key) is created if anything is stored."""
    stored = SessionStore()
    stored["kept"] = True
    stored.create()
    Session.objects.filter(session_key=stored.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )

    for key in (stored.session_key, "never-issued-session-key"):
        session = SessionStore(key)
        assert dict(session.items()) == {}
        assert session.session_key is None


def test_a_logged_in_client_is_recognised_and_logging_out_ends_the_session(client):
    user = make_user("anne@example.test")
    client.force_login(user)
    key = client.session.session_key

    assert SessionStore(key)[SESSION_KEY] == str(user.pk)
    assert client.get("/journal/").status_code == 200
    client.post("/accounts/logout/")

    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/journal/").status_code == 302
