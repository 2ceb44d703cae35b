"""Robust feasibility and optimisation of (s, r, d) under strict uncertainty.

A tuple (s, r, d) is robustly feasible when every s' in [s - u_s, s] and every d' with
|d - d'| <= u_d satisfies all constraints.  The search is exhaustive over the integer ranges
but never materialises the (s, r, d, s', d') box:

* failure and "too slow" probabilities are ``exp(N · ln(1 - 2^-d'))`` where the effective hash
  budget ``N`` depends only on (s, r) and the threshold only on d, so feasibility reduces to
  ``N[s, r] >= need[d]``; ``N`` is non-decreasing in r, so the smallest feasible r per (s, d)
  comes from one sorted search (monotonicity pruning);
* the worst d' of each constraint is known in closed form (largest d' for availability,
  smallest for dispute and "too fast"), the worst s' is the min/max of ``N`` over the small
  s' window;
* comparisons within a relative tolerance of a bound are re-decided with the exact mpmath
  path, so float rounding can never flip a verdict.

:func:`robust_check_exact` enumerates the uncertainty box with mpmath and no monotonicity
assumption: it is the reference the fast optimiser is tested against, and the naive baseline
in the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from learnchain.governance import calculus as calc
from learnchain.governance.config import CalculusConfig

#: Relative distance to a bound below which the float verdict is re-decided exactly.
BOUNDARY_RTOL = 1e-9

CONSTRAINTS = ("failure", "slow", "fast", "dispute", "pool")


# --------------------------------------------------------------------------- exact reference
@dataclass(frozen=True)
class ConstraintCheck:
    """Worst case of one constraint over the uncertainty box."""

    name: str
    value: float
    bound: float
    ok: bool
    worst_s: int
    worst_d: int


def _box(cfg: CalculusConfig, s: int, d: int) -> tuple[list[int], list[int]]:
    s_values = list(range(max(1, s - cfg.u_s), s + 1))
    d_values = list(range(max(0, d - cfg.u_d), d + cfg.u_d + 1))
    return s_values, d_values


def _lam(cfg: CalculusConfig, r: int, s: int, s_prime: int) -> int:
    """λ under the chosen reading: ranges split for the deployed s, or re-split for s'."""
    return calc.nonces_per_miner(r, s if cfg.lambda_reading == "deployed" else s_prime)


def robust_check_exact(cfg: CalculusConfig, s: int, r: int, d: int) -> dict[str, ConstraintCheck]:
    """Exhaustive exact check of every constraint over the uncertainty box (slow, reference)."""
    s_values, d_values = _box(cfg, s, d)
    m, m_fast, m_mu = cfg.m_slow, cfg.m_fast, cfg.m_mu
    worst: dict[str, tuple[Any, int, int]] = {}

    def keep(name: str, value: Any, sp: int, dp: int) -> None:
        if name not in worst or value > worst[name][0]:
            worst[name] = (value, sp, dp)

    for sp in s_values:
        for dp in d_values:
            lam = _lam(cfg, r, s, sp)
            keep("failure", calc.exact_failure(sp, dp, lam), sp, dp)
            keep("slow", calc.exact_p_time_greater(sp, dp, lam, m), sp, dp)
            keep("fast", calc.exact_p_time_less(sp, dp, lam, m_fast), sp, dp)
            keep("dispute", calc.exact_dispute(sp, dp, m_mu), sp, dp)
    bounds = {
        "failure": cfg.delta,
        "slow": cfg.delta,
        "fast": cfg.delta_fast,
        "dispute": cfg.delta2,
    }
    out: dict[str, ConstraintCheck] = {}
    for name, bound in bounds.items():
        value, sp, dp = worst[name]
        out[name] = ConstraintCheck(
            name, float(value), bound, bool(value <= mpmath.mpf(bound)), sp, dp
        )
    s_min = s_values[0]
    ratio = Fraction(cfg.pool_l, s_min) ** cfg.pool_c
    out["pool"] = ConstraintCheck(
        "pool", float(ratio), cfg.delta3, ratio <= Fraction(cfg.delta3), s_min, d
    )
    return out


def robust_cost_exact(cfg: CalculusConfig, s: int, r: int, d: int) -> float:
    """Robust cost: worst case over the box (or nominal), fixed cost paid for all s deployed."""
    if cfg.robust_cost == "nominal":
        s_values, d_values = [s], [d]
    else:
        s_values, d_values = _box(cfg, s, d)
    best = mpmath.mpf("-inf")
    for sp in s_values:
        for dp in d_values:
            e = calc.exact_expected_rounds(sp, dp, _lam(cfg, r, s, sp))
            best = max(best, mpmath.mpf(cfg.tvc) * e * sp + mpmath.mpf(cfg.tfc) * s)
    return float(best)


def is_robustly_feasible_exact(cfg: CalculusConfig, s: int, r: int, d: int) -> bool:
    return all(c.ok for c in robust_check_exact(cfg, s, r, d).values())


# --------------------------------------------------------------------------- fast solver
@dataclass
class FeasibleRegion:
    """Per (s, d): robust feasibility and the interval of feasible r (inclusive)."""

    s_values: np.ndarray
    d_values: np.ndarray
    r_values: np.ndarray
    feasible: np.ndarray  # bool (S, D)
    r_lo: np.ndarray  # int (S, D): smallest feasible r, or -1
    r_hi: np.ndarray  # int (S, D): largest feasible r, or -1
    cost: np.ndarray  # float (S, D): robust cost at r_lo (inf where infeasible)
    exact_checks: int = 0
    reasons: dict[str, np.ndarray] = field(default_factory=dict)  # per constraint: (S, D) ok

    def tuples(self) -> list[tuple[int, int, int, float]]:
        """All feasible (s, r_lo, d, cost) rows."""
        idx = np.argwhere(self.feasible)
        return [
            (
                int(self.s_values[i]),
                int(self.r_lo[i, j]),
                int(self.d_values[j]),
                float(self.cost[i, j]),
            )
            for i, j in idx
        ]


def _effective_budgets(cfg: CalculusConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """N[s, r] for each λ-dependent constraint and the s' achieving the worst case."""
    s_arr = np.arange(cfg.s_l, cfg.s_u + 1, dtype=np.float64)
    r_arr = np.arange(cfg.r_l, cfg.r_u + 1, dtype=np.float64)
    two_r = np.exp2(r_arr)[None, :]
    fail_n = slow_n = fast_n = None
    fail_arg = slow_arg = fast_arg = None
    for j in range(cfg.u_s + 1):
        sp = s_arr - j  # u_s < s_l guarantees sp >= 1
        base = s_arr if cfg.lambda_reading == "deployed" else sp
        lam1 = np.floor(two_r / base[:, None]) + 1.0
        nf = sp[:, None] * lam1
        ns = sp[:, None] * np.minimum(float(cfg.m_slow), lam1)
        nq = sp[:, None] * np.minimum(float(cfg.m_fast), lam1)
        if fail_n is None:
            fail_n, slow_n, fast_n = nf, ns, nq
            fail_arg = np.zeros_like(nf, dtype=np.int64)
            slow_arg = np.zeros_like(nf, dtype=np.int64)
            fast_arg = np.zeros_like(nf, dtype=np.int64)
            continue
        upd = nf < fail_n
        fail_n, fail_arg = np.where(upd, nf, fail_n), np.where(upd, j, fail_arg)
        upd = ns < slow_n
        slow_n, slow_arg = np.where(upd, ns, slow_n), np.where(upd, j, slow_arg)
        upd = nq > fast_n
        fast_n, fast_arg = np.where(upd, nq, fast_n), np.where(upd, j, fast_arg)
    assert fail_n is not None and slow_n is not None and fast_n is not None
    assert fail_arg is not None and slow_arg is not None and fast_arg is not None
    return {
        "failure": (fail_n, fail_arg),
        "slow": (slow_n, slow_arg),
        "fast": (fast_n, fast_arg),
    }


def _required_budget(log_bound: float, lmiss: np.ndarray) -> np.ndarray:
    """Smallest N with N·ln(1-2^-d') <= log_bound (both logs negative)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(lmiss == 0.0, np.inf, log_bound / lmiss)
    need = np.where(np.isneginf(lmiss), 0.0, need)  # d' = 0: one hash always succeeds
    return np.where(log_bound >= 0, 0.0, need)


def _near(values: np.ndarray, thr: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(thr), 1.0)
    with np.errstate(invalid="ignore"):
        return np.isfinite(thr) & (np.abs(values - thr) <= BOUNDARY_RTOL * scale)


def _near_lower(n_mat: np.ndarray, idx: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """(s, d) whose float-found first feasible r, or the r below it, sits on the boundary."""
    n_r = n_mat.shape[1]
    rows = np.arange(n_mat.shape[0])[:, None]
    prev = n_mat[rows, np.clip(idx - 1, 0, n_r - 1)]
    cur = n_mat[rows, np.clip(idx, 0, n_r - 1)]
    t = np.broadcast_to(thr[None, :], idx.shape)
    return ((idx > 0) & _near(prev, t)) | ((idx < n_r) & _near(cur, t))


def _near_upper(n_mat: np.ndarray, idx: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """(s, d) whose float-found last feasible r, or the r above it, sits on the boundary."""
    n_r = n_mat.shape[1]
    rows = np.arange(n_mat.shape[0])[:, None]
    nxt = n_mat[rows, np.clip(idx + 1, 0, n_r - 1)]
    cur = n_mat[rows, np.clip(idx, 0, n_r - 1)]
    t = np.broadcast_to(thr[None, :], idx.shape)
    return ((idx + 1 < n_r) & _near(nxt, t)) | ((idx >= 0) & _near(cur, t))


def _exact_n_budget(cfg: CalculusConfig, kind: str, s: int, r: int, j: int = 0) -> int:
    """Exact worst-case hash budget over the whole s' window, in integers.

    ``j`` (the float argmin) is ignored on purpose: near-ties between s' values are exactly
    where floats may pick the wrong one.
    """
    del j
    values = []
    for sp in range(max(1, s - cfg.u_s), s + 1):
        lam1 = calc.nonces_per_miner(r, s if cfg.lambda_reading == "deployed" else sp) + 1
        if kind == "failure":
            values.append(sp * lam1)
        elif kind == "slow":
            values.append(sp * min(cfg.m_slow, lam1))
        else:
            values.append(sp * min(cfg.m_fast, lam1))
    return max(values) if kind == "fast" else min(values)


def _exact_budget_ok(cfg: CalculusConfig, kind: str, n_exact: int, d_worst: int) -> bool:
    """Decide N·ln(1-2^-d') <= ln δ (or the 'fast' counterpart) with mpmath."""
    with mpmath.workdps(calc._dps_for(1 << min(d_worst, 4096), n_exact) + 20):
        lm = mpmath.log1p(-(mpmath.mpf(2) ** (-d_worst))) if d_worst > 0 else mpmath.ninf
        val = n_exact * lm if n_exact else mpmath.mpf(0)
        if kind == "fast":
            return bool(-mpmath.expm1(val) <= mpmath.mpf(cfg.delta_fast))
        return bool(val <= mpmath.log(mpmath.mpf(cfg.delta)))


def solve_region(cfg: CalculusConfig) -> FeasibleRegion:
    """Robust feasibility of the whole integer box plus the robust cost at the minimal r."""
    s_arr = np.arange(cfg.s_l, cfg.s_u + 1)
    r_arr = np.arange(cfg.r_l, cfg.r_u + 1)
    d_arr = np.arange(cfg.d_l, cfg.d_u + 1)
    n_s, n_r, n_d = len(s_arr), len(r_arr), len(d_arr)
    budgets = _effective_budgets(cfg)
    d_hi = d_arr + cfg.u_d  # worst for failure / slow
    d_lo = np.maximum(d_arr - cfg.u_d, 0)  # worst for fast / dispute
    lmiss_hi = calc.log_miss(d_hi)
    lmiss_lo = calc.log_miss(d_lo)
    log_delta = float(np.log(cfg.delta)) if cfg.delta > 0 else -np.inf
    need = {
        "failure": _required_budget(log_delta, lmiss_hi),
        "slow": _required_budget(log_delta, lmiss_hi),
    }
    exact_checks = 0

    # ---- lower end of r from failure and slow (N non-decreasing in r)
    r_lo_idx = np.zeros((n_s, n_d), dtype=np.int64)
    for kind in ("failure", "slow"):
        n_mat, arg = budgets[kind]
        thr = need[kind]
        idx = np.empty((n_s, n_d), dtype=np.int64)
        for i in range(n_s):
            idx[i] = np.searchsorted(n_mat[i], thr, side="left")
        # exact re-decision near the boundary: look at the index below and the index found
        for i, j in np.argwhere(_near_lower(n_mat, idx, thr)):
            k = idx[i, j]
            t = thr[j]
            while k > 0 and abs(n_mat[i, k - 1] - t) <= BOUNDARY_RTOL * max(t, 1.0):
                exact_checks += 1
                n_ex = _exact_n_budget(cfg, kind, int(s_arr[i]), int(r_arr[k - 1]), arg[i, k - 1])
                if not _exact_budget_ok(cfg, kind, n_ex, int(d_hi[j])):
                    break
                k -= 1
            while k < n_r and abs(n_mat[i, k] - t) <= BOUNDARY_RTOL * max(t, 1.0):
                exact_checks += 1
                n_ex = _exact_n_budget(cfg, kind, int(s_arr[i]), int(r_arr[k]), arg[i, k])
                if _exact_budget_ok(cfg, kind, n_ex, int(d_hi[j])):
                    break
                k += 1
            idx[i, j] = k
        r_lo_idx = np.maximum(r_lo_idx, idx)

    # ---- upper end of r from "too fast" (N_fast non-decreasing in r -> upper bound)
    n_fast, arg_fast = budgets["fast"]
    log_keep = float(np.log1p(-cfg.delta_fast)) if cfg.delta_fast < 1 else -np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        allow = np.where(lmiss_lo == 0.0, np.inf, log_keep / lmiss_lo)
    allow = np.where(np.isneginf(lmiss_lo), 0.0, allow)
    allow = np.where(np.isneginf(log_keep), np.inf, allow)
    r_hi_idx = np.empty((n_s, n_d), dtype=np.int64)
    for i in range(n_s):
        r_hi_idx[i] = np.searchsorted(n_fast[i], allow, side="right") - 1
    near_fast = _near_upper(n_fast, r_hi_idx, allow) if cfg.m_fast > 0 else np.zeros(
        (n_s, n_d), dtype=bool
    )
    for i, j in np.argwhere(near_fast):
        k = r_hi_idx[i, j]
        t = allow[j]
        while k + 1 < n_r and abs(n_fast[i, k + 1] - t) <= BOUNDARY_RTOL * max(t, 1.0):
            exact_checks += 1
            n_ex = _exact_n_budget(
                cfg, "fast", int(s_arr[i]), int(r_arr[k + 1]), arg_fast[i, k + 1]
            )
            if not _exact_budget_ok(cfg, "fast", n_ex, int(d_lo[j])):
                break
            k += 1
        while k >= 0 and abs(n_fast[i, k] - t) <= BOUNDARY_RTOL * max(t, 1.0):
            exact_checks += 1
            n_ex = _exact_n_budget(cfg, "fast", int(s_arr[i]), int(r_arr[k]), arg_fast[i, k])
            if _exact_budget_ok(cfg, "fast", n_ex, int(d_lo[j])):
                break
            k -= 1
        r_hi_idx[i, j] = k

    # ---- dispute: worst s' = s, d' = d - u_d; independent of r
    disp = calc.dispute_prob(s_arr[:, None], d_lo[None, :], cfg.m_mu)
    disp_ok = disp <= cfg.delta2
    near_d = np.abs(disp - cfg.delta2) <= 1e-8 * max(cfg.delta2, 1e-300)
    for i, j in np.argwhere(near_d):
        exact_checks += 1
        exact = calc.exact_dispute(int(s_arr[i]), int(d_lo[j]), cfg.m_mu)
        disp_ok[i, j] = bool(exact <= mpmath.mpf(cfg.delta2))

    # ---- pool: worst s' = s - u_s, exact rational comparison
    pool_ok_s = np.array(
        [calc.pool_bound_ok(cfg.pool_l, cfg.pool_c, cfg.delta3, int(s) - cfg.u_s) for s in s_arr]
    )

    r_window_ok = (r_lo_idx < n_r) & (r_hi_idx >= r_lo_idx)
    feasible = r_window_ok & disp_ok & pool_ok_s[:, None]
    r_lo = np.where(feasible, r_arr[np.minimum(r_lo_idx, n_r - 1)], -1)
    r_hi = np.where(feasible, r_arr[np.clip(r_hi_idx, 0, n_r - 1)], -1)
    cost = _robust_cost_grid(cfg, s_arr, d_arr, r_lo, feasible)
    reasons = {
        "r_window": r_window_ok,
        "dispute": disp_ok,
        "pool": np.broadcast_to(pool_ok_s[:, None], feasible.shape),
    }
    return FeasibleRegion(
        s_values=s_arr,
        d_values=d_arr,
        r_values=r_arr,
        feasible=feasible,
        r_lo=r_lo,
        r_hi=r_hi,
        cost=cost,
        exact_checks=exact_checks,
        reasons=reasons,
    )


def _robust_cost_grid(
    cfg: CalculusConfig,
    s_arr: np.ndarray,
    d_arr: np.ndarray,
    r_lo: np.ndarray,
    feasible: np.ndarray,
) -> np.ndarray:
    """Worst-case cost over the box at the minimal feasible r, only for feasible (s, d)."""
    out = np.full(feasible.shape, np.inf)
    ii, jj = np.nonzero(feasible)
    if ii.size == 0:
        return out
    s_f = s_arr[ii].astype(np.float64)
    d_f = d_arr[jj].astype(np.float64)
    two_r = np.exp2(r_lo[ii, jj].astype(np.float64))
    if cfg.robust_cost == "nominal":
        offsets_s, offsets_d = [0], [0]
    else:
        offsets_s = list(range(cfg.u_s + 1))
        offsets_d = list(range(-cfg.u_d, cfg.u_d + 1))
    best = np.full(ii.shape, -np.inf)
    for js in offsets_s:
        sp = s_f - js
        lam = np.floor(two_r / (s_f if cfg.lambda_reading == "deployed" else sp))
        for jd in offsets_d:
            dp = np.maximum(d_f + jd, 0.0)
            c = cfg.tvc * calc.expected_rounds(sp, dp, lam) * sp + cfg.tfc * s_f
            best = np.maximum(best, c)
    out[ii, jj] = best
    return out


# --------------------------------------------------------------------------- optimisers
@dataclass(frozen=True)
class Solution:
    """One reported (s, r, d) with its robust cost and the interval of feasible r."""

    s: int
    r: int
    d: int
    cost: float
    r_max: int

    def as_dict(self) -> dict[str, Any]:
        return {"s": self.s, "r": self.r, "d": self.d, "cost": self.cost, "r_max": self.r_max}


@dataclass
class OptimisationResult:
    """Optimum, the reporting table and bookkeeping."""

    config_name: str
    objective: str
    optimum: Solution | None
    table: list[Solution]
    n_feasible_pairs: int
    exact_checks: int
    seconds: float
    feasible_d: tuple[int, int] | None

    @property
    def feasible(self) -> bool:
        return self.optimum is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config_name,
            "objective": self.objective,
            "feasible": self.feasible,
            "optimum": self.optimum.as_dict() if self.optimum else None,
            "table": [t.as_dict() for t in self.table],
            "n_feasible_sd_pairs": self.n_feasible_pairs,
            "exact_checks": self.exact_checks,
            "seconds": self.seconds,
            "feasible_d_range": list(self.feasible_d) if self.feasible_d else None,
        }


def _solution(region: FeasibleRegion, i: int, j: int) -> Solution:
    return Solution(
        s=int(region.s_values[i]),
        r=int(region.r_lo[i, j]),
        d=int(region.d_values[j]),
        cost=float(region.cost[i, j]),
        r_max=int(region.r_hi[i, j]),
    )


def report_table(
    region: FeasibleRegion, optimum_cost: float, alpha: float, top_p: int
) -> list[Solution]:
    """The whitepaper's reporting: per d (descending), minimal r and cost within α of optimum.

    For each difficulty d we keep the feasible tuples whose robust cost is at most
    (1 + α)·optimum; among them the cheapest (s, r) is reported, r being the smallest feasible
    r for that s.  The top p rows by descending d are returned.
    """
    limit = optimum_cost * (1.0 + alpha)
    rows: list[Solution] = []
    for j in range(len(region.d_values) - 1, -1, -1):
        col = np.where(region.feasible[:, j] & (region.cost[:, j] <= limit), region.cost[:, j],
                       np.inf)
        if not np.isfinite(col).any():
            continue
        i = int(np.argmin(col))
        rows.append(_solution(region, i, j))
        if len(rows) >= top_p:
            break
    return rows


def optimise(cfg: CalculusConfig, region: FeasibleRegion | None = None) -> OptimisationResult:
    """Minimise robust cost, or maximise d under the budget, exhaustively over the ranges."""
    import time

    t0 = time.perf_counter()
    reg = region if region is not None else solve_region(cfg)
    cost = np.where(reg.feasible, reg.cost, np.inf)
    optimum: Solution | None = None
    if np.isfinite(cost).any():
        if cfg.objective == "min_cost":
            i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
            optimum = _solution(reg, int(i), int(j))
        else:
            assert cfg.budget is not None
            within = np.isfinite(cost) & (cost <= cfg.budget)
            if within.any():
                j = int(np.nonzero(within.any(axis=0))[0].max())
                i = int(np.argmin(np.where(within[:, j], cost[:, j], np.inf)))
                optimum = _solution(reg, i, j)
    table: list[Solution] = []
    if optimum is not None:
        if cfg.objective == "min_cost":
            table = report_table(reg, optimum.cost, cfg.alpha, cfg.top_p)
        else:
            assert cfg.budget is not None
            table = report_table(reg, cfg.budget, 0.0, cfg.top_p)
    d_any = np.nonzero(reg.feasible.any(axis=0))[0]
    feasible_d = (int(reg.d_values[d_any.min()]), int(reg.d_values[d_any.max()])) if d_any.size \
        else None
    return OptimisationResult(
        config_name=cfg.name,
        objective=cfg.objective,
        optimum=optimum,
        table=table,
        n_feasible_pairs=int(reg.feasible.sum()),
        exact_checks=reg.exact_checks,
        seconds=time.perf_counter() - t0,
        feasible_d=feasible_d,
    )


def naive_exhaustive(
    cfg: CalculusConfig, s_values: range, r_values: range, d_values: range
) -> tuple[Solution | None, int]:
    """Straightforward baseline: exact check of every tuple and every box point (no pruning).

    Returns the minimum-robust-cost tuple and how many tuples were checked.
    """
    best: Solution | None = None
    checked = 0
    for s in s_values:
        for d in d_values:
            for r in r_values:
                checked += 1
                if not is_robustly_feasible_exact(cfg, s, r, d):
                    continue
                c = robust_cost_exact(cfg, s, r, d)
                if best is None or c < best.cost:
                    best = Solution(s=s, r=r, d=d, cost=c, r_max=r)
    return best, checked
