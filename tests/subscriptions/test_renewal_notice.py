"""Renewal notice of yearly plans (L215-1) and the emails of a failed renewal payment."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from audit.models import Event, OutboundEmail
from subscriptions import services
from subscriptions.models import Subscription
from subscriptions.ordering import renewal_notice_due, renewal_notice_window
from subscriptions.providers import simulated

from .factories import CustomerFactory, PlanFactory, activated

PARIS = ZoneInfo("Europe/Paris")


# --- The calendar (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "earliest", "target", "latest"),
    [
        # An ordinary deadline: 15 March -> 15 Dec / 15 Jan / 15 Feb.
        (date(2027, 3, 15), date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15)),
        # 29 February (leap year): the same day of the month exists before it.
        (date(2028, 2, 29), date(2027, 11, 29), date(2027, 12, 29), date(2028, 1, 29)),
        # 31 May: April has 30 days, so one month before is 30 April.
        (date(2027, 5, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)),
        # 31 May of a leap year: three months before is 29 February.
        (date(2028, 5, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)),
        # 30 April: two months before is 28 February (short month), clamped.
        (date(2027, 4, 30), date(2027, 1, 30), date(2027, 2, 28), date(2027, 3, 30)),
        # A January deadline reaches back into the previous year.
        (date(2027, 1, 10), date(2026, 10, 10), date(2026, 11, 10), date(2026, 12, 10)),
        # 31 December: 30 November is one month before, 31 October two.
        (date(2026, 12, 31), date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)),
    ],
)
def test_the_notice_window_by_date(deadline, earliest, target, latest):
    assert renewal_notice_window(deadline) == (earliest, target, latest)
    # Whatever the month lengths, the window stays within the law's three and one months.
    assert earliest <= target <= latest < deadline
    assert (deadline - latest).days >= 28
    assert (deadline - earliest).days <= 92


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2026, 12, 15), False),  # three months before: allowed, but we aim later
        (date(2027, 1, 14), False),  # the day before the target
        (date(2027, 1, 15), True),  # two months before: the day we send
        (date(2027, 1, 31), True),  # the job missed days: caught up
        (date(2027, 2, 15), True),  # one month before: the last day we may
        (date(2027, 2, 16), False),  # too late: never sent
        (date(2027, 3, 15), False),
    ],
)
def test_when_a_notice_is_due(today, due):
    assert renewal_notice_due(date(2027, 3, 15), today) is due


# --- The notice ----------------------------------------------------------------------------


def yearly_subscription(*, renewal_on: date, customer=None) -> Subscription:
    """An active yearly subscription whose current period ends on ``renewal_on`` (Paris)."""
    plan = PlanFactory(name_fr="Annuelle", interval="year", price_ttc_cents=9900)
    paid_at = datetime.combine(renewal_on.replace(year=renewal_on.year - 1), datetime.min.time(),
                               tzinfo=PARIS).replace(hour=10)  # fmt: skip
    subscription = activated(customer=customer, plan=plan, express_start=True, paid_at=paid_at)
    assert subscription.current_period_end.astimezone(PARIS).date() == renewal_on
    return subscription


def notices() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(template="subscription_renewal_notice"))


@pytest.mark.django_db
def test_the_daily_job_sends_the_notice_two_months_before_with_the_date_in_a_box():
    subscription = yearly_subscription(
        renewal_on=date(2027, 3, 15), customer=CustomerFactory(first_name="Camille")
    )

    assert services.subscription_renewal_notices_send(today=date(2027, 1, 14)) == 0
    assert services.subscription_renewal_notices_send(today=date(2027, 1, 15)) == 1

    (email,) = notices()
    assert email.to == [subscription.customer.email]
    message = message_from_bytes(bytes(email.raw), policy=policy.default)
    assert message["Subject"] == "Votre abonnement MyNetSpace sera reconduit le 15 mars 2027"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # The deadline, in a box in both parts.
    box = text[text.index("+---") : text.rindex("---+")]
    assert "DATE DE RECONDUCTION : 15 mars 2027" in box
    assert "résiliez au plus tard le 14 mars 2027" in box
    assert "border:3px solid" in html and "Date de reconduction : 15 mars 2027" in html
    # The right not to renew, and how.
    flat = " ".join(text.split())
    assert "Vous avez le droit de ne pas reconduire votre contrat" in flat
    assert "/resilier/" in flat and "/resilier/" in html
    assert "99,00 €" in flat.replace("\u202f", " ")
    event = Event.objects.get(action="subscription.renewal_notice_sent")
    assert event.data["renewal_on"] == "2027-03-15"
    assert event.data["email_id"] == email.pk


@pytest.mark.django_db
def test_a_notice_goes_once_per_period_even_when_the_job_runs_again():
    subscription = yearly_subscription(renewal_on=date(2027, 3, 15))

    for day in (date(2027, 1, 15), date(2027, 1, 15), date(2027, 1, 20), date(2027, 2, 15)):
        services.subscription_renewal_notices_send(today=day)

    assert len(notices()) == 1

    # The next year's period gets its own notice.
    services.subscription_renew(
        subscription=subscription,
        provider_payment_id="renewal-2027",
        amount_cents=9900,
        paid_at=datetime(2027, 3, 15, 10, tzinfo=PARIS),
    )
    assert services.subscription_renewal_notices_send(today=date(2028, 1, 15)) == 1
    assert len(notices()) == 2


@pytest.mark.django_db
def test_missed_days_are_caught_up_but_never_later_than_one_month_before():
    """GIVEN the daily job did not run from the target day on
    WHEN it runs again one month before THEN the notice still goes; one day later, never."""
    late = yearly_subscription(renewal_on=date(2027, 3, 15))
    too_late = yearly_subscription(renewal_on=date(2027, 3, 14))

    services.subscription_renewal_notices_send(today=date(2027, 2, 15))
    services.subscription_renewal_notices_send(today=date(2027, 2, 16))

    # For a renewal on 14 March the last day was 14 February: on the 15th, too late.
    assert [email.related_id for email in notices()] == [str(late.payments.get().pk)]
    assert str(too_late.payments.get().pk) not in [email.related_id for email in notices()]


@pytest.mark.django_db
def test_a_leap_day_deadline_gets_its_notice_on_29_december():
    """GIVEN a yearly contract started on 29 February 2024, so renewed (clamped) to
    28 February and then on 29 February 2028 THEN its notice goes on 29 December."""
    subscription = yearly_subscription(renewal_on=date(2028, 2, 28))
    leap = datetime(2028, 2, 29, 10, tzinfo=PARIS)
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=leap)
    subscription.payments.update(period_end=leap)

    assert services.subscription_renewal_notices_send(today=date(2027, 12, 28)) == 0
    assert services.subscription_renewal_notices_send(today=date(2027, 12, 29)) == 1


@pytest.mark.django_db
def test_monthly_plans_and_scheduled_cancellations_get_no_notice():
    monthly = activated(plan=PlanFactory(interval="month"), express_start=True,
                        paid_at=datetime(2027, 1, 15, 10, tzinfo=PARIS))  # fmt: skip
    cancelled = yearly_subscription(renewal_on=date(2027, 3, 15))
    Subscription.objects.filter(pk=cancelled.pk).update(
        status=Subscription.Status.CANCEL_SCHEDULED, cancel_at=cancelled.current_period_end
    )

    for day in (date(2027, 1, 15), date(2027, 2, 1)):
        services.subscription_renewal_notices_send(today=day)

    assert notices() == []
    assert monthly.status == "active"


@pytest.mark.django_db
def test_the_command_runs_the_notices_for_a_given_day(capsys):
    yearly_subscription(renewal_on=date(2027, 3, 15))

    call_command("subscription_notices", "--date", "2027-01-15")

    assert "renewal notices sent: 1" in capsys.readouterr().out
    assert len(notices()) == 1


@pytest.mark.django_db
def test_the_command_refuses_a_malformed_date():
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("subscription_notices", "--date", "15/01/2027")


def test_the_daily_job_is_scheduled():
    from mynetspace.schedule import BEAT_SCHEDULE

    tasks = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert "subscriptions.tasks.subscription_notices_send" in tasks


# --- Payment failure -----------------------------------------------------------------------


def failed_emails(template: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(template=template).order_by("pk"))


@pytest.mark.django_db
def test_a_failed_renewal_puts_the_subscription_past_due_and_tells_the_customer():
    subscription = activated(plan=PlanFactory(name_fr="Mensuelle"))

    simulated.renewal_failure_simulate(subscription=subscription)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE
    (email,) = failed_emails("payment_failed")
    assert email.to == [subscription.customer.email]
    text = " ".join(
        message_from_bytes(bytes(email.raw), policy=policy.default)
        .get_body(("plain",))
        .get_content()
        .split()
    )
    assert subscription.reference in email.subject
    assert "a été refusé" in text
    assert "vous gardez l'accès au service" in text
    assert "n'est jamais suspendu" in text
    event = Event.objects.get(action="subscription.payment_failed")
    assert (event.data["previous_status"], event.data["status"]) == ("active", "past_due")
    # The access continues while the provider retries.
    from subscriptions.selectors import entitlements_for

    assert entitlements_for(subscription.customer).active is True


@pytest.mark.django_db
def test_a_repeated_failure_changes_nothing_and_sends_nothing_more():
    subscription = activated()

    services.subscription_payment_failed(subscription=subscription, reason="declined")
    services.subscription_payment_failed(subscription=subscription, reason="declined again")

    assert len(failed_emails("payment_failed")) == 1
    assert Event.objects.filter(action="subscription.payment_failed").count() == 2


@pytest.mark.django_db
def test_a_failure_on_a_closed_subscription_is_recorded_only():
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(
        status=Subscription.Status.CANCEL_SCHEDULED, cancel_at=subscription.current_period_end
    )

    services.subscription_payment_failed(subscription=subscription, reason="late event")

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    assert failed_emails("payment_failed") == []


@pytest.mark.django_db
def test_reminders_go_3_and_7_days_after_the_first_email_once_each():
    subscription = activated()
    services.subscription_payment_failed(subscription=subscription, reason="declined")
    first = failed_emails("payment_failed")[0].created_at

    def run(days: float) -> int:
        return services.subscription_payment_reminders_send(now=first + timedelta(days=days))

    assert run(2.9) == 0
    assert run(3) == 1
    assert run(3.5) == 0
    assert run(6.9) == 0
    assert run(7) == 1
    assert run(30) == 0
    reminders = failed_emails("payment_failed_reminder")
    assert len(reminders) == 2
    last = message_from_bytes(bytes(reminders[-1].raw), policy=policy.default)
    assert "Ceci est notre dernier rappel." in last.get_body(("plain",)).get_content()
    numbers = list(
        Event.objects.filter(action="subscription.payment_reminder_sent")
        .order_by("seq")
        .values_list("data__number", flat=True)
    )
    assert numbers == [1, 2]


@pytest.mark.django_db
def test_no_reminder_once_the_payment_went_through():
    subscription = activated()
    services.subscription_payment_failed(subscription=subscription, reason="declined")
    first = failed_emails("payment_failed")[0].created_at
    simulated.renewal_simulate(subscription=subscription)

    sent = services.subscription_payment_reminders_send(now=first + timedelta(days=8))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert sent == 0
