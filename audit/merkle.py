"""Merkle trees with RFC 6962 / RFC 9162 hashing, over the chain heads.

- leaf hash: ``SHA-256(0x00 || leaf_data)``
- node hash: ``SHA-256(0x01 || left || right)``
- a tree of ``n > 1`` leaves splits at ``k``, the largest power of two below ``n``
- the empty tree's root is ``SHA-256("")``

Leaves are the chain heads sorted by chain key; the data of one leaf is the canonical
JSON array ``[chain_key, length, head_hash]`` (``head_leaf_data``).

Computing level by level, pairing neighbours and lifting an unpaired last node
unchanged to the next level, builds exactly the RFC tree (its left subtrees are always
complete), without recursion, so a tree over a million chains is fine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from .hashing import canonical_json

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def head_leaf_data(chain_key: str, length: int, head_hash: str) -> bytes:
    return canonical_json([chain_key, length, head_hash])


def head_leaf_hashes(heads: Iterable[Sequence]) -> list[bytes]:
    return [leaf_hash(head_leaf_data(key, length, head)) for key, length, head in heads]


def _next_level(level: list[bytes]) -> list[bytes]:
    paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 9162 §2.1.3.1), from the leaf upwards."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaf_hashes)} leaves")
    proof: list[bytes] = []
    level = list(leaf_hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        level = _next_level(level)
        index //= 2
    return proof


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place leaf hash ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
