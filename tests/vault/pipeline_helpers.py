"""Helpers of the upload pipeline and document page tests: activated customers, uploads."""

from __future__ import annotations

import itertools
import time

from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Consent
from guides.models import LegalDocument
from tests.accounts.factories import accept_current_texts, publish_legal
from tests.accounts.privacy_helpers import make_user

_numbers = itertools.count(1)


def publish_vault_information(**kwargs):
    """Publish the next version of the vault information (French and English)."""
    return publish_legal(
        LegalDocument.Kind.VAULT_INFORMATION,
        body_fr=kwargs.pop("body_fr", "# Le coffre\n\nVos documents sont chiffrés."),
        summary=kwargs.pop("summary", "Publication."),
        **kwargs,
    )


def _publisher():
    from accounts.models import User

    staff = User.objects.filter(email="publication@example.test").first()
    return staff or make_user("publication@example.test", is_staff=True, is_superuser=True)


def ensure_texts() -> None:
    """Terms, privacy policy and vault information published (once per test)."""
    for kind in (
        LegalDocument.Kind.TERMS,
        LegalDocument.Kind.PRIVACY,
        LegalDocument.Kind.VAULT_INFORMATION,
    ):
        purpose = {
            LegalDocument.Kind.TERMS: Consent.Purpose.TERMS,
            LegalDocument.Kind.PRIVACY: Consent.Purpose.PRIVACY,
            LegalDocument.Kind.VAULT_INFORMATION: Consent.Purpose.VAULT_INFORMATION,
        }[kind]
        if account_selectors.latest_version_number(purpose) is not None:
            continue
        if kind == LegalDocument.Kind.VAULT_INFORMATION:
            publish_vault_information(staff=_publisher())
        else:
            publish_legal(kind, summary="Première publication.", staff=_publisher())


def activate_vault(user) -> None:
    """Record that ``user`` accepted the vault information in force."""
    account_services.consent_record(
        user=user,
        purpose=Consent.Purpose.VAULT_INFORMATION,
        granted=True,
        content_version=account_selectors.legal_version_in_force(
            Consent.Purpose.VAULT_INFORMATION, language="fr"
        ),
        wording="J'ai lu l'information sur le coffre numérique et j'active mon coffre.",
    )


def vault_customer(client=None, *, activated: bool = True, **fields):
    """A verified customer who accepted the terms (and the vault information), logged in
    on ``client`` as if they had just typed their password (downloads need it)."""
    ensure_texts()
    email = fields.pop("email", None) or f"coffre-client{next(_numbers)}@example.test"
    user = make_user(email, **fields)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    accept_current_texts(user)
    if activated:
        activate_vault(user)
    if client is not None:
        login_fresh(client, user)
    return user


def login_fresh(client, user) -> None:
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


BOUNDARY = "----mns-vault-test-boundary"


def multipart(fields: dict[str, str], filename: str, data: bytes) -> bytes:
    """A multipart body as a browser sends it: the fields, then the file (any name, even
    one Django's own test client would refuse to build, such as ``..``)."""
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode()
            + b"\r\n"
        )
    quoted = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def upload(client, filename: str, data: bytes, **fields):
    """POST the upload form: other fields first, the file last (as the page orders them)."""
    payload = {"title": fields.pop("title", ""), "doc_type": fields.pop("doc_type", "")}
    payload.update(fields)
    if "csrfmiddlewaretoken" not in payload and client.cookies.get("csrftoken"):
        payload["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    return client.post(
        reverse("vault:upload"),
        data=multipart(payload, filename, data),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
