"""The retention table (docs/retention.md) and the daily job that applies it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from accounts import closure, retention
from accounts.models import AccountClosure, Consent, Profile, ProfileChange
from accounts.tasks import retention_apply as retention_task
from audit.models import Event
from audit.services import record
from mynetspace.schedule import beat_schedule
from tests.accounts.privacy_helpers import make_user

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "retention.md"


def _signup(email: str, *, days_ago: int, verified: bool):
    user = make_user(email, first_name="Prénom")
    user.date_joined = timezone.now() - dt.timedelta(days=days_ago)
    user.save(update_fields=["date_joined"])
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    Consent.objects.create(
        user=user, purpose=Consent.Purpose.TERMS, version=1, created_at=timezone.now()
    )
    record(action="auth.signup", subject=user, actor=user, data={"email": email})
    return user


def test_unverified_signups_past_the_delay_are_erased_and_nothing_else():
    """GIVEN signups of every sort WHEN the job runs THEN only old unverified ones are erased,
    their evidence kept and an account.pseudonymised event written on their chain."""
    old = _signup("old@example.test", days_ago=retention.UNVERIFIED_SIGNUP_DAYS + 1, verified=False)
    recent = _signup("recent@example.test", days_ago=1, verified=False)
    verified = _signup("verified@example.test", days_ago=300, verified=True)
    no_address = make_user("imported@example.test")  # no allauth address row: left alone
    no_address.date_joined = timezone.now() - dt.timedelta(days=300)
    no_address.save(update_fields=["date_joined"])

    report = retention.retention_apply()

    assert report.unverified_signups_erased == 1
    old.refresh_from_db()
    assert old.email == f"closed-{old.pk}@closed.invalid"
    assert not old.is_active and not old.has_usable_password() and old.first_name == ""
    assert not EmailAddress.objects.filter(user=old).exists()
    assert AccountClosure.objects.get(user=old).reason == "unverified_signup"
    assert Consent.objects.filter(user=old).count() == 1
    event = Event.objects.get(chain_key=f"user:{old.pk}", action="account.pseudonymised")
    assert event.data["reason"] == "unverified_signup"
    for kept in (recent, verified, no_address):
        kept.refresh_from_db()
        assert kept.is_active and not kept.email.endswith("@closed.invalid")


def test_closed_accounts_lose_any_personal_data_that_reappeared():
    user = make_user("anne@example.test")
    closure.account_close(user=user, acting_user=user)
    # Written after the closure (a late task, an old code path...): the job erases it.
    ProfileChange.objects.create(
        user=user, changed_at=timezone.now(), changes={"city": ["", "Lyon"]}, nonce="n", sha256="a"
    )
    Profile.objects.create(user=user, city="Lyon")
    EmailAddress.objects.create(user=user, email="anne@example.test", verified=True)
    other = make_user("bruno@example.test")
    ProfileChange.objects.create(
        user=other, changed_at=timezone.now(), changes={"city": ["", "Nice"]}, nonce="n", sha256="b"
    )

    report = retention.retention_apply()

    assert report.profile_changes_deleted == 1
    assert report.closed_accounts_swept == 1
    assert not ProfileChange.objects.filter(user=user).exists()
    assert not Profile.objects.filter(user=user).exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert ProfileChange.objects.filter(user=other).count() == 1


def test_expired_sessions_and_their_list_entries_are_deleted():
    user = make_user("anne@example.test")
    expired = SessionStore()
    expired["_auth_user_id"] = str(user.pk)
    expired.set_expiry(-10)
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - dt.timedelta(days=1)
    )
    alive = SessionStore()
    alive["_auth_user_id"] = str(user.pk)
    alive.create()
    for key in (expired.session_key, alive.session_key):
        UserSession.objects.create(user=user, ip="198.51.100.7", user_agent="x", session_key=key)

    report = retention.retention_apply()

    assert report.sessions_deleted == 1
    assert report.session_entries_deleted == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [alive.session_key]
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [alive.session_key]


def test_evidence_is_never_deleted_and_past_periods_are_reported():
    user = make_user("anne@example.test")
    closure.account_close(user=user, acting_user=user)
    AccountClosure.objects.filter(user=user).update(evidence_until=dt.date(2020, 1, 1))
    events_before = Event.objects.filter(chain_key=f"user:{user.pk}").count()

    report = retention.retention_apply()

    assert report.evidence_due_for_purge == 1
    assert Event.objects.filter(chain_key=f"user:{user.pk}").count() == events_before
    applied = Event.objects.get(action="retention.applied")
    assert applied.chain_key == "system"
    assert applied.data == report.as_dict()


def test_the_job_is_idempotent():
    _signup("old@example.test", days_ago=30, verified=False)

    first = retention.retention_apply()
    second = retention.retention_apply()

    assert first.unverified_signups_erased == 1
    assert second.as_dict() == dict.fromkeys(second.as_dict(), 0)


def test_task_and_command_apply_the_table(capsys):
    _signup("old@example.test", days_ago=30, verified=False)

    assert retention_task.apply().get()["unverified_signups_erased"] == 1
    call_command("retention_apply")

    assert "unverified_signups_erased: 0" in capsys.readouterr().out
    assert Event.objects.filter(action="retention.applied").count() == 2


def test_the_job_runs_daily():
    entry = beat_schedule()["accounts-retention"]

    assert entry["task"] == "accounts.tasks.retention_apply"
    assert entry["schedule"] == 24 * 3600


def test_the_document_states_the_durations_the_code_applies():
    text = DOC.read_text()

    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}

    def row(prefix: str) -> str:
        return next(line for name, line in rows.items() if name.startswith(prefix))

    evidence = f"{retention.EVIDENCE_YEARS} years"
    for kind in ("Consents", "Journal events", "Emails exchanged", "Closed accounts"):
        assert evidence in row(kind), kind
    assert f"{retention.INVOICE_YEARS} years" in row("Invoices")
    assert f"{retention.VAULT_EXPORT_WINDOW_MONTHS} months" in row("Vault documents")
    assert f"{retention.UNVERIFIED_SIGNUP_DAYS} days" in row("Unverified signups")
    for kind in ("Account", "Profile (", "Profile changes", "Sessions", "Assistance requests"):
        assert row(kind), kind
