"""The closed forms against direct summation, exact arithmetic and Monte Carlo races."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.governance import calculus as calc


def frac_y(s: int, d: int) -> Fraction:
    return (1 - Fraction(1, 2**d)) ** s


def direct_success(s: int, d: int, lam: int) -> list[Fraction]:
    """P(first success in round k), k = 0..λ, by multiplying per-round miss probabilities."""
    y = frac_y(s, d)
    out, miss = [], Fraction(1)
    for _ in range(lam + 1):
        out.append(miss * (1 - y))
        miss *= y
    return out


SMALL = [(1, 1, 0), (1, 3, 5), (2, 2, 4), (3, 4, 10), (5, 3, 7), (8, 6, 30), (4, 1, 2)]


@pytest.mark.parametrize(("s", "d", "lam"), SMALL)
def test_success_probabilities_sum_with_failure_to_one(s: int, d: int, lam: int) -> None:
    probs = direct_success(s, d, lam)
    failure = frac_y(s, d) ** (lam + 1)
    assert sum(probs) + failure == 1
    fast = calc.success_at_round_prob(s, d, np.arange(lam + 1))
    assert np.allclose(fast, [float(p) for p in probs], rtol=1e-12, atol=0)
    assert float(calc.failure_prob(s, d, lam)) == pytest.approx(float(failure), rel=1e-12)


@pytest.mark.parametrize(("s", "d", "lam"), SMALL)
def test_expected_rounds_matches_direct_sum(s: int, d: int, lam: int) -> None:
    direct = sum((k + 1) * p for k, p in enumerate(direct_success(s, d, lam)))
    assert float(calc.expected_rounds(s, d, lam)) == pytest.approx(float(direct), rel=1e-10)
    assert float(calc.exact_expected_rounds(s, d, lam)) == pytest.approx(float(direct), rel=1e-25)


@pytest.mark.parametrize(("s", "d", "lam"), SMALL)
@pytest.mark.parametrize("m", [0, 1, 2, 3, 7, 50])
def test_time_tails_match_direct_sum(s: int, d: int, lam: int, m: int) -> None:
    probs = direct_success(s, d, lam)
    failure = frac_y(s, d) ** (lam + 1)
    # rounds R = k + 1; P(R > m) includes the never-finishing failed race
    slow = sum(p for k, p in enumerate(probs) if k + 1 > m) + failure
    fast = sum(p for k, p in enumerate(probs) if k + 1 <= m)
    assert float(calc.p_time_greater(s, d, lam, m)) == pytest.approx(float(slow), rel=1e-12)
    assert float(calc.p_time_less(s, d, lam, m)) == pytest.approx(float(fast), rel=1e-12,
                                                                  abs=1e-300)
    assert float(calc.exact_p_time_greater(s, d, lam, m)) == pytest.approx(float(slow), rel=1e-20)


def test_round_counting_from_seconds_is_exact() -> None:
    assert calc.rounds_within(1.0, 0.25) == 4
    assert calc.rounds_strictly_before(1.0, 0.25) == 3
    assert calc.rounds_strictly_before(1.1, 0.25) == 4
    assert calc.rounds_within(0.0, 0.25) == 0
    # 0.002e-9 is not a dyadic number: the floor must use exact rationals, not float division
    assert calc.rounds_within(1454 / 7, 0.002e-9) == math.floor(
        Fraction(1454 / 7) / Fraction(0.002e-9)
    )


@pytest.mark.parametrize(
    ("s", "d", "m_mu"), [(2, 1, 1), (3, 2, 2), (5, 3, 4), (7, 5, 9), (1, 2, 3)]
)
def test_dispute_matches_binomial_enumeration(s: int, d: int, m_mu: int) -> None:
    w = (1 - Fraction(1, 2**d)) ** m_mu
    x = 1 - w
    direct = sum(math.comb(s, j) * x**j * w ** (s - j) for j in range(2, s + 1))
    closed = 1 + (s - 1) * w**s - s * w ** (s - 1) if s >= 1 else 0
    assert direct == closed
    assert float(calc.dispute_prob(s, d, m_mu)) == pytest.approx(float(direct), rel=1e-12,
                                                                 abs=1e-300)
    assert float(calc.exact_dispute(s, d, m_mu)) == pytest.approx(float(direct), rel=1e-25,
                                                                  abs=1e-300)


def test_pool_bound_is_exact() -> None:
    assert calc.pool_bound_ok(1, 2, 0.001, 32) is True  # 1/1024 <= 0.001? no: 0.0009765 <= 0.001
    assert calc.pool_bound_ok(1, 2, 0.001, 31) is False
    assert calc.pool_bound_ok(1, 1, 0.5, 2) is True  # equality allowed


@pytest.mark.parametrize(
    ("s", "d", "r"),
    [(33, 43, 49), (500, 60, 80), (2, 64, 70), (1000, 50, 43), (10, 20, 30), (3, 90, 100)],
)
def test_fast_path_agrees_with_exact_path_where_doubles_fail(s: int, d: int, r: int) -> None:
    lam = calc.nonces_per_miner(r, s)
    m = 10**14
    exact_fail = calc.exact_failure(s, d, lam)
    fast_fail = float(calc.failure_prob(s, d, lam))
    if exact_fail > mpmath.mpf("1e-300"):
        assert fast_fail == pytest.approx(float(exact_fail), rel=1e-9)
    e_exact = float(calc.exact_expected_rounds(s, d, lam))
    assert float(calc.expected_rounds(s, d, lam)) == pytest.approx(e_exact, rel=1e-9)
    slow = calc.exact_p_time_greater(s, d, lam, m)
    if slow > mpmath.mpf("1e-300"):
        assert float(calc.p_time_greater(s, d, lam, m)) == pytest.approx(float(slow), rel=1e-9)
    disp = float(calc.exact_dispute(s, d, 5 * 10**9))
    assert float(calc.dispute_prob(s, d, 5 * 10**9)) == pytest.approx(disp, rel=1e-9, abs=1e-300)


def test_naive_doubles_see_certain_failure_where_exact_sees_none() -> None:
    """The published anecdote: MINLP solvers in doubles declared feasible problems infeasible."""
    s, d, r = 32, 60, 70
    lam = calc.nonces_per_miner(r, s)
    assert calc.naive_double_failure(s, d, lam) == 1.0
    assert calc.exact_failure(s, d, lam) < mpmath.mpf(2) ** -64
    assert float(calc.failure_prob(s, d, lam)) < 2.0**-64


def test_expected_rounds_series_regime_continuous() -> None:
    """Around the switch between series and stable forms the value must not jump."""
    s, d = 1, 60
    lams = np.array([1e10, 3e10, 5.7e10, 5.8e10, 1e11, 1e13], dtype=float)
    fast = calc.expected_rounds(s, d, lams)
    exact = [float(calc.exact_expected_rounds(s, d, int(v))) for v in lams]
    assert np.allclose(fast, exact, rtol=1e-9)


# ----------------------------------------------------------------------------- hypothesis
@settings(max_examples=150, deadline=None)
@given(
    s=st.integers(1, 300),
    d=st.integers(1, 90),
    r=st.integers(0, 90),
    m=st.integers(0, 10**15),
)
def test_probabilities_are_probabilities_and_rounds_bounded(s: int, d: int, r: int, m: int) -> None:
    lam = calc.nonces_per_miner(r, s)
    for value in (
        calc.failure_prob(s, d, lam),
        calc.p_time_greater(s, d, lam, m),
        calc.p_time_less(s, d, lam, m),
        calc.dispute_prob(s, d, m + 1),
    ):
        assert 0.0 <= float(value) <= 1.0
    e = float(calc.expected_rounds(s, d, lam))
    assert 0.0 <= e <= lam + 1 + 1e-9 * (lam + 1)


@settings(max_examples=100, deadline=None)
@given(s=st.integers(1, 300), d=st.integers(1, 80), r=st.integers(0, 90),
       m_mu=st.integers(1, 10**12))
def test_monotone_in_difficulty(s: int, d: int, r: int, m_mu: int) -> None:
    """Harder puzzles fail more, take longer and dispute less.

    E[rounds] counts a failed race as zero rounds (published convention), so E itself can
    drop by the failure mass; E + (λ+1)·P(failure) = E[min(R, λ+1)] is what must grow.
    """
    lam = calc.nonces_per_miner(r, s)
    assert calc.failure_prob(s, d + 1, lam) >= calc.failure_prob(s, d, lam)

    def capped(dd: int) -> float:
        return float(calc.expected_rounds(s, dd, lam) + (lam + 1) * calc.failure_prob(s, dd, lam))

    assert capped(d + 1) >= capped(d) * (1 - 1e-9)
    assert calc.dispute_prob(s, d + 1, m_mu) <= calc.dispute_prob(s, d, m_mu) * (1 + 1e-12)


# ----------------------------------------------------------------------------- groups
def test_one_group_equals_the_single_model() -> None:
    g = [calc.MinerGroup(count=5, hash_time=0.5, tvc=2.0, tfc=3.0)]
    s, r, d = 5, 8, 4
    lam = calc.nonces_per_miner(r, s)
    assert float(calc.group_failure(g, r, d)) == pytest.approx(float(calc.failure_prob(s, d, lam)))
    assert float(calc.group_p_time_greater(g, r, d, 3.0)) == pytest.approx(
        float(calc.p_time_greater(s, d, lam, 6))
    )
    assert float(calc.group_p_time_less(g, r, d, 3.0)) == pytest.approx(
        float(calc.p_time_less(s, d, lam, 5))
    )
    assert float(calc.group_dispute(g, d, 1.0)) == pytest.approx(
        float(calc.dispute_prob(s, d, 3))
    )
    assert float(calc.group_cost(g, r, d)) == pytest.approx(float(calc.cost(s, d, lam, 2.0, 3.0)))


def test_identical_groups_merge() -> None:
    a = [calc.MinerGroup(3, 0.25), calc.MinerGroup(4, 0.25)]
    b = [calc.MinerGroup(7, 0.25)]
    for fn in (
        lambda g: calc.group_failure(g, 6, 3),
        lambda g: calc.group_p_time_greater(g, 6, 3, 1.3),
        lambda g: calc.group_dispute(g, 3, 0.6),
    ):
        assert float(fn(a)) == pytest.approx(float(fn(b)), rel=1e-30)


def test_group_dispute_matches_enumeration() -> None:
    groups = [calc.MinerGroup(2, 1.0), calc.MinerGroup(3, 0.5)]
    d, mu = 2, 1.0
    xs = []
    for g in groups:
        w = (1 - Fraction(1, 4)) ** (calc.rounds_within(mu, g.hash_time) + 1)
        xs += [1 - w] * g.count
    # enumerate every success pattern of the 5 miners
    total = Fraction(0)
    for mask in range(1 << len(xs)):
        p = Fraction(1)
        for i, x in enumerate(xs):
            p *= x if mask >> i & 1 else 1 - x
        if bin(mask).count("1") >= 2:
            total += p
    assert float(calc.group_dispute(groups, d, mu)) == pytest.approx(float(total), rel=1e-25)


def test_bad_groups_rejected() -> None:
    with pytest.raises(ValueError, match="hash_time"):
        calc.MinerGroup(1, 0.0)
    with pytest.raises(ValueError, match="count"):
        calc.MinerGroup(-1, 1.0)
    with pytest.raises(ValueError, match="at least one miner"):
        calc.group_failure([calc.MinerGroup(0, 1.0)], 3, 2)


# ----------------------------------------------------------------------------- Monte Carlo
def _within(observed: float, p: float, n: int, z: float = 4.5) -> bool:
    sigma = math.sqrt(max(p * (1 - p), 1e-12) / n)
    return abs(observed - p) <= z * sigma + 1e-12


def test_monte_carlo_mining_race_agrees_with_the_model() -> None:
    """Simulate the race miner by miner, nonce by nonce (Bernoulli random oracle)."""
    rng = np.random.default_rng(20240607)
    s, d, r = 4, 4, 5
    lam = calc.nonces_per_miner(r, s)  # 8, so λ+1 = 9 rounds in the model's convention
    n = 40_000
    hits = rng.random((n, lam + 1, s)) < 2.0**-d
    any_hit = hits.any(axis=2)
    finished = any_hit.any(axis=1)
    first = np.where(finished, any_hit.argmax(axis=1), -1)
    # distribution of the success round
    for k in range(lam + 1):
        p = float(calc.success_at_round_prob(s, d, k))
        assert _within(float(np.mean(first == k)), p, n), k
    assert _within(float(np.mean(~finished)), float(calc.failure_prob(s, d, lam)), n)
    # E[rounds] with failed races contributing 0 rounds (the published convention)
    rounds = np.where(finished, first + 1, 0)
    e = float(calc.expected_rounds(s, d, lam))
    assert abs(rounds.mean() - e) <= 4.5 * rounds.std() / math.sqrt(n)
    # time tails with T = 1 s
    for m in (1, 3, 6):
        slow = float(np.mean(~finished | (first + 1 > m)))
        assert _within(slow, float(calc.p_time_greater(s, d, lam, m)), n)
        fast = float(np.mean(finished & (first + 1 <= m)))
        assert _within(fast, float(calc.p_time_less(s, d, lam, m)), n)


def test_monte_carlo_dispute_window() -> None:
    rng = np.random.default_rng(7)
    s, d, m_mu = 6, 5, 3
    n = 60_000
    hits = rng.random((n, s, m_mu)) < 2.0**-d
    solvers = hits.any(axis=2).sum(axis=1)
    assert _within(float(np.mean(solvers >= 2)), float(calc.dispute_prob(s, d, m_mu)), n)


def test_sha256_race_behaves_like_the_random_oracle_model() -> None:
    """Real SHA-256 with disjoint nonce ranges: failure rate and mean rounds match."""
    s, d, r = 3, 4, 5
    lam = calc.nonces_per_miner(r, s)
    n = 2500
    failures, rounds_sum, rounds_sq = 0, 0, 0
    for race in range(n):
        header = b"learnchain-race-" + race.to_bytes(4, "big")
        found = None
        for k in range(lam + 1):
            for miner in range(s):
                nonce = miner * (lam + 1) + k  # disjoint ranges of λ+1 nonces
                digest = hashlib.sha256(header + nonce.to_bytes(8, "big")).digest()
                if int.from_bytes(digest[:2], "big") >> (16 - d) == 0:
                    found = k
                    break
            if found is not None:
                break
        if found is None:
            failures += 1
        else:
            rounds_sum += found + 1
            rounds_sq += (found + 1) ** 2
    assert _within(failures / n, float(calc.failure_prob(s, d, lam)), n)
    mean = rounds_sum / n
    var = rounds_sq / n - mean**2
    assert abs(mean - float(calc.expected_rounds(s, d, lam))) <= 4.5 * math.sqrt(var / n)
