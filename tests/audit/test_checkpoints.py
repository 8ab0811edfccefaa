"""Checkpoints: RFC 6962 Merkle hashing, inclusion proofs, Ed25519 signatures, key rotation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle, services, signing
from audit.hashing import format_timestamp
from audit.models import Chain, Event

from .factories import UserFactory
from .helpers import run_verify

# --- An independent, literal reading of RFC 6962 §2.1, for the test vectors -------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rfc_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + rfc_mth(leaves[:k]) + rfc_mth(leaves[k:]))


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*rfc_path(m, leaves[:k]), rfc_mth(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), rfc_mth(leaves[:k])]


LEAVES = [f"leaf {i}".encode() for i in range(17)]


def test_empty_and_single_leaf_trees():
    assert merkle.root_from_leaf_hashes([]) == hashlib.sha256(b"").digest()
    assert merkle.root_from_leaf_hashes([merkle.leaf_hash(b"x")]) == _h(b"\x00x")


@pytest.mark.parametrize("size", range(18))
def test_root_matches_rfc_6962(size):
    leaves = LEAVES[:size]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    assert merkle.root_from_leaf_hashes(hashes) == rfc_mth(leaves)


@pytest.mark.parametrize("size", range(1, 18))
def test_inclusion_proofs_match_rfc_6962_and_verify(size):
    leaves = LEAVES[:size]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    root = rfc_mth(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(hashes, index)
        assert proof == rfc_path(index, leaves)
        assert merkle.verify_inclusion(hashes[index], index, size, proof, root)


def test_inclusion_proof_fails_for_a_wrong_leaf_index_or_root():
    hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES[:7]]
    root = merkle.root_from_leaf_hashes(hashes)
    proof = merkle.inclusion_proof(hashes, 3)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), 3, 7, proof, root)
    assert not merkle.verify_inclusion(hashes[3], 4, 7, proof, root)
    assert not merkle.verify_inclusion(hashes[3], 3, 4, proof, root)
    assert not merkle.verify_inclusion(hashes[3], 3, 7, proof[:-1], root)
    assert not merkle.verify_inclusion(hashes[3], 3, 7, proof, bytes(32))
    assert not merkle.verify_inclusion(hashes[3], 7, 7, proof, root)


@pytest.mark.django_db
def test_checkpoint_signs_the_root_of_every_chain_head():
    users = UserFactory.create_batch(3)
    for user in users:
        services.record(action="x.y", subject=user)
    services.record(action="x.y")
    checkpoint = services.checkpoint_create()

    heads = sorted(list(h) for h in Chain.objects.values_list("key", "length", "head_hash"))
    # The checkpoint's own event comes after the snapshot it signs.
    system = next(h for h in heads if h[0] == "system")
    system[1] -= 1
    system[2] = Event.objects.get(chain_key="system", seq=system[1]).hash
    assert checkpoint.heads == heads
    assert checkpoint.tree_size == 4
    leaves = [merkle.head_leaf_data(*h) for h in heads]
    assert checkpoint.root_hash == rfc_mth(leaves).hex()
    assert Event.objects.filter(action="audit.checkpoint_created", target_id=str(checkpoint.pk))


@pytest.mark.django_db
def test_signature_verifies_with_its_public_key_and_fails_with_another():
    services.record(action="x.y")
    checkpoint = services.checkpoint_create()
    message = signing.checkpoint_message(
        created_at=format_timestamp(checkpoint.created_at),
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        key_id=checkpoint.key_id,
    )
    assert message.startswith(b"MyNetSpace audit checkpoint v1\n")
    assert signing.verify(checkpoint.public_key, checkpoint.signature, message)

    other = base64.b64encode(signing.public_key_raw(Ed25519PrivateKey.generate())).decode()
    assert not signing.verify(other, checkpoint.signature, message)
    assert not signing.verify(checkpoint.public_key, checkpoint.signature, message + b" ")


@pytest.mark.django_db
def test_inclusion_proof_of_a_chain_head_in_a_checkpoint():
    users = UserFactory.create_batch(5)
    for user in users:
        services.record(action="x.y", subject=user)
    checkpoint = services.checkpoint_create()
    hashes = merkle.head_leaf_hashes(checkpoint.heads)
    root = bytes.fromhex(checkpoint.root_hash)
    for index, head in enumerate(checkpoint.heads):
        proof = merkle.inclusion_proof(hashes, index)
        leaf = merkle.leaf_hash(merkle.head_leaf_data(*head))
        assert merkle.verify_inclusion(leaf, index, checkpoint.tree_size, proof, root)


def _new_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


@pytest.mark.django_db
def test_rotated_key_old_checkpoints_need_the_retired_key_trusted(settings):
    """GIVEN checkpoints signed with an old key WHEN the signing key is rotated
    THEN they verify only while the old public key is listed as trusted."""
    old_key = _new_key()
    settings.AUDIT_SIGNING_KEY = old_key
    services.record(action="x.y")
    old = services.checkpoint_create()

    settings.AUDIT_SIGNING_KEY = _new_key()
    settings.AUDIT_TRUSTED_PUBLIC_KEYS = []
    services.checkpoint_create()
    code, output = run_verify()
    assert code == 1
    assert f"checkpoint {old.pk}" in output
    assert "not trusted" in output

    settings.AUDIT_TRUSTED_PUBLIC_KEYS = [old.public_key]
    code, output = run_verify()
    assert code == 0, output


@pytest.mark.django_db
def test_checkpoint_command_creates_one(capsys):
    from django.core.management import call_command

    services.record(action="x.y")
    call_command("audit_checkpoint")
    assert "checkpoint " in capsys.readouterr().out
    code, output = run_verify()
    assert code == 0, output
    assert "1 checkpoints" in output


def test_worked_example_in_the_evidence_format_document():
    """The values printed in docs/evidence-format.md §7 are what the code computes."""
    import datetime as dt
    from pathlib import Path

    from audit.hashing import GENESIS_HASH, canonical_json, chain_hash, content_body, event_body

    doc = (Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md").read_text()
    utc = dt.UTC
    e1 = event_body(
        chain_key="user:42", seq=1, occurred_at=dt.datetime(2026, 3, 2, 9, 30, 0, 123456, utc),
        actor_type="user", actor_id=42, on_behalf_of_id=None, action="account.signed_up",
        target_type="accounts.user", target_id="42",
        data={"plan": "standard", "accepted": {"cgv": 3, "privacy": 2}}, ip="203.0.113.7",
        user_agent="Mozilla/5.0", request_id="3f2c9a",
    )  # fmt: skip
    h1 = chain_hash(GENESIS_HASH, e1)
    e2 = event_body(
        chain_key="user:42", seq=2, occurred_at=dt.datetime(2026, 3, 2, 9, 31, 5, 0, utc),
        actor_type="staff", actor_id=7, on_behalf_of_id=42, action="assistance.request_answered",
        target_type="assistance.request", target_id="881",
        data={"note": "Dossier complet, merci."}, ip="198.51.100.20", user_agent="Firefox",
        request_id="9b1d04",
    )  # fmt: skip
    h2 = chain_hash(h1, e2)
    content = content_body(
        key="legal:cgv", version=3, language="fr", title="Conditions générales de vente",
        body="# Article 1\n\nObjet.", summary="Précision de l'article 1.",
        published_at=dt.datetime(2026, 3, 2, 8, 0, 0, 0, utc), published_by_id=7,
    )  # fmt: skip
    content_sha = hashlib.sha256(canonical_json(content)).hexdigest()
    system = event_body(
        chain_key="system", seq=1, occurred_at=dt.datetime(2026, 3, 2, 8, 0, 0, 0, utc),
        actor_type="system", actor_id=None, on_behalf_of_id=None, action="content.published",
        target_type="audit.contentversion", target_id="1",
        data={"key": "legal:cgv", "version": 3, "language": "fr", "sha256": content_sha},
        ip="", user_agent="", request_id="",
    )  # fmt: skip
    hs = chain_hash(GENESIS_HASH, system)
    heads = [["system", 1, hs], ["user:42", 2, h2]]
    root = merkle.root_from_leaf_hashes(merkle.head_leaf_hashes(heads)).hex()
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    kid = signing.key_id(signing.public_key_raw(key))
    message = signing.checkpoint_message(
        created_at="2026-03-02T10:00:00.000000Z", tree_size=2, root_hash=root, key_id=kid
    )
    for value in [
        canonical_json(e1).decode(), h1, canonical_json(e2).decode(), h2,
        canonical_json(content).decode(), content_sha, canonical_json(system).decode(), hs,
        root, kid, signing.sign(key, message),
        base64.b64encode(signing.public_key_raw(key)).decode(),
    ]:  # fmt: skip
        assert value in doc


@pytest.mark.django_db
def test_selector_gives_a_verifiable_inclusion_proof_for_a_customer():
    from audit.selectors import checkpoint_inclusion_proof, checkpoint_latest

    users = UserFactory.create_batch(3)
    for user in users:
        services.record(action="x.y", subject=user)
    checkpoint = checkpoint_latest() or services.checkpoint_create()
    proof = checkpoint_inclusion_proof(checkpoint=checkpoint, chain_key=f"user:{users[1].pk}")
    leaf = merkle.leaf_hash(
        merkle.head_leaf_data(proof["chain_key"], proof["length"], proof["head_hash"])
    )
    assert merkle.verify_inclusion(
        leaf,
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(p) for p in proof["audit_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    assert checkpoint_inclusion_proof(checkpoint=checkpoint, chain_key="user:0") is None
