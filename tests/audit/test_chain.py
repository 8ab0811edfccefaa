"""The chain: what record() writes, the canonical JSON rules, content versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from audit import services
from audit.context import RequestMeta, reset_current_meta, set_current_meta
from audit.hashing import (
    body_around_seq,
    canonical_json,
    chain_hash,
    content_hash,
    event_body,
    event_hash,
    format_timestamp,
)
from audit.models import GENESIS_HASH, Chain, ContentVersion, Event
from mynetspace.core.errors import DomainError

from .factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_events_of_a_customer_form_a_chain_from_genesis():
    user = UserFactory()
    first = services.record(action="account.created", subject=user, actor=user)
    second = services.record(action="account.email_changed", subject=user, actor=user)

    assert (first.chain_key, first.seq, first.prev_hash) == (f"user:{user.pk}", 1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    head = Chain.objects.get(key=f"user:{user.pk}")
    assert (head.length, head.head_hash) == (2, second.hash)


def test_hash_is_recomputable_from_the_stored_row():
    """GIVEN an event read back from the database (jsonb may reorder keys on PostgreSQL)
    THEN its hash recomputes from the stored columns alone."""
    user = UserFactory()
    services.record(
        action="vault.document_stored",
        subject=user,
        actor=user,
        data={"zeta": 1, "alpha": {"b": [1, "deux", None], "a": False}, "é": "ü"},
        meta=RequestMeta(ip="203.0.113.9", user_agent="Firefox", request_id="req-1"),
    )
    stored = Event.objects.get(chain_key=f"user:{user.pk}")
    assert event_hash(stored) == stored.hash
    assert (stored.ip, stored.user_agent, stored.request_id) == ("203.0.113.9", "Firefox", "req-1")


def test_hash_formula_matches_the_documented_one():
    occurred = dt.datetime(2026, 1, 31, 9, 5, 0, 7, tzinfo=dt.UTC)
    body = event_body(
        chain_key="user:7", seq=1, occurred_at=occurred, actor_type="user", actor_id=7,
        on_behalf_of_id=None, action="a.b", target_type="", target_id="", data={"b": 1, "a": "é"},
        ip="", user_agent="", request_id="",
    )  # fmt: skip
    expected_json = (
        '{"action":"a.b","actor_id":7,"actor_type":"user","chain_key":"user:7",'
        '"data":{"a":"é","b":1},"ip":"","occurred_at":"2026-01-31T09:05:00.000007Z",'
        '"on_behalf_of_id":null,"request_id":"","seq":1,"target_id":"","target_type":"",'
        '"user_agent":""}'
    ).encode()
    assert canonical_json(body) == expected_json
    assert chain_hash(GENESIS_HASH, body) == hashlib.sha256(bytes(32) + expected_json).hexdigest()


# Data as record() accepts it, keys that sort around "seq" and quotes included.
_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_data = st.dictionaries(
    _texts | st.sampled_from(["seq", "sep", "sez", ',"seq":1,']),
    st.none() | st.integers() | _texts | st.lists(st.integers(), max_size=3),
    max_size=4,
)


@pytest.mark.django_db(transaction=False, databases=[])
@given(data=_data, text=_texts, seq=st.integers(1, 10**15))
def test_the_body_cut_around_seq_is_the_canonical_body_for_any_seq(data, text, seq):
    """The append sends the canonical body in two parts and the database puts the seq
    between them: for any body and seq, that is exactly the canonical JSON."""
    body = event_body(
        chain_key="user:1", seq=seq, occurred_at="2026-01-31T09:05:00.000007Z",
        actor_type="user", actor_id=None, on_behalf_of_id=3, action="a.b", target_type=text,
        target_id=text, data=data, ip=text, user_agent=text, request_id=text,
    )  # fmt: skip
    before, after = body_around_seq(body)
    assert before + str(seq).encode() + after == canonical_json(body)


def test_timestamps_are_utc_with_microseconds():
    paris = dt.timezone(dt.timedelta(hours=1))
    assert format_timestamp(dt.datetime(2026, 3, 1, 10, 0, tzinfo=paris)) == (
        "2026-03-01T09:00:00.000000Z"
    )
    with pytest.raises(ValueError):
        format_timestamp(dt.datetime(2026, 3, 1, 10, 0))


def test_actor_type_follows_the_actor():
    user, staff = UserFactory(), StaffFactory()
    assert services.record(action="x.y", subject=user, actor=user).actor_type == "user"
    assert services.record(action="x.y", subject=user, actor=staff).actor_type == "staff"
    assert services.record(action="x.y", subject=user).actor_type == "system"


def test_target_instance_names_model_and_pk():
    user = UserFactory()
    event = services.record(action="x.y", target=user)
    assert (event.chain_key, event.target_type, event.target_id) == (
        "system",
        "accounts.user",
        str(user.pk),
    )


def test_request_meta_comes_from_the_context_by_default():
    token = set_current_meta(RequestMeta(ip="198.51.100.4", user_agent="UA", request_id="abc"))
    try:
        event = services.record(action="x.y")
    finally:
        reset_current_meta(token)
    assert (event.ip, event.user_agent, event.request_id) == ("198.51.100.4", "UA", "abc")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"amount": 19.9}, TypeError),
        ({"amount": float("nan")}, TypeError),
        ({1: "int key"}, TypeError),
        ({"when": dt.date(2026, 1, 1)}, TypeError),
        ({"pair": (1, 2)}, TypeError),
        ({"big": 2**53}, ValueError),
        ({"nul": "a\x00b"}, ValueError),
        ({"lone": "\ud800"}, ValueError),
        (["not", "a", "dict"], TypeError),
    ],
)
def test_non_canonical_data_is_refused_and_nothing_is_written(data, error):
    with pytest.raises(error):
        services.record(action="x.y", data=data)
    assert not Event.objects.exists()


@pytest.mark.parametrize("action", ["", "Bad.Name", "a..b", "a" * 101, "espace vide"])
def test_action_must_be_a_dotted_name(action):
    with pytest.raises(ValueError):
        services.record(action=action)


def test_event_rolls_back_with_the_callers_transaction():
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record(action="x.y", subject=user)
        raise RuntimeError("the change failed")
    assert not Event.objects.exists()
    assert not Chain.objects.filter(length__gt=0).exists()
    # The chain carries on from genesis afterwards.
    assert services.record(action="x.y", subject=user).seq == 1


def test_events_cannot_be_changed_through_the_orm():
    from audit.models import AppendOnlyError

    event = services.record(action="x.y")
    event.action = "x.z"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(action="x.z")


def test_content_versions_count_up_with_hash_and_event():
    staff = StaffFactory()
    v1 = services.content_version_publish(
        key="legal:cgv", language="fr", title="CGV", body="Article 1.", published_by=staff
    )
    v2 = services.content_version_publish(
        key="legal:cgv", language="fr", title="CGV", body="Article 1 modifié.", summary="Art. 1"
    )
    en = services.content_version_publish(key="legal:cgv", language="en", title="T", body="B")

    assert (v1.version, v2.version, en.version) == (1, 2, 1)
    stored = ContentVersion.objects.get(pk=v2.pk)
    assert stored.sha256 == content_hash(stored) == v2.sha256
    event = Event.objects.get(action="content.published", target_id=str(v1.pk))
    assert event.chain_key == "system"
    assert event.actor_id == staff.pk
    assert event.data == {"key": "legal:cgv", "version": 1, "language": "fr", "sha256": v1.sha256}


def test_content_hash_covers_the_documented_fields():
    version = services.content_version_publish(
        key="guide:passeport", language="fr", title="Passeport", body="Texte"
    )
    expected = json.dumps(
        {
            "body": "Texte",
            "key": "guide:passeport",
            "language": "fr",
            "published_at": format_timestamp(version.published_at),
            "published_by_id": None,
            "summary": "",
            "title": "Passeport",
            "version": 1,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert version.sha256 == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"title": " "}, "title_required"),
        ({"body": ""}, "body_required"),
        ({"title": "x" * 301}, "title_too_long"),
        ({"key": ""}, "invalid_key"),
        ({"body": "a\x00"}, "invalid_text"),
    ],
)
def test_invalid_publication_is_a_domain_error(kwargs, code):
    args = {"key": "legal:cgv", "language": "fr", "title": "CGV", "body": "Texte"} | kwargs
    with pytest.raises(DomainError) as excinfo:
        services.content_version_publish(**args)
    assert excinfo.value.code == code
    assert not ContentVersion.objects.exists()
