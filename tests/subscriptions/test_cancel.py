"""'Résilier votre contrat' (L215-1-1, D215-1, D215-2): services and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Event, OutboundEmail
from mynetspace.core.errors import DomainError
from subscriptions import services
from subscriptions.models import CancellationRequest, Subscription

from .exit_helpers import actions_for, email_is_intact, email_text, emails
from .factories import CustomerFactory, activated, ordered

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()


def cancel(subscription, **overrides):
    values = {
        "subscription": subscription,
        "channel": CancellationRequest.Channel.LOGGED_IN,
        "full_name": "Camille Martin",
        "email": subscription.customer.email,
        "contract_reference": subscription.reference,
        "desired_date": None,
    }
    values.update(overrides)
    return services.subscription_cancel(**values)


# --- Services --------------------------------------------------------------------------


def test_cancelling_an_active_contract_schedules_its_end_at_the_end_of_the_paid_period():
    subscription = activated()

    request = cancel(subscription)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    assert subscription.cancel_at == subscription.current_period_end
    assert request.effective_end == subscription.current_period_end
    assert actions_for(subscription.customer)[-3:] == [
        "subscription.cancel_scheduled",
        "cancellation.requested",
        "email.queued",
    ]
    event = Event.objects.get(action="cancellation.requested")
    assert event.data["effect"] == "scheduled"
    assert "Camille" not in str(event.data)  # ids and dates only, no names


def test_the_acknowledgement_states_the_end_date_its_effects_and_the_request():
    subscription = activated()
    request = cancel(subscription, desired_date=timezone.localdate())

    [email] = emails("cancellation_ack")
    text = email_text(email)
    assert email.to == [subscription.customer.email]
    assert email_is_intact(email)
    end = timezone.localtime(subscription.current_period_end)
    assert f"DATE DE FIN : votre contrat prend fin le {end.day}" in text
    assert "aucun paiement ne sera plus prélevé" in text
    assert "récupérables gratuitement" in text
    assert subscription.reference in text and "Camille Martin" in text
    requested = timezone.localtime(request.requested_at)
    assert requested.strftime("%H:%M:%S") in text  # the time of the request


def test_a_desired_date_after_the_paid_period_is_recorded_and_explained():
    subscription = activated()
    later = timezone.localdate(subscription.current_period_end) + timedelta(days=40)

    request = cancel(subscription, desired_date=later)

    assert request.desired_date == later
    assert request.effective_end == subscription.current_period_end
    assert "postérieure à la fin de la période payée" in email_text(emails("cancellation_ack")[0])


def test_a_desired_date_in_the_past_is_refused():
    subscription = activated()
    with pytest.raises(DomainError) as error:
        cancel(subscription, desired_date=timezone.localdate() - timedelta(days=1))
    assert error.value.code == "desired_date_past"
    assert not CancellationRequest.objects.exists()


def test_a_second_request_keeps_the_first_end_date():
    subscription = activated()
    cancel(subscription)
    subscription.refresh_from_db()
    first_end = subscription.cancel_at

    again = cancel(subscription)

    assert again.effective_end == first_end
    assert (
        Event.objects.get(action="cancellation.requested", target_id=str(again.pk)).data["effect"]
        == "already_scheduled"
    )


def test_cancelling_an_unpaid_order_abandons_it():
    subscription = ordered()

    cancel(subscription)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ABANDONED
    assert "annulée" in email_text(emails("cancellation_ack")[0])


def test_cancelling_in_arrears_ends_the_contract_at_once():
    subscription = activated()
    Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)
    subscription.refresh_from_db()

    cancel(subscription)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert subscription.ended_at is not None


def test_an_ended_contract_cannot_be_cancelled():
    subscription = activated()
    cancel(subscription)
    subscription.refresh_from_db()
    services.subscription_end_scheduled(
        subscription=subscription, now=subscription.cancel_at + timedelta(seconds=1)
    )
    subscription.refresh_from_db()
    with pytest.raises(DomainError) as error:
        cancel(subscription)
    assert error.value.code == "not_cancellable"


def test_the_periodic_job_ends_contracts_whose_date_is_reached_and_only_those():
    due, later = activated(), activated()
    cancel(due)
    cancel(later)
    due.refresh_from_db()
    Subscription.objects.filter(pk=due.pk).update(cancel_at=timezone.now() - timedelta(minutes=1))

    assert services.subscriptions_end_due() == 1
    assert services.subscriptions_end_due() == 0  # idempotent

    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == Subscription.Status.ENDED
    assert later.status == Subscription.Status.CANCEL_SCHEDULED
    assert Event.objects.get(action="subscription.ended").data["reason"] == (
        "cancellation_effective"
    )


def test_taking_a_cancellation_back_renews_the_contract_again():
    subscription = activated()
    cancel(subscription)

    services.subscription_resume(subscription=subscription, acting_user=subscription.customer)

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.cancel_at is None


def test_someone_else_cannot_take_a_cancellation_back():
    subscription = activated()
    cancel(subscription)
    with pytest.raises(DomainError) as error:
        services.subscription_resume(subscription=subscription, acting_user=CustomerFactory())
    assert error.value.code == "not_owner"


def test_logged_out_request_with_the_right_pair_cancels_and_writes_to_the_account_address():
    subscription = activated()
    messy_reference = subscription.reference.lower().replace("-", " ")

    services.cancellation_request_logged_out(
        full_name="C. Martin",
        email=subscription.customer.email.upper(),
        contract_reference=messy_reference,
    )

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCEL_SCHEDULED
    request = CancellationRequest.objects.get()
    assert request.channel == CancellationRequest.Channel.LOGGED_OUT
    assert [email.to for email in emails("cancellation_ack")] == [[subscription.customer.email]]


@pytest.mark.parametrize("wrong", ["email", "reference"])
def test_logged_out_request_with_a_wrong_pair_does_nothing_but_a_system_event(wrong):
    subscription = activated()
    email = "autre@example.test" if wrong == "email" else subscription.customer.email
    reference = "MNS-AAAA-AAAA" if wrong == "reference" else subscription.reference
    emails_before = OutboundEmail.objects.count()

    services.cancellation_request_logged_out(
        full_name="X", email=email, contract_reference=reference
    )

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert not CancellationRequest.objects.exists()
    assert OutboundEmail.objects.count() == emails_before
    event = Event.objects.get(action="cancellation.unmatched")
    assert event.chain_key == "system"
    assert event.data == {"channel": "logged_out"}


# --- Pages -----------------------------------------------------------------------------


def _logged_in(customer) -> Client:
    client = Client()
    client.force_login(customer)
    return client


def test_logged_in_form_is_prefilled_from_the_session():
    subscription = activated()
    customer = subscription.customer

    page = _logged_in(customer).get("/resilier/").content.decode()

    assert "<h1>Résilier votre contrat</h1>" in page
    assert f'value="{customer.email}"' in page
    assert f'value="{subscription.reference}"' in page
    assert f'value="Camille {customer.last_name}"' in page


def test_logged_in_form_recap_and_confirmation_in_two_posts():
    subscription = activated()
    client = _logged_in(subscription.customer)

    recap = client.post(
        "/resilier/",
        {"step": "form", "full_name": "Camille Martin", "when": "end_of_period"},
    )
    body = recap.content.decode()
    assert recap.status_code == 200
    assert "Confirmer ma demande de résiliation" in body
    assert "Votre contrat prendra fin le" in body
    token = recap.context["token"]

    done = client.post("/resilier/", {"step": "confirm", "token": token}, follow=True)

    request = CancellationRequest.objects.get()
    assert done.redirect_chain[-1][0] == reverse("cancel_request", args=[request.pk])
    assert "prend fin le" in done.content.decode()
    assert request.email == subscription.customer.email  # from the session, not typed


def test_posted_email_and_reference_are_ignored_when_logged_in():
    subscription = activated()
    other = activated()
    client = _logged_in(subscription.customer)

    recap = client.post(
        "/resilier/",
        {
            "step": "form",
            "full_name": "Camille Martin",
            "email": other.customer.email,
            "contract_reference": other.reference,
            "when": "end_of_period",
        },
    )
    client.post("/resilier/", {"step": "confirm", "token": recap.context["token"]})

    other.refresh_from_db()
    assert other.status == Subscription.Status.ACTIVE
    assert CancellationRequest.objects.get().subscription == subscription


def test_a_tampered_recap_token_is_refused_without_effect():
    subscription = activated()
    client = _logged_in(subscription.customer)

    response = client.post("/resilier/", {"step": "confirm", "token": "forged"}, follow=True)

    assert "Ce récapitulatif a expiré" in response.content.decode()
    assert not CancellationRequest.objects.exists()


def _logged_out_flow(client, *, email, reference):
    recap = client.post(
        "/resilier/",
        {
            "step": "form",
            "full_name": "Camille Martin",
            "email": email,
            "contract_reference": reference,
            "when": "end_of_period",
        },
    )
    confirmed = client.post(
        "/resilier/", {"step": "confirm", "token": recap.context["token"]}, follow=True
    )
    return recap, confirmed


def test_logged_out_right_and_wrong_pairs_get_the_same_pages():
    subscription = activated()
    right_recap, right_done = _logged_out_flow(
        Client(), email=subscription.customer.email, reference=subscription.reference
    )
    wrong_recap, wrong_done = _logged_out_flow(
        Client(), email="personne@example.test", reference=subscription.reference
    )

    def same(page_a, page_b, *, typed_a, typed_b):
        return page_a.content.decode().replace(typed_a, "") == page_b.content.decode().replace(
            typed_b, ""
        )

    # The recap only echoes what was typed; the confirmation page is identical.
    assert right_recap.status_code == wrong_recap.status_code == 200
    assert "contrat prendra fin le" not in right_recap.content.decode()
    assert right_done.redirect_chain == wrong_done.redirect_chain == [(reverse("cancel_sent"), 302)]
    right_body = right_done.content.decode()
    wrong_body = wrong_done.content.decode()
    assert _strip_csrf(right_body) == _strip_csrf(wrong_body)
    assert CancellationRequest.objects.count() == 1


def _strip_csrf(html: str) -> str:
    import re

    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_logged_out_reference_in_a_wrong_format_gets_a_field_error():
    response = Client().post(
        "/resilier/",
        {
            "step": "form",
            "full_name": "Camille",
            "email": "a@example.test",
            "contract_reference": "pas une référence",
            "when": "end_of_period",
        },
    )
    assert response.status_code == 200
    assert "MNS-7K3P-9QX2" in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"step": "form"},
        {"step": "form", "when": "date", "desired_date": "31/02/2026"},
        {"step": "form", "when": "nope", "email": "x" * 300},
        {"step": "confirm"},
        {"step": "confirm", "token": "a" * 5000},
    ],
)
def test_bad_input_never_breaks_the_page(data):
    response = Client().post("/resilier/", data, follow=True)
    assert response.status_code == 200


def test_logged_out_form_is_rate_limited():
    client = Client()
    data = {
        "step": "form",
        "full_name": "X",
        "email": "x@example.test",
        "contract_reference": "MNS-AAAA-AAAA",
        "when": "end_of_period",
    }
    statuses = [client.post("/resilier/", data).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]


def test_an_already_scheduled_contract_shows_its_end_and_can_be_taken_back():
    subscription = activated()
    cancel(subscription)
    client = _logged_in(subscription.customer)

    page = client.get("/resilier/").content.decode()
    assert "est déjà enregistrée" in page

    client.post(reverse("cancel_resume"))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


def test_the_page_works_logged_out_and_is_labelled_as_the_law_requires():
    response = Client().get("/resilier/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Résilier votre contrat</h1>" in body
    for label in ("Nom et prénom", "Adresse e-mail de votre compte", "Référence du contrat",
                  "Date souhaitée"):  # fmt: skip
        assert label in body
