"""Binary Merkle root with domain separation (RFC 6962 shape).

Leaves and inner nodes are hashed with different prefixes so a leaf can never be passed off as
a subtree; the tree splits at the largest power of two below n, so no element is duplicated
(which would let two different lists share a root).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _leaf(item: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + item).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(items: Sequence[bytes]) -> bytes:
    if not items:
        return EMPTY_ROOT
    level = [_leaf(item) for item in items]
    return _root_of_hashes(level)


def _root_of_hashes(hashes: list[bytes]) -> bytes:
    n = len(hashes)
    if n == 1:
        return hashes[0]
    split = 1 << ((n - 1).bit_length() - 1)
    return _node(_root_of_hashes(hashes[:split]), _root_of_hashes(hashes[split:]))
