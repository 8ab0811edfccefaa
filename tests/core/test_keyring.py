import base64
import os

import pytest

from mynetspace.core.keyring import KeyRing, KeyRingError


def ring(*ids: str) -> tuple[KeyRing, dict[str, str]]:
    keys = {i: base64.b64encode(os.urandom(32)).decode() for i in ids}
    return KeyRing.parse(",".join(f"{i}:{k}" for i, k in keys.items())), keys


def test_round_trip_and_the_token_names_the_current_key():
    keys, _ = ring("new", "old")
    token = keys.encrypt(b"JBSWY3DPEHPK3PXP", aad=b"mfa:1")
    assert token.startswith("mns1.new.")
    assert b"JBSWY3DPEHPK3PXP" not in token.encode()
    assert keys.decrypt(token, aad=b"mfa:1") == b"JBSWY3DPEHPK3PXP"


def test_rotation_old_tokens_still_decrypt_and_are_flagged():
    old_ring, old_keys = ring("old")
    token = old_ring.encrypt(b"secret")
    new_ring = KeyRing.parse(
        f"new:{base64.b64encode(os.urandom(32)).decode()},old:{old_keys['old']}"
    )
    assert new_ring.decrypt(token) == b"secret"
    assert new_ring.needs_rotation(token)
    assert not new_ring.needs_rotation(new_ring.encrypt(b"secret"))


@pytest.mark.parametrize("change", ["aad", "flip", "unknown_key", "garbage"])
def test_altered_or_misplaced_tokens_are_refused(change):
    keys, _ = ring("k1")
    token = keys.encrypt(b"secret", aad=b"mfa:1")
    aad = b"mfa:1"
    if change == "aad":
        aad = b"mfa:2"
    elif change == "flip":
        body = bytearray(token.encode())
        body[-3] = ord("A") if body[-3] != ord("A") else ord("B")
        token = body.decode()
    elif change == "unknown_key":
        token = token.replace("mns1.k1.", "mns1.k9.")
    else:
        token = "not a token"
    with pytest.raises(KeyRingError):
        keys.decrypt(token, aad=aad)


@pytest.mark.parametrize(
    "value",
    ["", "k1", "k1:notbase64!", "k1:" + base64.b64encode(b"short").decode(), "bad id:AAAA"],
)
def test_malformed_key_rings_are_refused_with_a_reason(value):
    with pytest.raises(KeyRingError):
        KeyRing.parse(value)
