"""Re-encrypting the second-factor secrets under the current master key.

TOTP secrets and recovery-code seeds are stored encrypted with the key ring
(``accounts.adapters.MFAAdapter``, ``mynetspace.core.keyring``); each token names
the key that made it. After a new key is put first in ``ENCRYPTION_KEYS``, this
re-encrypts every secret still under an older key, so that the older key can be
removed. Each authenticator is re-encrypted in its own short transaction, under a row
lock and with its event on the system chain, so the rotation can be interrupted at
any point and run again: it only picks up what still names an older key. The secret
itself never changes (the customer's authenticator app keeps working).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allauth.mfa.models import Authenticator
from django.db import transaction

from audit import services as audit_services
from mynetspace.core import keyring

#: The encrypted member of ``Authenticator.data`` for each kind that has one.
ENCRYPTED_MEMBERS = {
    Authenticator.Type.TOTP: "secret",
    Authenticator.Type.RECOVERY_CODES: "seed",
}


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    #: (authenticator id, reason) of the secrets that could not be decrypted.
    failed: list[tuple[int, str]] = field(default_factory=list)


def mfa_secrets_rotate(*, batch_size: int = 200) -> RotationReport:
    """Re-encrypt every second-factor secret not under the current key; idempotent."""
    ring = keyring.keyring()
    report = RotationReport()
    candidates = Authenticator.objects.filter(type__in=list(ENCRYPTED_MEMBERS)).order_by("pk")
    last_pk = 0
    while True:
        batch = list(candidates.filter(pk__gt=last_pk).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1]
        for pk in batch:
            _rotate_one(pk, ring, report)
    return report


def _rotate_one(pk: int, ring: keyring.KeyRing, report: RotationReport) -> None:
    from .adapters import MFA_SECRET_AAD

    with transaction.atomic():
        authenticator = Authenticator.objects.select_for_update().filter(pk=pk).first()
        if authenticator is None:  # removed meanwhile
            return
        member = ENCRYPTED_MEMBERS[authenticator.type]
        token = (authenticator.data or {}).get(member)
        if not isinstance(token, str) or not ring.needs_rotation(token):
            report.current += 1
            return
        try:
            secret = ring.decrypt(token, aad=MFA_SECRET_AAD)
        except keyring.KeyRingError as exc:
            report.failed.append((pk, str(exc)))
            return
        fresh = ring.encrypt(secret, aad=MFA_SECRET_AAD)
        authenticator.data = {**authenticator.data, member: fresh}
        authenticator.save(update_fields=["data"])
        audit_services.record(
            action="accounts.mfa_secret_reencrypted",
            target_type="mfa.authenticator",
            target_id=str(pk),
            data={"type": authenticator.type, "key_id": ring.current_id},
        )
        report.rotated += 1
