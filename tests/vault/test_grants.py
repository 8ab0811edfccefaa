"""Staff access grants: the customer's consent, the staff reading view, the records."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AppendOnlyError, Event
from mynetspace.core.errors import DomainError
from tests.accounts.factories import StaffFactory
from tests.fixtures.staff import staff_force_login
from tests.vault.access_helpers import activated_customer, compliance_officer, support_agent
from tests.vault.factories import document_store
from vault import grants
from vault.models import StaffGrant, StaffGrantRevocation, StaffGrantTeam

pytestmark = pytest.mark.django_db

CONTENT = b"%PDF-1.4 carte grise " + b"x" * 5000


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner():
    return activated_customer()


@pytest.fixture
def named(owner):
    return document_store(owner=owner, content=CONTENT, title="Carte grise")


@pytest.fixture
def other_document(owner):
    return document_store(owner=owner, title="Bulletin de salaire")


@pytest.fixture
def agent():
    return support_agent(first_name="Léa", last_name="Martin")


def window(days=7, start_in=dt.timedelta(0)):
    start = timezone.now() + start_in
    return {"starts_at": start, "ends_at": start + dt.timedelta(days=days)}


def grant_for(owner, documents, **kwargs):
    kwargs.setdefault("team", StaffGrantTeam.SUPPORT)
    params = {**window(), **kwargs}
    return grants.grant_create(owner=owner, documents=documents, **params)


def staff_events(owner):
    return list(Event.objects.filter(chain_key=f"user:{owner.pk}", action="vault.staff_access"))


def read(client, grant, document):
    return client.get(reverse("vault:staff_document", args=[grant.pk, document.uuid]))


# --- The consent -------------------------------------------------------------------------


def test_grant_is_recorded_with_its_wording_and_event(owner, named, agent):
    grant = grant_for(owner, [named], grantee=agent, team="")
    assert list(grant.documents.all()) == [named]
    assert "Léa M." in grant.wording
    event = Event.objects.get(chain_key=f"user:{owner.pk}", action="vault.grant_created")
    assert event.data["documents"] == [str(named.uuid)]
    assert event.data["wording"] == grant.wording


def test_grant_rows_are_append_only(owner, named):
    grant = grant_for(owner, [named])
    grant.purpose = "autre"
    with pytest.raises(AppendOnlyError):
        grant.save()
    with pytest.raises(AppendOnlyError):
        grant.delete()
    revocation = grants.grant_revoke(grant=grant, acting_user=owner)
    with pytest.raises(AppendOnlyError):
        revocation.save()


def test_window_is_at_most_thirty_days(owner, named):
    with pytest.raises(DomainError) as error:
        grant_for(owner, [named], **window(days=31))
    assert error.value.code == "vault.grant_window_too_long"


def test_a_customer_cannot_grant_someone_else_s_document(owner, named):
    stranger = activated_customer()
    with pytest.raises(DomainError) as error:
        grant_for(stranger, [named])
    assert error.value.code == "vault.not_owner"


def test_only_support_staff_can_be_named(owner, named):
    customer = activated_customer()
    for person in (customer, compliance_officer()):
        with pytest.raises(DomainError) as error:
            grant_for(owner, [named], grantee=person, team="")
        assert error.value.code == "vault.grant_grantee_invalid"


# --- The staff reading view ---------------------------------------------------------------


def test_named_staff_reads_the_named_document_and_the_customer_sees_it(client, owner, named, agent):
    grant = grant_for(owner, [named], grantee=agent, team="")
    staff_force_login(client, agent)
    response = read(client, grant, named)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    # Shown in the browser like the owner's own view: no script, no form, no framing.
    assert response["Content-Disposition"].startswith("inline;")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    (event,) = staff_events(owner)
    assert event.actor_id == agent.pk
    assert event.actor_type == "staff"
    assert event.data["grant"] == grant.pk
    assert event.data["document"] == str(named.uuid)
    # The customer sees it on the grant page and in the vault trail.
    client.force_login(owner)
    grant_page = client.get(reverse("vault:grant", args=[grant.pk])).content.decode()
    assert "Léa M. a consulté" in grant_page
    trail = client.get(reverse("vault:trail")).content.decode()
    assert "Léa M., de notre équipe, a consulté" in trail


def test_team_grant_opens_to_support_members_only(client, owner, named, agent):
    grant = grant_for(owner, [named])
    staff_force_login(client, agent)
    assert read(client, grant, named).status_code == 200
    officer = compliance_officer()
    staff_force_login(client, officer)
    assert read(client, grant, named).status_code == 404
    assert [e.actor_id for e in staff_events(owner)] == [agent.pk]


@pytest.mark.parametrize("case", ["other_document", "upcoming", "ended", "revoked", "other_staff"])
def test_a_grant_outside_its_scope_gives_nothing(client, owner, named, other_document, agent, case):
    """GIVEN a grant of one document to Léa for a window
    WHEN the document, the time, the revocation or the staff member does not match
    THEN the reading view is a 404 and nothing is recorded as read."""
    if case == "upcoming":
        grant = grant_for(
            owner, [named], grantee=agent, team="", **window(start_in=dt.timedelta(days=2))
        )
    else:
        grant = grant_for(owner, [named], grantee=agent, team="")
    target = named
    reader = agent
    if case == "other_document":
        target = other_document
    elif case == "ended":
        # Rows are append-only: the window passes by moving the clock instead.
        later = grant.ends_at + dt.timedelta(seconds=1)
        staff_force_login(client, reader)
        from unittest import mock

        with mock.patch("django.utils.timezone.now", return_value=later):
            assert read(client, grant, target).status_code == 404
        assert staff_events(owner) == []
        return
    elif case == "revoked":
        grants.grant_revoke(grant=grant, acting_user=owner)
    elif case == "other_staff":
        reader = support_agent()
    staff_force_login(client, reader)
    assert read(client, grant, target).status_code == 404
    assert client.get(reverse("vault:staff_grant", args=[grant.pk])).status_code == (
        200 if case == "other_document" else 404
    )
    assert staff_events(owner) == []


def test_staff_without_a_second_factor_in_session_is_sent_to_confirm_it(
    client, owner, named, agent
):
    grant = grant_for(owner, [named], grantee=agent, team="")
    staff_force_login(client, agent)
    client.logout()
    client.force_login(agent)  # a session without the MFA record
    response = read(client, grant, named)
    assert response.status_code == 302
    assert reverse("mfa_reauthenticate") in response["Location"]
    assert staff_events(owner) == []


def test_customers_and_anonymous_get_404_on_staff_pages(client, owner, named):
    grant = grant_for(owner, [named])
    for person in (None, owner, activated_customer()):
        client.logout()
        if person is not None:
            client.force_login(person)
        assert client.get(reverse("vault:staff_grants")).status_code == 404
        assert client.get(reverse("vault:staff_grant", args=[grant.pk])).status_code == 404
        assert read(client, grant, named).status_code == 404


def test_staff_list_shows_only_grants_for_me(client, owner, named, agent):
    mine = grant_for(owner, [named], grantee=agent, team="")
    someone_else = StaffFactory()
    someone_else.groups.add(*agent.groups.all())
    theirs = grant_for(owner, [named], grantee=someone_else, team="")
    staff_force_login(client, agent)
    page = client.get(reverse("vault:staff_grants")).content.decode()
    assert reverse("vault:staff_grant", args=[mine.pk]) in page
    assert reverse("vault:staff_grant", args=[theirs.pk]) not in page


# --- The customer's pages -----------------------------------------------------------------


def test_customer_creates_and_revokes_a_grant_through_the_pages(client, owner, named, agent):
    client.force_login(owner)
    today = timezone.localdate()
    response = client.post(
        reverse("vault:grants"),
        {
            "documents": [named.pk],
            "grantee": f"staff:{agent.pk}",
            "starts_on": today.isoformat(),
            "ends_on": (today + dt.timedelta(days=2)).isoformat(),
            "purpose": "Vérifier ma carte grise",
            "consent": "on",
        },
    )
    grant = StaffGrant.objects.get(owner=owner)
    assert response.status_code == 302
    assert grant.grantee == agent
    assert grant.ends_at == timezone.make_aware(
        dt.datetime.combine(today + dt.timedelta(days=3), dt.time.min)
    )
    response = client.post(reverse("vault:grant_revoke", args=[grant.pk]))
    assert response.status_code == 302
    assert StaffGrantRevocation.objects.get(grant=grant).revoked_by == owner


def test_grant_form_refuses_without_consent_or_too_long(client, owner, named):
    client.force_login(owner)
    today = timezone.localdate()
    base = {
        "documents": [named.pk],
        "grantee": "team:support",
        "starts_on": today.isoformat(),
        "ends_on": (today + dt.timedelta(days=40)).isoformat(),
        "consent": "on",
    }
    assert client.post(reverse("vault:grants"), base).status_code == 400
    base["ends_on"] = today.isoformat()
    del base["consent"]
    assert client.post(reverse("vault:grants"), base).status_code == 400
    assert not StaffGrant.objects.exists()


def test_a_customer_cannot_pick_another_customer_s_document_in_the_form(client, owner, named):
    stranger = activated_customer()
    client.force_login(stranger)
    today = timezone.localdate()
    response = client.post(
        reverse("vault:grants"),
        {
            "documents": [named.pk],
            "grantee": "team:support",
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "consent": "on",
        },
    )
    assert response.status_code == 400
    assert not StaffGrant.objects.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE vault_staffgrant SET ends_at = ends_at + interval '30 days'",
        "DELETE FROM vault_staffgrant_documents",
        "DELETE FROM vault_staffgrantrevocation",
    ],
)
def test_postgresql_refuses_to_rewrite_a_grant(postgres, owner, named, statement):
    """The database itself keeps the consent evidence, whatever client writes to it."""
    from django.db import DatabaseError, transaction

    grant = grant_for(owner, [named])
    grants.grant_revoke(grant=grant, acting_user=owner)
    with pytest.raises(DatabaseError), transaction.atomic(), postgres.cursor() as cursor:
        cursor.execute(statement)
    assert StaffGrant.objects.get(pk=grant.pk).ends_at == grant.ends_at
