"""``/journal/``: the customer's own trail in plain words, paginated, filtered, verified."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import journal
from accounts.models import ChainVerification
from audit.models import Chain, Event
from audit.services import record
from tests.accounts.privacy_helpers import LINUX_FIREFOX, fill_chain, make_user, tamper_event

pytestmark = pytest.mark.django_db


def _event(action: str, *, data=None, ip="203.0.113.5", user_agent=LINUX_FIREFOX, **extra):
    moment = dt.datetime(2026, 11, 26, 9, 42, tzinfo=dt.UTC)  # 10:42 in Paris
    return Event(
        action=action,
        data=data or {},
        ip=ip,
        user_agent=user_agent,
        occurred_at=moment,
        actor_type=extra.pop("actor_type", "user"),
        **extra,
    )


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (LINUX_FIREFOX, "Firefox sur Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome sur Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge sur Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari sur iPhone",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari sur macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            "Samsung Internet sur Android",
        ),
        ("curl/8.5.0", ""),
        ("", ""),
    ],
)
def test_user_agent_summary_names_browser_and_system(user_agent, expected):
    assert journal.user_agent_summary(user_agent) == expected


def test_login_is_described_in_plain_french():
    text = journal.describe(_event("auth.login", data={"method": "password", "mfa": False}))

    assert text == (
        "Connexion depuis Firefox sur Linux, adresse IP 203.0.113.5, le 26 novembre 2026 à 10:42"
    )


def test_sentences_follow_the_active_language_from_one_entry_to_the_next():
    """The phrases are remembered per language: switching back and forth never mixes them."""
    from django.utils import translation

    event = _event("auth.login", data={"method": "password"}, user_agent="")
    with translation.override("en"):
        english = journal.describe(event)
    french = journal.describe(event)
    with translation.override("en"):
        english_again = journal.describe(event)

    assert english == english_again == "Login IP address 203.0.113.5, on 26 November 2026 at 10:42"
    assert french == "Connexion adresse IP 203.0.113.5, le 26 novembre 2026 à 10:42"


def test_descriptions_use_the_event_data_and_skip_what_is_unknown():
    assert journal.describe(
        _event("auth.login", data={"method": "password", "mfa": True, "mfa_type": "totp"})
    ).startswith("Connexion avec double authentification (application d'authentification) depuis")
    assert journal.describe(
        _event("auth.email_added", data={"email": "new@example.test"}, ip="", user_agent="")
    ) == ("Ajout de l'adresse new@example.test le 26 novembre 2026 à 10:42")
    assert (
        journal.describe(_event("email.queued", data={"subject": "Bienvenue"}))
        == "Nous vous avons écrit : « Bienvenue » le 26 novembre 2026 à 10:42"
    )


def test_unknown_action_gets_the_generic_sentence():
    text = journal.describe(_event("unknown.thing_done"))

    assert text == "Opération enregistrée (unknown.thing_done), le 26 novembre 2026 à 10:42"
    assert journal.kind_label("unknown.thing_done") == "Autre"


def test_a_failing_describer_falls_back_to_the_generic_sentence(monkeypatch):
    def broken(event):
        raise KeyError("missing")

    monkeypatch.setitem(journal._DESCRIBERS, "auth.logout", broken)

    assert journal.describe(_event("auth.logout")).startswith("Opération enregistrée (auth.logout)")


def test_exact_action_wins_over_prefix_and_longer_prefix_over_shorter(monkeypatch):
    monkeypatch.setitem(journal._DESCRIBERS, "vault", lambda e: "coffre")
    monkeypatch.setitem(journal._DESCRIBERS, "vault.document", lambda e: "document")
    monkeypatch.setitem(journal._DESCRIBERS, "vault.document.shared", lambda e: "partage")

    assert journal.describe(_event("vault.document.shared")) == "partage"
    assert journal.describe(_event("vault.document.stored")) == "document"
    assert journal.describe(_event("vault.key_rotated")) == "coffre"


def test_registration_refuses_malformed_names():
    with pytest.raises(ValueError):
        journal.register_describer("Vault Docs", lambda e: "")
    with pytest.raises(ValueError):
        journal.register_kind("vault.docs", "Coffre")


def test_journal_requires_login(client):
    response = client.get(reverse("journal"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_journal_shows_own_events_newest_first_with_intact_chain(client):
    user = make_user("anne@example.test")
    with_meta = {"data": {"method": "password", "mfa": False}}
    record(action="auth.login", subject=user, actor=user, **with_meta)
    record(action="auth.email_added", subject=user, actor=user, data={"email": "a2@example.test"})
    client.force_login(user)

    response = client.get(reverse("journal"))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("Ajout de l&#x27;adresse a2@example.test") < page.index("Connexion")
    assert "Votre journal est intact (vérifié le" in page
    assert 'role="alert"' not in page


def test_nothing_a_customer_does_appears_in_another_customers_journal(client):
    """GIVEN two customers with events WHEN each opens /journal/ THEN each sees only theirs."""
    anne = make_user("anne@example.test")
    bruno = make_user("bruno@example.test")
    record(action="auth.email_added", subject=anne, actor=anne, data={"email": "anne2@ex.test"})
    record(action="auth.email_added", subject=bruno, actor=bruno, data={"email": "bruno2@ex.test"})
    record(action="profile.updated", subject=bruno, actor=bruno, data={"fields": ["city"]})
    # A system event (no subject) is nobody's.
    record(action="retention.applied", data={"marker": 1})

    client.force_login(anne)
    anne_page = client.get(reverse("journal")).content.decode()
    client.force_login(bruno)
    bruno_page = client.get(reverse("journal")).content.decode()

    assert "anne2@ex.test" in anne_page and "bruno2@ex.test" not in anne_page
    assert "Modification de votre profil" not in anne_page
    assert "retention.applied" not in anne_page
    assert "bruno2@ex.test" in bruno_page and "anne2@ex.test" not in bruno_page


def _queries_for_journal(client, user, **params) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("journal"), params).status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert client.get(reverse("journal"), params).status_code == 200
    return len(first), len(again)


def test_query_count_is_the_same_for_10_and_1000_events(client):
    few = make_user("few@example.test")
    many = make_user("many@example.test")
    fill_chain(few, 10)
    fill_chain(many, 1000)

    # First visit (verifies the chain once, then records the state), later visits.
    assert _queries_for_journal(client, few) == _queries_for_journal(client, many) == (7, 5)
    filtered = {"type": "auth", "avant": "500"}
    assert _queries_for_journal(client, few, **filtered) == _queries_for_journal(
        client, many, **filtered
    )


def _seqs(response) -> list[int]:
    return [entry.event.seq for entry in response.context["page"].entries]


def test_pages_walk_the_whole_chain_without_overlap(client):
    user = make_user("anne@example.test")
    fill_chain(user, 50)
    client.force_login(user)

    first = client.get(reverse("journal"))
    assert _seqs(first) == list(range(50, 30, -1))
    older = first.context["page"].older_cursor
    assert f"avant={older}" in first.content.decode()

    second = client.get(reverse("journal"), {"avant": older})
    assert _seqs(second) == list(range(30, 10, -1))
    third = client.get(reverse("journal"), {"avant": second.context["page"].older_cursor})
    assert _seqs(third) == list(range(10, 0, -1))
    assert third.context["page"].older_cursor is None

    back = client.get(reverse("journal"), {"apres": third.context["page"].newer_cursor})
    assert _seqs(back) == _seqs(second)


def test_filter_by_kind_shows_only_that_kind(client):
    user = make_user("anne@example.test")
    record(action="auth.login", subject=user, actor=user, data={"method": "password"})
    record(action="consent.granted", subject=user, actor=user, data={"purpose": "terms"})
    record(action="profile.updated", subject=user, actor=user, data={"fields": ["city"]})
    client.force_login(user)

    response = client.get(reverse("journal"), {"type": "consent"})

    actions = [entry.event.action for entry in response.context["page"].entries]
    assert actions == ["consent.granted"]
    assert "Acceptation : Conditions générales de vente" in response.content.decode()


def test_a_kind_matches_its_own_prefix_only():
    """GIVEN actions whose names start like the kind ("auth_extra.x", "authx.y")
    WHEN the journal is filtered on "auth" THEN only "auth.*" events are listed, both ways."""
    user = make_user("anne@example.test")
    for action in ("auth.login", "auth_extra.step", "authx.step", "auth.logout", "consent.given"):
        record(action=action, subject=user, actor=user)

    newest = journal.journal_page(user=user, kind="auth")
    older = journal.journal_page(user=user, kind="auth", before=4)
    newer = journal.journal_page(user=user, kind="auth", after=1)

    assert [e.event.action for e in newest.entries] == ["auth.logout", "auth.login"]
    assert [e.event.seq for e in older.entries] == [1]
    assert [e.event.seq for e in newer.entries] == [4]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "nonsense"},
        {"type": "<script>"},
        {"avant": "abc"},
        {"apres": "-5"},
        {"avant": "99999999999999999999999"},
        {"type": "auth", "avant": "", "apres": "x"},
    ],
)
def test_bad_parameters_never_break_the_page(client, params):
    user = make_user("anne@example.test")
    fill_chain(user, 3)
    client.force_login(user)

    response = client.get(reverse("journal"), params)

    assert response.status_code == 200
    assert len(response.context["page"].entries) == 3
    if params.get("type") not in (None, "auth"):
        assert "Ce type d&#x27;événement n&#x27;existe pas" in response.content.decode()


def test_an_app_adds_its_events_without_changing_the_page(client, monkeypatch):
    monkeypatch.setitem(journal._KINDS, "vault", "Coffre numérique")
    monkeypatch.setitem(
        journal._DESCRIBERS,
        "vault.document_stored",
        lambda event: f"Document « {event.data['title']} » déposé dans votre coffre",
    )
    user = make_user("anne@example.test")
    record(action="vault.document_stored", subject=user, actor=user, data={"title": "Passeport"})
    record(action="auth.logout", subject=user, actor=user)
    client.force_login(user)

    page = client.get(reverse("journal"), {"type": "vault"})

    assert "Document « Passeport » déposé dans votre coffre" in page.content.decode()
    [entry] = page.context["page"].entries
    assert entry.meta == "Coffre numérique · action de votre part · événement n° 1"
    assert '?type=vault" aria-current="page">Coffre numérique' in page.content.decode()


def test_a_tampered_event_shows_an_alert_and_is_recorded_once(client):
    """GIVEN an event changed in the database WHEN the customer opens /journal/
    THEN the page alerts, the system chain records the failure once, later visits alert."""
    user = make_user("anne@example.test")
    fill_chain(user, 5)
    victim = Event.objects.get(chain_key=f"user:{user.pk}", seq=3)
    tamper_event(victim.pk, data={"forged": True})
    client.force_login(user)

    page = client.get(reverse("journal")).content.decode()
    client.get(reverse("journal"))

    assert "Attention : votre journal ne se vérifie plus." in page
    assert "à partir de l'événement n° 3" in page
    assert "Votre journal est intact" not in page
    failures = Event.objects.filter(action="audit.chain_verification_failed")
    assert [f.data["chain_key"] for f in failures] == [f"user:{user.pk}"]
    assert ChainVerification.objects.get(chain_key=f"user:{user.pk}").broken_seq == 3


def test_verification_reads_only_what_was_appended_since_the_last_visit():
    user = make_user("anne@example.test")
    fill_chain(user, 40)

    first = journal.chain_verify_incremental(user=user)
    fill_chain(user, 3)
    second = journal.chain_verify_incremental(user=user)
    third = journal.chain_verify_incremental(user=user)

    assert (first.ok, first.newly_verified) == (True, 40)
    assert (second.ok, second.newly_verified, second.length) == (True, 3, 43)
    assert (third.ok, third.newly_verified) == (True, 0)
    state = ChainVerification.objects.get(chain_key=f"user:{user.pk}")
    assert state.verified_seq == 43
    assert state.verified_hash == Chain.objects.get(key=f"user:{user.pk}").head_hash


def test_a_later_visit_verifies_new_events_in_one_query(django_assert_num_queries):
    """GIVEN a chain verified once, then a few events appended
    WHEN it is verified again
    THEN head, state and new events are read in one query, plus the state's upsert;
    with nothing new, the one query is all."""
    user = make_user("anne@example.test")
    fill_chain(user, 40)
    journal.chain_verify_incremental(user=user)
    fill_chain(user, 3)

    with django_assert_num_queries(2):
        status = journal.chain_verify_incremental(user=user)
    with django_assert_num_queries(1):
        unchanged = journal.chain_verify_incremental(user=user)

    assert (status.ok, status.newly_verified, unchanged.ok) == (True, 3, True)


def test_a_long_stretch_of_new_events_is_streamed_and_still_checked(monkeypatch):
    """GIVEN more new events than one query carries (the stretch is then streamed)
    WHEN the chain is verified, then one of the next stretch is tampered with
    THEN the first check passes and the second names the tampered event."""
    monkeypatch.setattr(journal, "_STREAM_ABOVE", 3)
    user = make_user("anne@example.test")
    fill_chain(user, 4)
    journal.chain_verify_incremental(user=user)
    fill_chain(user, 10)

    assert journal.chain_verify_incremental(user=user).newly_verified == 10
    fill_chain(user, 10)
    tamper_event(Event.objects.get(chain_key=f"user:{user.pk}", seq=20).pk, data={"x": 1})
    status = journal.chain_verify_incremental(user=user)

    assert (status.ok, status.broken_seq) == (False, 20)


def test_a_tampered_new_event_is_detected_on_a_later_visit():
    user = make_user("anne@example.test")
    fill_chain(user, 4)
    journal.chain_verify_incremental(user=user)
    fill_chain(user, 3)
    tamper_event(Event.objects.get(chain_key=f"user:{user.pk}", seq=6).pk, data={"x": 1})

    status = journal.chain_verify_incremental(user=user)

    assert (status.ok, status.broken_seq) == (False, 6)


def test_a_changed_anchor_or_a_tampered_new_event_is_detected():
    user = make_user("anne@example.test")
    fill_chain(user, 4)
    journal.chain_verify_incremental(user=user)
    anchor = Event.objects.get(chain_key=f"user:{user.pk}", seq=4)
    tamper_event(anchor.pk, data={"forged": True})

    status = journal.chain_verify_incremental(user=user)

    assert not status.ok
    assert status.broken_seq == 4


def test_a_shortened_chain_is_detected():
    user = make_user("anne@example.test")
    fill_chain(user, 4)
    journal.chain_verify_incremental(user=user)
    Chain.objects.filter(key=f"user:{user.pk}").update(length=2)

    status = journal.chain_verify_incremental(user=user)

    assert not status.ok
    assert status.broken_seq == 3


def test_an_event_missing_from_the_head_is_detected():
    user = make_user("anne@example.test")
    fill_chain(user, 4)
    Chain.objects.filter(key=f"user:{user.pk}").update(length=6)

    status = journal.chain_verify_incremental(user=user)

    assert not status.ok
    assert status.broken_seq == 5


def test_an_empty_journal_says_so(client):
    user = make_user("anne@example.test")
    client.force_login(user)

    page = client.get(reverse("journal")).content.decode()

    assert "Votre journal ne contient encore aucun événement." in page
    assert re.search(r"Aucun événement à afficher", page)
