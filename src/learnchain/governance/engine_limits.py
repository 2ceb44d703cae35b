"""The run-time engine's only window onto the mining calculus (a deliberately narrow adapter).

The environment, the action validator and the benchmark need three things from the
calculus of §6: the exact race model (how long s miners hashing at difficulty d take), the
robustly feasible (s, d) region (§6.4: what the validator may allow), and the block time at
the calculus optimum (the latency budget).  Everything goes through this module so that a
rewrite of ``governance.calculus`` / ``governance.robust`` touches one file: we only call
``calculus.log_miss``, ``CalculusConfig``, ``solve_region`` (its ``s_values``, ``d_values``,
``feasible``) and ``optimise`` (its ``optimum.s/r/d``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from learnchain.governance import calculus as calc
from learnchain.governance.config import CalculusConfig
from learnchain.governance.robust import optimise, solve_region


def log_miss(d: int) -> float:
    """ln(1 - 2^-d): the per-hash miss log-probability, from the calculus (exact for big d)."""
    return float(calc.log_miss(d))


def sample_hashes(rng: np.random.Generator, d: int, n: int) -> np.ndarray:
    """Hashes each of ``n`` miners needs for its first success at difficulty ``d``.

    Exact geometric inversion ``⌈ln U / ln(1-2^-d)⌉`` with the calculus's ``log_miss``, so
    d >= 54 (where 1 - 2^-d is 1.0 in doubles) is still exact.  A miner exhausting its nonce
    range bumps ``extra`` and keeps hashing, so the race is memoryless and λ drops out.
    """
    lm = log_miss(d)
    if d == 0 or not math.isfinite(lm):
        return np.ones(n)
    u = 1.0 - rng.random(n)  # (0, 1]
    return np.maximum(np.ceil(np.log(u) / lm), 1.0)


def expected_block_time(d: int, total_rate: float) -> float:
    """Mean race time in seconds for total hash rate ``total_rate`` (hashes/s) at difficulty d."""
    if total_rate <= 0:
        return math.inf
    return -1.0 / (total_rate * log_miss(d)) if d > 0 else 1.0 / total_rate


@dataclass(frozen=True)
class FeasibleRegion:
    """Robustly feasible difficulties per miner count (inclusive ranges; absent = infeasible)."""

    d_range: dict[int, tuple[int, int]]

    def allows(self, s: int, d: int) -> bool:
        rng = self.d_range.get(s)
        return rng is not None and rng[0] <= d <= rng[1]


def region_config(hash_time: float, target: float, s_min: int, s_max: int, d_lo: int,
                  d_hi: int) -> CalculusConfig:
    """The calculus constants the engine validates against (see docs/governance-engine.md).

    τ_u = 20·target with δ = 1e-2 (a block slower than 20 targets is a failure), τ_l =
    target/100 with δ_fast = 0.1, one miner down and one bit of difficulty error (u_s = u_d =
    1): the robust region then spans nominal mean block times of roughly 0.2 to 1.8 targets.
    """
    return CalculusConfig(
        hash_time=hash_time, tau_u=20.0 * target, tau_l=target / 100.0, mu=target / 1000.0,
        delta=1e-2, delta_fast=0.1, delta2=1e-3, delta3=1.0, pool_l=1, pool_c=1,
        s_l=max(2, s_min), s_u=max(s_max, max(2, s_min)), r_l=8, r_u=64,
        d_l=max(1, d_lo), d_u=max(d_hi, max(1, d_lo)), u_s=1, u_d=1, tvc=1e-12, tfc=0.01,
        name="governance-engine",
    )


@lru_cache(maxsize=256)
def _region(hash_time: float, target: float, s_min: int, s_max: int, d_lo: int,
            d_hi: int) -> FeasibleRegion:
    reg = solve_region(region_config(hash_time, target, s_min, s_max, d_lo, d_hi))
    out: dict[int, tuple[int, int]] = {}
    for i, s in enumerate(reg.s_values):
        ds = reg.d_values[np.asarray(reg.feasible[i], dtype=bool)]
        if ds.size:
            out[int(s)] = (int(ds.min()), int(ds.max()))
    return FeasibleRegion(out)


def feasible_region(hash_time: float, target: float, s_min: int, s_max: int, d_lo: int,
                    d_hi: int) -> FeasibleRegion | None:
    """Region for per-miner hash time ``hash_time``, quantised to 1/4 bit and cached.

    Quantising keeps the cache small when the estimate drifts; a quarter bit is far below
    the one-bit difficulty step the region is read at.  ``None`` when the calculus finds no
    feasible (s, d) at all: a validator cannot steer by an empty region, so it then falls
    back to the static bounds alone (documented in docs/governance-engine.md).
    """
    q = 2.0 ** (round(4 * math.log2(hash_time)) / 4)
    reg = _region(q, float(target), s_min, s_max, d_lo, d_hi)
    return reg if reg.d_range else None


@dataclass(frozen=True)
class Optimum:
    """The calculus optimum (s, r, d) and its expected block time in seconds."""

    s: int
    r: int
    d: int
    block_time: float


def calculus_optimum(cfg: CalculusConfig) -> Optimum:
    """Optimise ``cfg`` and report the expected block time of the optimal tuple."""
    res = optimise(cfg)
    if res.optimum is None:
        raise ValueError(f"calculus config {cfg.name!r} has no robustly feasible tuple")
    o = res.optimum
    t = expected_block_time(o.d, o.s / cfg.hash_time)
    return Optimum(o.s, o.r, o.d, t)
