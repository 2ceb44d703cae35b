"""Deterministic coins: all randomness in the ML layer is SHA-256 of chain data.

A coin is
``SHA-256(DOMAIN || kind || len(seed) || seed || len(label) || label || n || ctr_1..ctr_n)``
with every length and counter as a fixed-width big-endian integer and ``kind`` naming the
derivation (single coin, bounded draw, index batch), so distinct requests can never collide by
concatenation ambiguity. Anyone holding the chain data that forms ``seed`` (typically
``h(parent_hash || ctr)`` or ``h(parent || proposer)``) can recompute every draw, and nobody
can bias one without grinding the seed itself.

Uniform integers are produced by rejection sampling with an *inner* counter (an extra counter
component) instead of ``x % n``: modulo would bias small residues by up to ``n / 2**256``;
rejection is exactly uniform and still deterministic. Minibatch indices use the same rule on
64-bit words (four per digest) because one digest per index would cost as much as the
gradient step it feeds.
"""

from __future__ import annotations

import hashlib
import struct

from learnchain.ml.fixedpoint import PPB

DOMAIN: bytes = b"learnchain/ml/coin/v1"
COIN_BITS: int = 256
COIN_RANGE: int = 1 << COIN_BITS
_U64: int = 1 << 64


class CoinError(ValueError):
    """Invalid coin request (negative counter, empty range, ...)."""


def _u64(v: int) -> bytes:
    if not 0 <= v < _U64:
        raise CoinError(f"counter {v} outside [0, 2**64)")
    return v.to_bytes(8, "big")


def hash_parts(*parts: bytes) -> bytes:
    """Length-prefixed SHA-256 of byte strings: the ``h(a || b || ...)`` used to form seeds."""
    h = hashlib.sha256(b"learnchain/ml/hash/v1")
    h.update(_u64(len(parts)))
    for p in parts:
        h.update(_u64(len(p)))
        h.update(p)
    return h.digest()


def derive_seed(parent: bytes, ctr: int) -> bytes:
    """Seed ``h(parent_hash || ctr)`` for env resets / stochastic env steps of one block."""
    return hash_parts(parent, _u64(ctr))


def _prefix(kind: bytes, seed: bytes, label: str, n_counters: int) -> hashlib._Hash:
    lab = label.encode("utf-8")
    h = hashlib.sha256(DOMAIN)
    h.update(kind)
    h.update(_u64(len(seed)))
    h.update(seed)
    h.update(_u64(len(lab)))
    h.update(lab)
    h.update(_u64(n_counters))
    return h


def _digest(kind: bytes, seed: bytes, label: str, counters: tuple[int, ...]) -> bytes:
    h = _prefix(kind, seed, label, len(counters))
    h.update(b"".join(_u64(c) for c in counters))
    return h.digest()


def coin_bytes(seed: bytes, label: str, ctr: int) -> bytes:
    """32 pseudo-random bytes bound to ``(seed, label, ctr)``."""
    return _digest(b"C", seed, label, (ctr,))


def coin_int(seed: bytes, label: str, ctr: int) -> int:
    """A coin as an integer uniform in ``[0, 2**256)`` (big-endian digest)."""
    return int.from_bytes(coin_bytes(seed, label, ctr), "big")


def coin_fraction_fp(seed: bytes, label: str, ctr: int) -> int:
    """The coin ``u = n / 2**256`` represented by its numerator ``n`` in ``[0, 2**256)``.

    Compare fractions exactly with integers (``n * PPB < p_ppb * 2**256``), never via floats.
    """
    return coin_int(seed, label, ctr)


def _below(seed: bytes, label: str, counters: tuple[int, ...], n: int) -> int:
    if n <= 0:
        raise CoinError(f"coin_below needs n >= 1, got {n}")
    if n > COIN_RANGE:
        raise CoinError("coin_below supports n <= 2**256")
    limit = COIN_RANGE - (COIN_RANGE % n)  # largest multiple of n not exceeding 2**256
    inner = 0
    while True:
        x = int.from_bytes(_digest(b"B", seed, label, (*counters, inner)), "big")
        if x < limit:
            return x % n
        inner += 1


def coin_below(seed: bytes, label: str, ctr: int, n: int) -> int:
    """Uniform integer in ``[0, n)`` by deterministic rejection (inner counter), no modulo bias."""
    return _below(seed, label, (ctr,), n)


def coin_indices(seed: bytes, label: str, ctr: int, n: int, k: int) -> list[int]:
    """``k`` independent uniform indices in ``[0, n)`` (with replacement): a minibatch draw.

    Digests ``(ctr, block)`` for ``block = 0, 1, ...`` are cut into big-endian 64-bit words;
    a word ``w`` is accepted iff ``w < 2**64 - 2**64 % n`` and then yields ``w % n``
    (exactly uniform); rejected words are skipped. Requires ``n <= 2**64``.
    """
    if k < 0:
        raise CoinError(f"k must be >= 0, got {k}")
    if not 1 <= n <= _U64:
        raise CoinError(f"coin_indices needs 1 <= n <= 2**64, got {n}")
    limit = _U64 - (_U64 % n)
    prefix = _prefix(b"I", seed, label, 2)
    ctr_b = _u64(ctr)
    out: list[int] = []
    block = 0
    while len(out) < k:
        h = prefix.copy()
        h.update(ctr_b + _u64(block))
        for w in struct.unpack(">4Q", h.digest()):
            if w < limit and len(out) < k:
                out.append(w % n)
        block += 1
    return out


def coin_u64(seed: bytes, label: str, ctr: int) -> int:
    """A 64-bit seed (top 8 bytes of the coin), e.g. for seeding a third-party RNG."""
    return int.from_bytes(coin_bytes(seed, label, ctr)[:8], "big")


def coin_stream(seed: bytes, label: str, nbytes: int) -> bytes:
    """``nbytes`` of deterministic stream: coins for ``ctr = 0, 1, ...`` concatenated."""
    out = bytearray()
    ctr = 0
    while len(out) < nbytes:
        out += coin_bytes(seed, label, ctr)
        ctr += 1
    return bytes(out[:nbytes])


def coin_below_ppb(coin: int, p_ppb: int) -> bool:
    """Exact Bernoulli test ``coin / 2**256 < p_ppb / 10**9`` (True with probability p).

    Cross-multiplied so no floor/rounding is involved: ``coin * 10**9 < p_ppb * 2**256``.
    """
    if not 0 <= coin < COIN_RANGE:
        raise CoinError("coin must lie in [0, 2**256)")
    if not 0 <= p_ppb <= PPB:
        raise CoinError(f"probability {p_ppb} ppb outside [0, 10**9]")
    return coin * PPB < p_ppb * COIN_RANGE
