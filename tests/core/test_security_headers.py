"""Security headers on every page, and what production settings add to them."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.template import engines
from django.urls import path

from tests.core.envs import production_env, read_settings

NONCE_ATTRIBUTE = re.compile(r'\bnonce="([^"]+)"')

PAGE_WITH_INLINE_CODE = engines["django"].from_string(
    "<!DOCTYPE html><title>t</title>"
    '<style nonce="{{ request.csp_nonce }}">p{margin:0}</style>'
    '<script nonce="{{ request.csp_nonce }}">document.documentElement.className="js";</script>'
)


def inline_code_page(request):
    return HttpResponse(PAGE_WITH_INLINE_CODE.render(request=request))


urlpatterns = [path("inline/", inline_code_page)]


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def header_nonce(response) -> str:
    for value in csp_directives(response)["script-src"]:
        if value.startswith("'nonce-"):
            return value.removeprefix("'nonce-").removesuffix("'")
    raise AssertionError("no nonce in script-src")


@pytest.mark.urls(__name__)
def test_inline_code_carries_the_per_request_nonce_of_the_header(client):
    first = client.get("/inline/")
    second = client.get("/inline/")

    nonce = header_nonce(first)
    assert set(NONCE_ATTRIBUTE.findall(first.content.decode())) == {nonce}
    assert f"'nonce-{nonce}'" in csp_directives(first)["style-src"]
    assert header_nonce(second) != nonce
    assert set(NONCE_ATTRIBUTE.findall(second.content.decode())) == {header_nonce(second)}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/accounts/login/"])
def test_pages_send_the_security_headers(client, url):
    response = client.get(url)

    assert response.status_code == 200
    directives = csp_directives(response)
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in directives.get("script-src", [])
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    # Any inline code on the page uses this response's nonce, and no other.
    nonces = set(NONCE_ATTRIBUTE.findall(response.content.decode()))
    if nonces:
        assert nonces == {header_nonce(response)}


@pytest.fixture
def production_security(settings, tmp_path):
    """The security settings exactly as a production environment computes them."""
    names = (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
    )
    for name, value in read_settings(production_env(tmp_path), *names).items():
        setattr(settings, name, value)
    settings.ALLOWED_HOSTS = ["mynetspace.example"]
    return settings


@pytest.mark.django_db
def test_production_redirects_to_https_and_sends_hsts(client, production_security):
    plain = client.get("/", HTTP_HOST="mynetspace.example")
    secure = client.get("/", HTTP_HOST="mynetspace.example", secure=True)

    assert plain.status_code == 301
    assert plain["Location"] == "https://mynetspace.example/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_production_cookies_are_secure_and_http_only(
    client, production_security, django_user_model
):
    from allauth.account.models import EmailAddress

    agent = django_user_model.objects.create_user(
        email="agent@mynetspace.example", password="x" * 12, is_staff=True
    )
    EmailAddress.objects.create(user=agent, email=agent.email, primary=True, verified=True)

    login_page = client.get("/accounts/login/", HTTP_HOST="mynetspace.example", secure=True)
    csrf_cookie = login_page.cookies["csrftoken"]
    logged_in = client.post(
        "/accounts/login/",
        {
            "login": "agent@mynetspace.example",
            "password": "x" * 12,
            "csrfmiddlewaretoken": csrf_cookie.value,
        },
        HTTP_HOST="mynetspace.example",
        HTTP_REFERER="https://mynetspace.example/accounts/login/",
        secure=True,
    )

    assert logged_in.status_code == 302
    session_cookie = logged_in.cookies["sessionid"]
    for cookie in (csrf_cookie, session_cookie):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
    assert session_cookie["samesite"] == "Lax"
