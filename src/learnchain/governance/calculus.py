"""Analytic mining-race model of a governed proof-of-work chain (random-oracle model).

A consortium deploys ``s`` identical miners.  The nonce space of ``r`` bits is split into
disjoint ranges of ``λ = ⌊2^r / s⌋`` nonces, one per miner; every round each miner hashes one
nonce and succeeds with probability ``2^-d``.  The quantities here are the whitepaper's
closed forms (see ``docs/experiments/mining-calculus.md``).

Two evaluation paths exist because the interesting parameters sit exactly where IEEE
doubles break: ``1 - 2^-64`` rounds to ``1.0`` and ``y^(λ+1)`` with ``λ ~ 2^43`` is
``exp(-44)``-small.  That rounding is why off-the-shelf MINLP solvers declared the published
problems infeasible.

* the *fast path* (``*_log`` / vectorised numpy) never forms ``1 - 2^-d``; it works with
  ``log1p(-2^-d)`` and ``expm1`` so every probability keeps full relative precision, and
* the *exact path* (``exact_*``) uses :mod:`mpmath` with a working precision chosen from the
  size of the integers involved; the robust optimiser only calls it for tuples whose fast
  value lies within a relative tolerance of a constraint bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

FloatArray = NDArray[np.float64]

#: Decimal digits for the exact path.  2^-d with d <= 1024 and exponents up to 2^1024 need at
#: most ~330 digits to stay exact-enough; we add headroom and scale with the inputs below.
_BASE_DPS = 60


def nonces_per_miner(r: int, s: int) -> int:
    """λ = ⌊2^r / s⌋: why integer arithmetic: 2^r exceeds 2^53 for the published r."""
    if s < 1:
        raise ValueError(f"s must be >= 1, got {s}")
    if r < 0:
        raise ValueError(f"r must be >= 0, got {r}")
    return (1 << r) // s


def rounds_within(th: float, hash_time: float) -> int:
    """Number of whole rounds that fit in ``th`` seconds (⌊th/T⌋), exact for float inputs."""
    if th <= 0:
        return 0
    return math.floor(Fraction(th) / Fraction(hash_time))


def rounds_strictly_before(th: float, hash_time: float) -> int:
    """Largest ``m`` with ``m·T < th``: a race finishing in round m is 'too fast'."""
    if th <= 0:
        return 0
    q = Fraction(th) / Fraction(hash_time)
    m = math.floor(q)
    return m - 1 if m == q else m


# --------------------------------------------------------------------------- fast path
def log_miss(d: ArrayLike) -> FloatArray:
    """ln(1 - 2^-d) without ever forming 1 - 2^-d (which is 1.0 in doubles for d >= 54)."""
    d_arr = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log1p(-np.exp2(-d_arr))


def log_y(s: ArrayLike, d: ArrayLike) -> FloatArray:
    """ln y with y = (1 - 2^-d)^s, the probability that a whole round fails."""
    return np.asarray(s, dtype=np.float64) * log_miss(d)


def _mul_log(n: ArrayLike, lg: ArrayLike) -> FloatArray:
    """n·ln(p) with the convention 0·(-inf) = 0 (zero trials never succeed)."""
    n_arr = np.asarray(n, dtype=np.float64)
    lg_arr = np.asarray(lg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = n_arr * lg_arr
    return np.where(n_arr == 0, 0.0, out)


def failure_prob(s: ArrayLike, d: ArrayLike, lam: ArrayLike) -> FloatArray:
    """P(failure) = y^(λ+1): every miner exhausts its range without a solution."""
    return np.exp(_mul_log(np.asarray(lam, dtype=np.float64) + 1.0, log_y(s, d)))


def success_at_round_prob(s: ArrayLike, d: ArrayLike, k: ArrayLike) -> FloatArray:
    """P(first success in round k) = y^k (1 - y), k = 0..λ."""
    ly = log_y(s, d)
    return np.exp(_mul_log(k, ly)) * -np.expm1(ly)


def expected_rounds(s: ArrayLike, d: ArrayLike, lam: ArrayLike) -> FloatArray:
    """E[rounds] = (1 - y^(λ+1) - (λ+1)(1-y)y^(λ+1)) / (1-y).

    This is Σ_{k=0}^{λ} (k+1)·y^k(1-y): a failed race contributes no rounds (the published
    convention).  Evaluated as ``-expm1(log1p(n q) - n a) / q`` with ``a = -ln y``, ``q = 1-y``,
    ``n = λ+1`` to avoid the catastrophic cancellation of the textbook form, and by a
    third-order series when ``n·a`` is tiny.
    """
    a = -log_y(s, d)
    n = np.asarray(lam, dtype=np.float64) + 1.0
    q = -np.expm1(-a)
    na = n * a
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        stable = -np.expm1(np.log1p(n * q) - na) / q
        # Σ (k+1) e^{-ka} q expanded to O(a^2): exact sums of (k+1)k^j for k < n.
        s1 = n * (n + 1.0) / 2.0
        s2 = (n - 1.0) * n * (n + 1.0) / 3.0
        s3 = ((n - 1.0) * n / 2.0) ** 2 + (n - 1.0) * n * (2.0 * n - 1.0) / 6.0
        series = q * (s1 - a * s2 + a * a * s3 / 2.0)
    out = np.where(na < 1e-4, series, stable)
    # d' = 0: every hash succeeds, the race ends in the first round.
    return np.where(np.isinf(a), 1.0, out)


def p_time_greater_log(s: ArrayLike, d: ArrayLike, lam: ArrayLike, m: ArrayLike) -> FloatArray:
    """ln P(time > th) where m = ⌊th/T⌋; a failed race never finishes, so it counts as slow.

    P(time > th) = y^min(m, λ+1).
    """
    n = np.minimum(np.asarray(m, dtype=np.float64), np.asarray(lam, dtype=np.float64) + 1.0)
    return _mul_log(n, log_y(s, d))


def p_time_greater(s: ArrayLike, d: ArrayLike, lam: ArrayLike, m: ArrayLike) -> FloatArray:
    """P(time > th) = y^min(⌊th/T⌋, λ+1)."""
    return np.exp(p_time_greater_log(s, d, lam, m))


def p_time_less(s: ArrayLike, d: ArrayLike, lam: ArrayLike, m_strict: ArrayLike) -> FloatArray:
    """P(time < th') = 1 - y^min(m', λ+1) with m' the rounds finishing strictly before th'."""
    n = np.minimum(np.asarray(m_strict, dtype=np.float64), np.asarray(lam, dtype=np.float64) + 1)
    return -np.expm1(_mul_log(n, log_y(s, d)))


def window_miss_log(d: ArrayLike, m_mu: ArrayLike) -> FloatArray:
    """ln w with w = (1 - 2^-d)^(⌊μ/T⌋+1): one miner finds nothing within μ seconds."""
    return _mul_log(m_mu, log_miss(d))


def dispute_prob(s: ArrayLike, d: ArrayLike, m_mu: ArrayLike) -> FloatArray:
    """P(two or more miners solve within μ) = 1 + (s-1)w^s - s w^(s-1).

    Computed as the binomial tail P(Bin(s, 1-w) >= 2) = I_{1-w}(2, s-1) so values far below
    machine epsilon keep their relative precision.
    """
    s_arr = np.asarray(s, dtype=np.float64)
    x = -np.expm1(window_miss_log(d, m_mu))
    with np.errstate(invalid="ignore"):
        tail = special.betainc(2.0, np.maximum(s_arr - 1.0, 1.0), x)
    return np.where(s_arr < 2, 0.0, tail)


def cost(s: ArrayLike, d: ArrayLike, lam: ArrayLike, tvc: float, tfc: float) -> FloatArray:
    """cost = TVC·E[rounds]·s + TFC·s: hashing energy plus per-miner fixed cost."""
    s_arr = np.asarray(s, dtype=np.float64)
    return tvc * expected_rounds(s_arr, d, lam) * s_arr + tfc * s_arr


def pool_bound_ok(l_pool: int, c: int, delta3: float, s: int) -> bool:
    """l^c <= δ3·s^c exactly: a pool of l miners wins c consecutive blocks w.p. (l/s)^c."""
    return Fraction(l_pool) ** c <= Fraction(delta3) * Fraction(s) ** c


# --------------------------------------------------------------------------- exact path
def _dps_for(*ints: int) -> int:
    """Working precision: enough digits to represent 2^-d next to 1 and huge exponents."""
    bits = max((abs(int(v)).bit_length() for v in ints), default=0)
    return _BASE_DPS + int(bits * 0.302) + 10


@dataclass(frozen=True)
class ExactQuantities:
    """Every model quantity for one (s, r, d), evaluated with mpmath (values as mpf)."""

    s: int
    r: int
    d: int
    lam: int
    y: mpmath.mpf
    failure: mpmath.mpf
    expected_rounds: mpmath.mpf
    p_slow: mpmath.mpf
    p_fast: mpmath.mpf
    dispute: mpmath.mpf
    cost: mpmath.mpf


def exact_y(s: int, d: int) -> mpmath.mpf:
    """y = (1 - 2^-d)^s at a precision where 1 - 2^-d is exact."""
    with mpmath.workdps(_dps_for(1 << min(d, 4096), s)):
        return (1 - mpmath.mpf(2) ** (-d)) ** s


def exact_log_y(s: int, d: int) -> mpmath.mpf:
    """ln y exactly-enough; the exact path compares logs to avoid forming 1e-300 numbers."""
    with mpmath.workdps(_dps_for(1 << min(d, 4096), s)):
        return s * mpmath.log1p(-(mpmath.mpf(2) ** (-d)))


def exact_failure(s: int, d: int, lam: int) -> mpmath.mpf:
    """y^(λ+1) with mpmath."""
    with mpmath.workdps(_dps_for(1 << min(d, 4096), s, lam)):
        return mpmath.exp((lam + 1) * exact_log_y(s, d))


def exact_expected_rounds(s: int, d: int, lam: int) -> mpmath.mpf:
    """The closed form evaluated at high precision (cancellation is harmless there)."""
    with mpmath.workdps(2 * _dps_for(1 << min(d, 4096), s, lam)):
        if d == 0:
            return mpmath.mpf(1)
        y = (1 - mpmath.mpf(2) ** (-d)) ** s
        n = lam + 1
        yn = y**n
        return (1 - yn - n * (1 - y) * yn) / (1 - y)


def exact_p_time_greater(s: int, d: int, lam: int, m: int) -> mpmath.mpf:
    """y^min(m, λ+1) with mpmath."""
    n = min(m, lam + 1)
    with mpmath.workdps(_dps_for(1 << min(d, 4096), s, n)):
        return mpmath.exp(n * exact_log_y(s, d))


def exact_p_time_less(s: int, d: int, lam: int, m_strict: int) -> mpmath.mpf:
    """1 - y^min(m', λ+1) with mpmath."""
    n = min(m_strict, lam + 1)
    with mpmath.workdps(_dps_for(1 << min(d, 4096), s, n)):
        return -mpmath.expm1(n * exact_log_y(s, d))


def exact_dispute(s: int, d: int, m_mu: int) -> mpmath.mpf:
    """1 + (s-1)w^s - s w^(s-1), evaluated at doubled precision to survive cancellation."""
    if s < 2:
        return mpmath.mpf(0)
    with mpmath.workdps(3 * _dps_for(1 << min(d, 4096), s, m_mu)):
        w = mpmath.exp(m_mu * mpmath.log1p(-(mpmath.mpf(2) ** (-d)))) if d > 0 else 0
        return 1 + (s - 1) * w**s - s * w ** (s - 1)


def exact_quantities(
    s: int,
    r: int,
    d: int,
    *,
    hash_time: float,
    tau_u: float,
    tau_l: float,
    mu: float,
    tvc: float,
    tfc: float,
    lam: int | None = None,
) -> ExactQuantities:
    """Evaluate every quantity for one tuple; ``lam`` overrides λ = ⌊2^r/s⌋ (robust reading)."""
    lam_v = nonces_per_miner(r, s) if lam is None else lam
    m = rounds_within(tau_u, hash_time)
    m_strict = rounds_strictly_before(tau_l, hash_time)
    m_mu = rounds_within(mu, hash_time) + 1
    e_rounds = exact_expected_rounds(s, d, lam_v)
    with mpmath.workdps(_BASE_DPS):
        c = mpmath.mpf(tvc) * e_rounds * s + mpmath.mpf(tfc) * s
    return ExactQuantities(
        s=s,
        r=r,
        d=d,
        lam=lam_v,
        y=exact_y(s, d),
        failure=exact_failure(s, d, lam_v),
        expected_rounds=e_rounds,
        p_slow=exact_p_time_greater(s, d, lam_v, m),
        p_fast=exact_p_time_less(s, d, lam_v, m_strict),
        dispute=exact_dispute(s, d, m_mu),
        cost=c,
    )


# --------------------------------------------------------------------------- g groups
@dataclass(frozen=True)
class MinerGroup:
    """``count`` identical miners with their own hash time and per-miner costs."""

    count: int
    hash_time: float
    tvc: float = 0.0
    tfc: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"MinerGroup.count must be >= 0, got {self.count}")
        if not self.hash_time > 0:
            raise ValueError(f"MinerGroup.hash_time must be > 0, got {self.hash_time}")


def _total(groups: Sequence[MinerGroup]) -> int:
    total = sum(g.count for g in groups)
    if total < 1:
        raise ValueError("at least one miner is needed across all groups")
    return total


def group_failure(groups: Sequence[MinerGroup], r: int, d: int) -> mpmath.mpf:
    """Π_i y_i^(λ+1): groups race independently, λ = ⌊2^r / Σ s_i⌋."""
    lam = nonces_per_miner(r, _total(groups))
    with mpmath.workdps(_dps_for(1 << min(d, 4096), lam)):
        return mpmath.exp(sum((lam + 1) * exact_log_y(g.count, d) for g in groups))


def group_p_time_greater(groups: Sequence[MinerGroup], r: int, d: int, th: float) -> mpmath.mpf:
    """Π_i y_i^min(⌊th/T_i⌋, λ+1): nobody in any group has finished by th."""
    lam = nonces_per_miner(r, _total(groups))
    with mpmath.workdps(_dps_for(1 << min(d, 4096), lam)):
        return mpmath.exp(
            sum(
                min(rounds_within(th, g.hash_time), lam + 1) * exact_log_y(g.count, d)
                for g in groups
            )
        )


def group_p_time_less(groups: Sequence[MinerGroup], r: int, d: int, th: float) -> mpmath.mpf:
    """1 - Π_i y_i^min(m'_i, λ+1): some group finishes strictly before th."""
    lam = nonces_per_miner(r, _total(groups))
    with mpmath.workdps(_dps_for(1 << min(d, 4096), lam)):
        return -mpmath.expm1(
            sum(
                min(rounds_strictly_before(th, g.hash_time), lam + 1) * exact_log_y(g.count, d)
                for g in groups
            )
        )


def group_dispute(groups: Sequence[MinerGroup], d: int, mu: float) -> mpmath.mpf:
    """1 - P(no solution) - P(exactly one) across groups: the product form.

    P0 = Π w_i^{s_i}, P1 = Σ_i s_i (1-w_i) w_i^{s_i-1} Π_{j≠i} w_j^{s_j}.
    """
    with mpmath.workdps(3 * _dps_for(1 << min(d, 4096), _total(groups))):
        lm = mpmath.log1p(-(mpmath.mpf(2) ** (-d))) if d > 0 else mpmath.ninf
        ws = [mpmath.exp((rounds_within(mu, g.hash_time) + 1) * lm) for g in groups]
        p0 = mpmath.fprod(w**g.count for w, g in zip(ws, groups, strict=True))
        p1 = mpmath.mpf(0)
        for i, (wi, gi) in enumerate(zip(ws, groups, strict=True)):
            if gi.count == 0:
                continue
            others = mpmath.fprod(
                w**g.count for j, (w, g) in enumerate(zip(ws, groups, strict=True)) if j != i
            )
            p1 += gi.count * (1 - wi) * wi ** (gi.count - 1) * others
        return 1 - p0 - p1


def group_expected_rounds(groups: Sequence[MinerGroup], r: int, d: int) -> list[mpmath.mpf]:
    """E_i: expected rounds group i alone would need (its own y_i, the shared λ)."""
    lam = nonces_per_miner(r, _total(groups))
    return [
        exact_expected_rounds(g.count, d, lam) if g.count else mpmath.inf for g in groups
    ]


def group_cost(groups: Sequence[MinerGroup], r: int, d: int) -> mpmath.mpf:
    """Σ_i (TVC_i·min_j E_j·s_i + TFC_i·s_i): everybody hashes until the fastest group wins."""
    e_min = min(group_expected_rounds(groups, r, d))
    with mpmath.workdps(_BASE_DPS):
        return mpmath.fsum(
            mpmath.mpf(g.tvc) * e_min * g.count + mpmath.mpf(g.tfc) * g.count for g in groups
        )


# --------------------------------------------------------------------------- naive baseline
def naive_double_failure(s: int, d: int, lam: int) -> float:
    """What a solver evaluating the textbook formula in doubles sees: used to show the bug.

    ``1 - 2**-d`` is 1.0 for d >= 54, so y = 1 and P(failure) = 1: every tuple looks infeasible.
    """
    y = (1.0 - 2.0**-d) ** s
    return float(y ** (lam + 1))
