"""Deterministic coins: reproducible, domain-separated, uniform without modulo bias."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.ml.coins import (
    COIN_RANGE,
    CoinError,
    coin_below,
    coin_below_ppb,
    coin_bytes,
    coin_indices,
    coin_int,
    coin_stream,
    derive_seed,
    hash_parts,
)
from learnchain.ml.fixedpoint import PPB


def _chi2(counts: Counter[int], n: int, draws: int) -> float:
    exp = draws / n
    return sum((counts.get(k, 0) - exp) ** 2 / exp for k in range(n))


def test_reproducible_and_domain_separated() -> None:
    a = coin_bytes(b"seed", "eps", 3)
    assert a == coin_bytes(b"seed", "eps", 3)
    assert len(a) == 32
    others = {coin_bytes(b"seed", "eps", 4), coin_bytes(b"seed", "eps2", 3),
              coin_bytes(b"seee", "eps", 3), coin_bytes(b"seed" + b"e", "ps", 3)}
    assert a not in others and len(others) == 4
    assert coin_int(b"seed", "eps", 3) == int.from_bytes(a, "big")


def test_hash_parts_is_unambiguous() -> None:
    assert hash_parts(b"ab", b"c") != hash_parts(b"a", b"bc")
    assert derive_seed(b"parent", 1) != derive_seed(b"parent", 2)


def test_coin_below_uniform() -> None:
    draws = 6000
    counts = Counter(coin_below(b"u", "die", i, 6) for i in range(draws))
    assert set(counts) == set(range(6))
    assert _chi2(counts, 6, draws) < 25.0  # chi2(5) at p=1e-4 is ~25.7


def test_coin_indices_uniform_and_reproducible() -> None:
    idx = coin_indices(b"u", "mb", 7, 10, 5000)
    assert idx == coin_indices(b"u", "mb", 7, 10, 5000)
    assert idx[:64] == coin_indices(b"u", "mb", 7, 10, 64)  # prefix-stable
    assert idx != coin_indices(b"u", "mb", 8, 10, 5000)
    assert _chi2(Counter(idx), 10, len(idx)) < 35.0  # chi2(9) at p=1e-4 is ~33.7
    assert coin_indices(b"u", "mb", 7, 1, 3) == [0, 0, 0]


def test_rejection_path_used_for_awkward_ranges() -> None:
    n = COIN_RANGE // 2 + 1  # about half of all raw draws are rejected
    vals = [coin_below(b"r", "big", i, n) for i in range(200)]
    assert all(0 <= v < n for v in vals)
    n64 = 2**63 + 1
    assert all(0 <= v < n64 for v in coin_indices(b"r", "big", 0, n64, 200))


@given(st.binary(max_size=40), st.integers(0, 2**64 - 1), st.integers(1, 2**130))
def test_coin_below_in_range(seed: bytes, ctr: int, n: int) -> None:
    v = coin_below(seed, "p", ctr, n)
    assert 0 <= v < n
    assert v == coin_below(seed, "p", ctr, n)


def test_invalid_requests() -> None:
    with pytest.raises(CoinError):
        coin_below(b"s", "x", 0, 0)
    with pytest.raises(CoinError):
        coin_bytes(b"s", "x", -1)
    with pytest.raises(CoinError):
        coin_below_ppb(0, PPB + 1)


def test_bernoulli_is_exact_at_boundary() -> None:
    p = 123_456_789
    # smallest coin that must NOT explore: ceil(p * 2**256 / 1e9)
    boundary = -(-p * COIN_RANGE // PPB)
    assert coin_below_ppb(boundary - 1, p)
    assert not coin_below_ppb(boundary, p)
    assert not coin_below_ppb(0, 0)
    assert coin_below_ppb(COIN_RANGE - 1, PPB)


def test_bernoulli_frequency() -> None:
    hits = sum(coin_below_ppb(coin_int(b"f", "eps", i), 300_000_000) for i in range(4000))
    assert abs(hits / 4000 - 0.3) < 0.03


def test_stream_length_and_prefix() -> None:
    s = coin_stream(b"s", "init", 100)
    assert len(s) == 100 and s[:32] == coin_bytes(b"s", "init", 0)
