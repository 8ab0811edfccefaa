"""Contract references: public, not guessable, easy to read out and to type.

A reference looks like ``MNS-7K3P-9QX2``: eight random symbols from Crockford's
base 32 alphabet (no I, L, O or U, so nothing is mistaken for 1, 0 or V), 40 bits of
randomness from ``secrets``. The logged-out cancellation form asks for it together
with the email address, so a guessed reference alone achieves nothing.

People type references loosely: :func:`reference_normalize` accepts lower case,
spaces, missing or extra dashes and the look-alike letters (O for 0, I and L for 1).
"""

from __future__ import annotations

import secrets

PREFIX = "MNS"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 2
GROUP_LENGTH = 4
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def generate_reference() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join((PREFIX, *groups))


def reference_normalize(value: str) -> str | None:
    """The canonical form of a typed reference, or ``None`` if it cannot be one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    compact = "".join(ch for ch in value.upper() if ch not in " -_.\t")
    if compact.startswith(PREFIX):
        compact = compact[len(PREFIX) :]
    compact = compact.translate(_LOOKALIKES)
    if len(compact) != GROUPS * GROUP_LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    groups = [compact[i : i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH)]
    return "-".join((PREFIX, *groups))
