"""The profile: French formats, before/after kept out of the immutable log, hostile input."""

from __future__ import annotations

import datetime as dt
import hashlib
import html

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import selectors, services
from accounts.forms import ProfileForm
from accounts.models import Profile, ProfileChange, User
from accounts.validators import format_phone
from audit.hashing import canonical_json, format_timestamp
from audit.models import Event

from .factories import (
    ProfileFactory,
    UserFactory,
    accept_current_texts,
    publish_required_texts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _form(**values) -> ProfileForm:
    data = {"country": "FR", **values}
    return ProfileForm(data=data)


def _years_ago(years: int, days: int = 0) -> dt.date:
    today = timezone.localdate()
    try:
        anniversary = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        anniversary = today.replace(year=today.year - years, day=28)
    return anniversary - dt.timedelta(days=days)


# --- Validation table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("01.42.68.53.00", "+33142685300"),
        ("0033 1 42 68 53 00", "+33142685300"),
        ("+32 2 555 12 12", "+3225551212"),
        ("0690 12 34 56", "+590690123456"),
        ("0692 12 34 56", "+262692123456"),
    ],
)
def test_valid_phone_numbers_are_stored_in_e164(typed, stored):
    form = _form(phone=typed)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["phone"] == stored


@pytest.mark.parametrize(
    "typed",
    [
        "12",
        "06 12 34 56",
        "06 12 34 56 78 90",
        "00 00 00 00 00",
        "abcdefghij",
        "+999 1234",
        "0" * 39,
    ],
)
def test_invalid_phone_numbers_are_refused(typed):
    form = _form(phone=typed)

    assert not form.is_valid()
    assert form.errors["phone"] == [
        "Saisissez un numéro de téléphone valide, par exemple 06 12 34 56 78 ou +33 6 12 34 56 78."
    ]


def test_an_overlong_phone_number_is_refused():
    form = _form(phone="0" * 60)

    assert not form.is_valid()
    assert "phone" in form.errors


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+33612345678", "06 12 34 56 78"),
        ("+590690123456", "0690 12 34 56"),
        ("+3225551212", "+32 2 555 12 12"),
    ],
)
def test_phone_numbers_are_shown_in_national_format_when_french(stored, shown):
    assert format_phone(stored) == shown


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [
        ("FR", "75011", "75011"),
        ("FR", "01000", "01000"),
        ("FR", "20 000", "20000"),
        ("FR", "97400", "97400"),
        ("BE", "1000", "1000"),
        ("GB", "sw1a 1aa", "SW1A 1AA"),
        ("FR", "", ""),
    ],
)
def test_valid_postal_codes(country, typed, stored):
    form = _form(country=country, postal_code=typed)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["postal_code"] == stored


@pytest.mark.parametrize(
    ("country", "typed"),
    [
        ("FR", "7501"),
        ("FR", "750111"),
        ("FR", "00100"),
        ("FR", "99000"),
        ("FR", "7501A"),
        ("BE", "#!"),
    ],
)
def test_invalid_postal_codes(country, typed):
    form = _form(country=country, postal_code=typed)

    assert not form.is_valid()
    assert "postal_code" in form.errors


@pytest.mark.parametrize(
    ("birth_date", "error"),
    [
        (_years_ago(30), None),
        (_years_ago(16), None),
        (_years_ago(120), None),
        (_years_ago(16, days=-1), "Vous devez avoir au moins 16 ans pour utiliser le service."),
        (timezone.localdate(), "La date de naissance doit être dans le passé."),
        (
            timezone.localdate() + dt.timedelta(days=3),
            "La date de naissance doit être dans le passé.",
        ),
        (_years_ago(121, days=1), "Vérifiez l'année de naissance : l'âge calculé dépasse 120 ans."),
    ],
)
def test_birth_date_must_be_in_the_past_and_plausible(birth_date, error):
    form = _form(birth_date=birth_date.isoformat())

    assert form.is_valid() is (error is None)
    if error:
        assert form.errors["birth_date"] == [error]


@pytest.mark.parametrize("typed", ["14/07/1985", "1985-07-14"])
def test_birth_date_accepts_french_and_iso_formats(typed):
    form = _form(birth_date=typed)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["birth_date"] == dt.date(1985, 7, 14)


@pytest.mark.parametrize("typed", ["31/02/1985", "hier", "1985-13-01", "0000-01-01"])
def test_impossible_dates_are_refused(typed):
    form = _form(birth_date=typed)

    assert not form.is_valid()
    assert form.errors["birth_date"] == ["Saisissez une date valide, par exemple 14/07/1985."]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Jean-Pierre", True),
        ("N'Diaye", True),
        ("Zoë  Lefèvre ", True),
        ("محمد", True),
        ("O\u2019Brien", True),
        ("Léa 😀", False),
        ("Robert\u202eevil", False),
        ("1234", False),
        ("<script>", False),
        ("x" * 151, False),
    ],
)
def test_names_accept_letters_of_every_script_only(name, valid):
    form = _form(first_name=name)

    assert form.is_valid() is valid
    if valid:
        assert form.cleaned_data["first_name"] == " ".join(name.split())


def test_address_refuses_emoji_and_control_characters_with_a_clear_error():
    form = _form(address_line1="12 rue des Lilas 🏠", address_line2="Bât. B\x07", city="Lyon")

    assert not form.is_valid()
    assert set(form.errors) == {"address_line1", "address_line2"}
    assert "caractères non autorisés" in form.errors["address_line1"][0]


def test_address_keeps_usual_french_punctuation():
    form = _form(address_line1="12 bis, rue de l'Église (n° 3)", city="Saint-Étienne")

    assert form.is_valid(), form.errors


# --- The service --------------------------------------------------------------------------------


def test_profile_update_stores_before_and_after_outside_the_log():
    """GIVEN a profile in Lyon
    WHEN the person moves to Paris and gives their first name
    THEN the values change, a ProfileChange holds before and after, and the
    profile.updated event holds only the field names and the change's digest.
    """
    profile = ProfileFactory(user__first_name="")
    user = profile.user

    change = services.profile_update(
        user=user,
        values={"first_name": "Léa", "postal_code": "75011", "city": "Paris", "country": "FR"},
    )

    profile.refresh_from_db()
    user.refresh_from_db()
    assert (user.first_name, profile.postal_code, profile.city) == ("Léa", "75011", "Paris")
    assert change.changes == {
        "first_name": ["", "Léa"],
        "postal_code": ["69002", "75011"],
        "city": ["Lyon", "Paris"],
    }
    event = Event.objects.get(chain_key=f"user:{user.pk}", action="profile.updated")
    assert event.data == {"fields": ["city", "first_name", "postal_code"], "sha256": change.sha256}
    assert (event.target_type, event.target_id) == ("accounts.profilechange", str(change.pk))
    for personal in ("Léa", "Paris", "75011", "Lyon"):
        assert personal not in str(event.data)


def test_the_digest_in_the_log_proves_the_stored_change():
    user = UserFactory()
    change = services.profile_update(user=user, values={"last_name": "Martin"})

    body = {
        "user": user.pk,
        "changed_at": format_timestamp(change.changed_at),
        "nonce": change.nonce,
        "changes": change.changes,
    }
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    event = Event.objects.get(action="profile.updated", target_id=str(change.pk))
    assert event.data["sha256"] == digest == services.profile_change_digest(change)
    assert len(change.nonce) == 32


def test_unchanged_values_write_nothing():
    profile = ProfileFactory()

    result = services.profile_update(
        user=profile.user, values={"city": " Lyon ", "phone": "06 12 34 56 78"}
    )

    assert result is None
    assert not ProfileChange.objects.exists()
    assert not Event.objects.filter(action="profile.updated").exists()


def test_invalid_values_store_nothing_and_name_the_fields():
    profile = ProfileFactory()

    with pytest.raises(services.ProfileInvalid) as refused:
        services.profile_update(
            user=profile.user,
            values={"city": "Paris", "postal_code": "123", "phone": "nope"},
        )

    assert set(refused.value.errors) == {"postal_code", "phone"}
    assert refused.value.code == "profile_invalid"
    profile.refresh_from_db()
    assert profile.city == "Lyon"
    assert not ProfileChange.objects.exists()


def test_first_update_creates_the_profile():
    user = UserFactory()

    services.profile_update(user=user, values={"civility": "m", "birth_date": dt.date(1980, 1, 2)})

    profile = Profile.objects.get(user=user)
    assert (profile.civility, profile.birth_date) == ("m", dt.date(1980, 1, 2))
    assert ProfileChange.objects.get().changes == {
        "civility": ["", "m"],
        "birth_date": ["", "1980-01-02"],
    }


def test_profile_changes_are_erased_with_the_account_data():
    """ProfileChange rows are personal data that closure may delete (the log stays valid)."""
    user = UserFactory()
    services.profile_update(user=user, values={"last_name": "Martin"})

    ProfileChange.objects.filter(user=user).delete()

    assert not ProfileChange.objects.exists()
    assert Event.objects.filter(action="profile.updated").count() == 1


def test_profile_prefill_gives_every_value_a_request_needs():
    profile = ProfileFactory(
        user__first_name="Léa", user__last_name="Martin", birth_date=dt.date(1990, 5, 17)
    )

    prefill = selectors.profile_prefill(profile.user)

    assert prefill == {
        "email": profile.user.email,
        "civility": "mme",
        "civility_label": "Madame",
        "first_name": "Léa",
        "last_name": "Martin",
        "full_name": "Léa Martin",
        "birth_date": dt.date(1990, 5, 17),
        "address_line1": "12 rue des Lilas",
        "address_line2": "",
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
        "phone": "+33612345678",
        "phone_display": "06 12 34 56 78",
    }


def test_profile_prefill_without_profile():
    user = UserFactory()

    prefill = selectors.profile_prefill(user)

    assert prefill["country"] == "FR"
    assert prefill["phone"] == prefill["full_name"] == ""


# --- The page -----------------------------------------------------------------------------------


@pytest.fixture
def customer(client):
    publish_required_texts()
    user = UserFactory(verified_email=True)
    accept_current_texts(user)
    client.force_login(user)
    return user


def test_profile_page_shows_values_in_french_formats(client, customer):
    ProfileFactory(user=customer)

    page = client.get("/espace/profil/").content.decode()

    assert 'value="06 12 34 56 78"' in page
    assert 'autocomplete="postal-code"' in page
    assert '<label for="id_phone">' in page


def test_saving_the_profile_records_it_and_says_so(client, customer):
    response = client.post(
        "/espace/profil/",
        {
            "civility": "mme",
            "first_name": "Léa",
            "last_name": "Martin",
            "birth_date": "14/07/1985",
            "address_line1": "3 place Bellecour",
            "postal_code": "69002",
            "city": "Lyon",
            "country": "FR",
            "phone": "06 12 34 56 78",
        },
        follow=True,
    )

    page = html.unescape(response.content.decode())
    assert "Votre profil a été mis à jour." in page
    assert "Dernières modifications" in page and "Date de naissance" in page
    profile = Profile.objects.get(user=customer)
    assert profile.phone == "+33612345678"
    assert User.objects.get(pk=customer.pk).first_name == "Léa"


def test_errors_are_linked_to_their_fields(client, customer):
    response = client.post("/espace/profil/", {"country": "FR", "postal_code": "7501"})

    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="id_postal_code_error"' in page
    assert '<a href="#id_postal_code">Code postal</a>' in page
    assert "Un code postal français comporte 5 chiffres, par exemple 75011." in page
    assert not ProfileChange.objects.exists()


# --- Hostile input ------------------------------------------------------------------------------

FIELDS = ["civility", "first_name", "last_name", "birth_date", "address_line1", "address_line2",
          "postal_code", "city", "country", "phone"]  # fmt: skip

hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(
        alphabet=st.sampled_from("\x00\u202e\u200f\u0627\U0001f600é'- 0123456789"), max_size=50
    ),
    st.sampled_from(["", " ", "\x00", "0" * 5000, "\ud800", "2000-02-30", "FR", "mme"]),
)


HOSTILE_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@HOSTILE_SETTINGS
@given(data=st.dictionaries(st.sampled_from(FIELDS), hostile_text, max_size=len(FIELDS)))
def test_profile_page_never_fails_and_stores_all_or_nothing(client, customer, data):
    """Whatever is posted, the page answers 302 or 400 (never 500) and stores all or nothing.

    The examples share one customer: each one is checked against the state before it.
    """
    # A browser cannot send lone surrogates: they arrive replaced.
    data = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in data.items()}
    changes_before = ProfileChange.objects.count()

    response = client.post("/espace/profil/", data)

    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert ProfileChange.objects.count() == changes_before
        return
    profile = Profile.objects.filter(user=customer).first()
    user = User.objects.get(pk=customer.pk)
    stored = [user.first_name, user.last_name]
    if profile:
        stored += [profile.address_line1, profile.address_line2, profile.city, profile.phone]
    for value in stored:
        assert "\x00" not in value and "\u202e" not in value and "\U0001f600" not in value


@HOSTILE_SETTINGS
@given(values=st.dictionaries(st.sampled_from(FIELDS), hostile_text, max_size=len(FIELDS)))
def test_service_refuses_or_stores_everything(customer, values):
    changes_before = ProfileChange.objects.count()
    events_before = Event.objects.filter(action="profile.updated").count()
    try:
        change = services.profile_update(user=customer, values=values)
    except services.ProfileInvalid as refused:
        assert refused.errors and set(refused.errors) <= set(FIELDS)
        assert ProfileChange.objects.count() == changes_before
        assert Event.objects.filter(action="profile.updated").count() == events_before
        return
    expected = changes_before + (change is not None)
    assert ProfileChange.objects.count() == expected
    assert Event.objects.filter(action="profile.updated").count() == events_before + (
        change is not None
    )
