"""Staff: the admin login is allauth's, a second factor before any admin page, idle timeout."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.middleware import LAST_ACTIVITY_KEY

from .auth_helpers import (
    actions,
    enrol_totp,
    fast_hashing,  # noqa: F401 (fixture)
    fresh_totp_code,
    login,
)
from .factories import StaffFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

ADMIN_PAGES = ["/admin/", "/admin/accounts/user/", "/admin/auth/group/", "/admin/password_change/"]


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()


def staff_login_with_totp(client, staff, secret):
    assert login(client, staff.email)["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code(secret)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_admin_login_is_the_allauth_login_with_next(client):
    response = client.get("/admin/login/?next=/admin/auth/group/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fauth%2Fgroup%2F"
    # Anonymous visitors of any admin page end up there too.
    response = client.get("/admin/accounts/user/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"


def test_admin_login_ignores_an_outside_next(client):
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_a_logged_in_customer_gets_403_not_a_loop(client):
    customer = UserFactory(verified_email=True)
    client.force_login(customer)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


def test_staff_without_mfa_cannot_reach_any_admin_page(client):
    """GIVEN a staff member who never enrolled a second factor, logged in with a password
    WHEN they open any admin page
    THEN they are sent to the TOTP activation page, never shown the admin."""
    staff = StaffFactory(verified_email=True, is_superuser=True)
    assert login(client, staff.email)["Location"] == "/espace/"
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("mfa_activate_totp"), path
    page = client.get(reverse("mfa_activate_totp"), follow=True).content.decode()
    assert "double authentification" in page.lower()


def test_staff_session_opened_without_mfa_must_confirm_it(client):
    staff = StaffFactory(verified_email=True, is_superuser=True)
    secret = enrol_totp(staff)
    client.force_login(staff)  # a session whose login did not use the second factor
    response = client.get("/admin/accounts/user/")
    assert response["Location"] == reverse("mfa_reauthenticate") + "?next=/admin/accounts/user/"
    response = client.post(
        reverse("mfa_reauthenticate"),
        {"code": fresh_totp_code(secret), "next": "/admin/accounts/user/"},
    )
    assert response.status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 200


def test_staff_with_mfa_reach_the_admin(client):
    staff = StaffFactory(verified_email=True, is_superuser=True)
    secret = enrol_totp(staff)
    staff_login_with_totp(client, staff, secret)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


def test_staff_idle_for_30_minutes_are_logged_out(client):
    staff = StaffFactory(verified_email=True, is_superuser=True)
    secret = enrol_totp(staff)
    staff_login_with_totp(client, staff, secret)
    assert client.get("/admin/").status_code == 200

    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 29 * 60
    session.save()
    assert client.get("/admin/").status_code == 200  # 29 minutes: still there

    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/admin/accounts/user/", follow=True)
    assert response.redirect_chain[0][0] == "/accounts/login/?next=/admin/accounts/user/"
    assert "_auth_user_id" not in client.session
    assert "fermée après 30 minutes" in response.content.decode()
    assert actions(staff)[-1] == "auth.staff_idle_logout"
    assert "auth.logout" not in actions(staff)


def test_customers_have_no_idle_timeout(client):
    customer = UserFactory(verified_email=True)
    client.force_login(customer)
    client.get("/")
    assert LAST_ACTIVITY_KEY not in client.session


def test_staff_groups_exist_with_their_permissions():
    support = Group.objects.get(name="Support")
    compliance = Group.objects.get(name="Compliance")
    support_perms = {f"{p.content_type.app_label}.{p.codename}" for p in support.permissions.all()}
    compliance_perms = {
        f"{p.content_type.app_label}.{p.codename}" for p in compliance.permissions.all()
    }
    assert {"accounts.view_user", "accounts.view_profile"} <= support_perms
    assert not any(p.startswith("audit.") for p in support_perms)
    assert {
        "audit.view_event",
        "audit.view_chain",
        "audit.view_outboundemail",
        "audit.view_inboundemail",
        "audit.view_checkpoint",
        "audit.view_contentversion",
        "accounts.view_consent",
    } <= compliance_perms
    assert not any(p.split(".")[1].startswith(("change_", "delete_")) for p in compliance_perms)
