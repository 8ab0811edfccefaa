"""allauth's rate limits, on the customer and the admin login, and a Redis outage."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from .auth_helpers import (
    fast_hashing,  # noqa: F401 (fixture)
    login,
)
from .factories import StaffFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

TOO_MANY = "Trop de tentatives"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_failed_logins_for_one_address_are_limited(client):
    """GIVEN five failed attempts on one address (the limit per address)
    WHEN the right password is then given
    THEN it is refused too, with a clear message, until the limit expires."""
    user = UserFactory(verified_email=True)
    for _ in range(5):
        assert login(client, user.email, "pas le bon").status_code == 200
    response = login(client, user.email)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "trop de tentatives" in response.content.decode().lower()
    # Another address from the same place is not locked by this one.
    other = UserFactory(verified_email=True)
    assert login(client, other.email)["Location"] == "/espace/"


def test_the_admin_login_is_limited_the_same_way():
    staff = StaffFactory(verified_email=True, is_superuser=True)
    client = Client()
    # The admin login page is the allauth login page...
    admin_login = client.get("/admin/login/?next=/admin/", follow=True)
    assert admin_login.redirect_chain[-1][0].startswith(reverse("account_login"))
    # ...and posting credentials to the admin URL itself logs nobody in.
    client.post("/admin/login/", {"username": staff.email, "password": "Un mot de passe solide 42"})
    assert "_auth_user_id" not in client.session

    for _ in range(5):
        login(client, staff.email, "pas le bon", next="/admin/")
    response = login(client, staff.email, next="/admin/")
    assert "_auth_user_id" not in client.session
    assert "trop de tentatives" in response.content.decode().lower()


def test_too_many_requests_page_is_ours(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    for _ in range(2):
        assert login(client, "x@example.test", "pas le bon").status_code == 200
    response = login(client, "x@example.test", "pas le bon")
    assert response.status_code == 429
    html = response.content.decode()
    assert TOO_MANY in html
    assert "site-header" in html


def test_password_reset_requests_are_limited(client):
    user = UserFactory(verified_email=True)
    statuses = [
        client.post(reverse("account_reset_password"), {"email": user.email}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [302] * 5
    assert statuses[5] in (200, 429)


@pytest.fixture
def redis_cache(redis_server, settings):
    """The default cache on our own Redis, which the test may stop."""
    settings.CACHES = {
        "default": {
            "BACKEND": "mynetspace.core.cache.ResilientRedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "mns-test",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    return redis_server


def test_login_works_while_redis_is_down(client, redis_cache):
    """GIVEN the cache on a Redis server that then stops
    WHEN a customer logs in (rate limits read and write the cache)
    THEN the login works, limits still apply in this process, and /healthz reports the
    cache as failing; when Redis is back, it is used again."""
    from django.core.cache import caches

    user = UserFactory(verified_email=True)
    assert login(client, user.email)["Location"] == "/espace/"
    client.post(reverse("account_logout"))

    redis_cache.stop()
    assert login(client, user.email, "pas le bon").status_code == 200
    response = login(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == "/espace/"
    assert caches["default"].degraded

    health = client.get("/healthz")
    assert health.status_code == 503
    cache_status = next(c for c in health.json()["components"] if c["name"] == "cache")
    assert cache_status["ok"] is False

    # Limits still hold, per process, during the outage.
    client.post(reverse("account_logout"))
    for _ in range(5):
        login(client, user.email, "pas le bon")
    assert "_auth_user_id" not in login(client, user.email).wsgi_request.session

    redis_cache.start()
    caches["default"]._down_until = 0.0  # skip the retry delay
    assert caches["default"].set("back", "1") is None
    assert caches["default"].get("back") == "1"
    assert not caches["default"].degraded


def test_pages_do_not_fail_while_redis_is_down(client, redis_cache):
    redis_cache.stop()
    for path in (reverse("account_login"), reverse("account_signup"), "/"):
        assert client.get(path).status_code == 200, path
    assert client.post(reverse("account_reset_password"), {"email": "a@b.test"}).status_code == 302
