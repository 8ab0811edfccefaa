"""Client IP, user agent and request id, as audit events will record them.

Documentation address ranges only: 192.0.2.0/24 plays our reverse proxies,
198.51.100.0/24 and 203.0.113.0/24 play clients.
"""

from __future__ import annotations

import ipaddress

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from audit.context import USER_AGENT_MAX, RequestMeta, client_ip, current_meta
from audit.middleware import RequestMetaMiddleware

PROXY = "192.0.2.10"
SECOND_PROXY = "192.0.2.20"
CLIENT = "203.0.113.7"


@pytest.fixture
def trusted_proxies(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("192.0.2.0/27")]
    return settings


@pytest.fixture
def no_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    return settings


def meta(remote: str, forwarded_for: str | None = None, **extra) -> dict:
    values = {"REMOTE_ADDR": remote, **extra}
    if forwarded_for is not None:
        values["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return values


def test_without_trusted_proxies_forwarded_for_is_ignored(no_trusted_proxies):
    assert client_ip(meta(CLIENT, "198.51.100.1")) == CLIENT


def test_a_direct_client_cannot_spoof_its_address(trusted_proxies):
    """GIVEN a client that is not one of our proxies sends X-Forwarded-For
    THEN its own address is recorded, whatever the header says."""
    assert client_ip(meta(CLIENT, f"198.51.100.1, {PROXY}")) == CLIENT


def test_the_address_our_proxy_appended_is_the_client(trusted_proxies):
    assert client_ip(meta(PROXY, CLIENT)) == CLIENT


def test_forged_hops_before_our_proxy_are_ignored(trusted_proxies):
    """GIVEN a client sends its own X-Forwarded-For: 198.51.100.1 through our proxy
    WHEN the proxy appends the real peer address
    THEN the header is read right to left and the real peer is recorded."""
    assert client_ip(meta(PROXY, f"198.51.100.1, {CLIENT}")) == CLIENT


def test_chains_of_trusted_proxies_are_skipped(trusted_proxies):
    assert client_ip(meta(PROXY, f"{CLIENT}, {SECOND_PROXY}")) == CLIENT


def test_ipv6_clients(trusted_proxies):
    assert client_ip(meta(PROXY, "2001:db8::1")) == "2001:db8::1"


@pytest.mark.parametrize("header", ["", "   ", "garbage", f"{CLIENT}, not-an-ip"])
def test_missing_or_malformed_header_falls_back_to_the_peer(trusted_proxies, header):
    """A proxy hop that cannot be parsed ends the walk: the peer address is recorded
    rather than a guess taken from further left, where the client writes."""
    assert client_ip(meta(PROXY, header)) == PROXY


def test_a_malformed_peer_address_records_nothing(trusted_proxies):
    assert client_ip(meta("unix-socket", CLIENT)) == ""


def test_request_id_is_taken_only_from_a_trusted_proxy(trusted_proxies):
    factory = RequestFactory()
    from_proxy = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_REQUEST_ID="abc-123.x_y")
    from_client = factory.get("/", REMOTE_ADDR=CLIENT, HTTP_X_REQUEST_ID="abc-123.x_y")

    assert RequestMeta.from_request(from_proxy).request_id == "abc-123.x_y"
    generated = RequestMeta.from_request(from_client).request_id
    assert generated != "abc-123.x_y"
    assert len(generated) == 32


@pytest.mark.parametrize("hostile", ["a" * 65, "id with spaces", "x\r\nSet-Cookie: a=b", "é"])
def test_unsafe_request_ids_are_replaced(trusted_proxies, hostile):
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_REQUEST_ID=hostile)
    assert RequestMeta.from_request(request).request_id != hostile


def test_user_agent_is_truncated(no_trusted_proxies):
    request = RequestFactory().get("/", REMOTE_ADDR=CLIENT, HTTP_USER_AGENT="U" * 5000)
    assert RequestMeta.from_request(request).user_agent == "U" * USER_AGENT_MAX


def test_middleware_supplies_the_meta_during_the_request_only(trusted_proxies):
    seen = {}

    def view(request):
        seen["request"] = request.audit_meta
        seen["current"] = current_meta()
        return HttpResponse("ok")

    request = RequestFactory().get(
        "/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_USER_AGENT="Navigateur/1.0"
    )
    response = RequestMetaMiddleware(view)(request)

    assert seen["request"] == seen["current"]
    assert seen["current"].ip == CLIENT
    assert seen["current"].user_agent == "Navigateur/1.0"
    assert response["X-Request-ID"] == seen["current"].request_id
    assert current_meta() == RequestMeta.system(), "reset after the request"


@pytest.mark.django_db
def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(client, trusted_proxies):
    """GIVEN production redirects HTTP to HTTPS behind a proxy that sets X-Forwarded-Proto
    THEN our proxy's header is believed, while a client reaching the application server
    directly cannot claim HTTPS with the same header."""
    trusted_proxies.SECURE_SSL_REDIRECT = True
    trusted_proxies.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    via_proxy = client.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    direct = client.get("/", REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_PROTO="https")

    assert via_proxy.status_code == 200
    assert direct.status_code == 301
