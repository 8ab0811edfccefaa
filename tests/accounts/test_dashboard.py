"""``/espace/``: the landing page after login, built from registered panels, at a fixed cost."""

from __future__ import annotations

import copy
import html
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import dashboard, services
from audit import services as audit_services

from .factories import (
    ProfileFactory,
    UserFactory,
    accept_current_texts,
    publish_legal,
    publish_required_texts,
)

pytestmark = pytest.mark.django_db

TEST_TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def customer(client):
    publish_required_texts()
    user = UserFactory(verified_email=True, first_name="Léa")
    accept_current_texts(user)
    client.force_login(user)
    return user


@pytest.fixture
def probe_panel(settings):
    """A panel from "another app", rendered from tests/accounts/templates."""
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEST_TEMPLATES]
    settings.TEMPLATES = templates
    seen = []

    def context(request):
        seen.append(request.user)
        if request.user.last_name == "Caché":
            return None
        return {"message": f"Bonjour depuis une autre application, {request.user.first_name}"}

    dashboard.register_panel("probe", "tests/dashboard_probe_panel.html", context, order=20)
    yield seen
    dashboard.unregister_panel("probe")


def _page(response) -> str:
    """The page's HTML, entities decoded and runs of blank space collapsed."""
    return " ".join(html.unescape(response.content.decode()).split())


def test_login_redirects_to_the_dashboard():
    assert django_settings.LOGIN_REDIRECT_URL == "/espace/"


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/espace/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{django_settings.LOGIN_URL}?next=/espace/")


def test_dashboard_greets_and_shows_the_built_in_panels(client, customer):
    page = _page(client.get("/espace/"))

    assert "<h1> Bonjour Léa </h1>" in page
    assert 'href="/espace/profil/"' in page
    assert 'href="/accounts/2fa/"' in page
    assert 'href="/accounts/sessions/"' in page
    assert 'href="/journal/"' in page
    assert 'href="/espace/export/"' in page
    assert 'href="/espace/fermeture/"' in page
    assert "La double authentification n'est pas activée" in page


def test_dashboard_shows_the_profile_summary_and_mfa_status(client, customer):
    ProfileFactory(user=customer, city="Lyon", phone="+33612345678")
    Authenticator.objects.create(user=customer, type=Authenticator.Type.TOTP, data={})

    page = _page(client.get("/espace/"))

    assert "69002 Lyon" in page
    assert "06 12 34 56 78" in page
    assert "La double authentification est activée sur votre compte." in page
    assert "(application d'authentification)" in page


def test_panels_are_ordered_and_may_hide_themselves(client, customer, probe_panel):
    page = _page(client.get("/espace/"))

    assert "Bonjour depuis une autre application, Léa" in page
    order = [page.index(marker) for marker in ('id="panneau-profile"', 'id="panneau-probe"',
                                                'id="panneau-security"')]  # fmt: skip
    assert order == sorted(order)
    assert 'aria-labelledby="panneau-probe-titre"' in page and 'id="panneau-probe-titre"' in page

    customer.last_name = "Caché"
    customer.save(update_fields=["last_name"])
    assert 'id="panneau-probe"' not in _page(client.get("/espace/"))
    assert len(probe_panel) == 2


def _count_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/espace/")
    assert response.status_code == 200
    return len(queries)


def test_dashboard_costs_a_fixed_number_of_queries(client, customer):
    """GIVEN a new customer, then the same with a long history (events, profile changes,
    consents to several versions, authenticators)
    WHEN they open /espace/
    THEN the page runs the same, small number of queries.
    """
    fresh = _count_queries(client)

    ProfileFactory(user=customer)
    for index in range(30):
        audit_services.record(action="test.step", subject=customer, data={"i": index})
        services.profile_update(user=customer, values={"address_line2": f"Bâtiment {index}"})
    publish_legal("cgv", body_fr="Une autre version.")
    accept_current_texts(customer)
    Authenticator.objects.create(user=customer, type=Authenticator.Type.TOTP, data={})
    Authenticator.objects.create(user=customer, type=Authenticator.Type.RECOVERY_CODES, data={})
    busy = _count_queries(client)

    # session, user, terms gate, open subscription (read once for its panel and the
    # vault's quota), profile, authenticators, the vault's documents and space used.
    assert fresh == busy == 7


def test_panels_share_a_read_within_one_page(client, customer):
    """GIVEN two panels that need the same row WHEN the dashboard is built, twice
    THEN the row is read once per page, and outside the dashboard on every call."""
    reads = []

    def read():
        reads.append(1)
        return "row"

    def panel(request):
        return {"value": dashboard.shared_read(("row", request.user.pk), read)}

    dashboard.register_panel("first_reader", "accounts/dashboard_panel_journal.html", panel)
    dashboard.register_panel("second_reader", "accounts/dashboard_panel_journal.html", panel)
    try:
        assert client.get("/espace/").status_code == 200
        assert client.get("/espace/").status_code == 200
    finally:
        dashboard.unregister_panel("first_reader")
        dashboard.unregister_panel("second_reader")

    assert len(reads) == 2
    assert dashboard.shared_read("row", read) == dashboard.shared_read("row", read) == "row"
    assert len(reads) == 4


def test_a_subscribed_customer_costs_the_same_queries_and_sees_their_plan(client, customer):
    """GIVEN a customer with an active subscription WHEN they open /espace/
    THEN the page costs what it costs without one, names the plan, and shows its quota;
    the open subscription read for the page is the row the ORM gives, plan included."""
    from django.forms.models import model_to_dict

    from subscriptions.models import Subscription
    from subscriptions.selectors import subscription_current_for
    from tests.subscriptions.factories import PlanFactory, activated

    without = _count_queries(client)
    plan = PlanFactory(name_fr="Sérénité", vault_quota_bytes=3 * 1024**3)
    activated(customer=customer, plan=plan)

    assert _count_queries(client) == without
    page = _page(client.get("/espace/"))
    assert "Formule Sérénité, 9,90 € TTC par mois." in page
    assert "Espace utilisé : 0 octet sur 3,0 Gio" in page
    current = subscription_current_for(customer)
    expected = Subscription.objects.select_related("plan").get(customer=customer)
    assert model_to_dict(current) == model_to_dict(expected)
    assert [getattr(current, f.attname) for f in Subscription._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in Subscription._meta.concrete_fields
    ]
    assert [getattr(current.plan, f.attname) for f in plan._meta.concrete_fields] == [
        getattr(expected.plan, f.attname) for f in plan._meta.concrete_fields
    ]
