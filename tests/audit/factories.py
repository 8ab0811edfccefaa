"""Factories for the audit tests: customers, staff and a small evidence log."""

from __future__ import annotations

import hashlib

import factory
from django.utils import timezone

from accounts.models import User
from audit import services
from audit.models import InboundEmail, OutboundEmail


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"client{n}@example.test")


class StaffFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.test")
    is_staff = True


def outbound_email(*, customer=None, raw: bytes = b"Subject: Bonjour\r\n\r\nCorps.\r\n"):
    now = timezone.now()
    return OutboundEmail.objects.create(
        created_at=now,
        updated_at=now,
        customer=customer,
        template="test/hello",
        from_email="service@example.test",
        to=["client@example.test"],
        subject="Bonjour",
        message_id="<1@example.test>",
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def inbound_email(*, customer=None, raw: bytes = b"Subject: Re: Bonjour\r\n\r\nMerci.\r\n"):
    return InboundEmail.objects.create(
        received_at=timezone.now(),
        customer=customer,
        from_email="client@example.test",
        subject="Re: Bonjour",
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def small_log(*, customers: int = 2, events_per_customer: int = 4):
    """A few customer chains, the system chain, an email each way, a text version."""
    users = UserFactory.create_batch(customers)
    staff = StaffFactory()
    for round_ in range(events_per_customer):
        for user in users:
            services.record(
                action="test.step",
                subject=user,
                actor=staff if round_ % 2 else user,
                on_behalf_of=user if round_ % 2 else None,
                target=user,
                data={"round": round_, "note": f"étape {round_}", "flags": [True, None]},
            )
    services.record(action="test.system", data={"ok": True})
    services.content_version_publish(
        key="legal:cgv", language="fr", title="CGV", body="Article 1.", published_by=staff
    )
    outbound_email(customer=users[0])
    inbound_email(customer=users[0])
    return users, staff
