"""Exhaustive robust solver for the paper model and Figure 21's reporting algorithm.

The search space of Table 1 is small (77 miner counts x 41 nonce sizes x 61 difficulties), so
like the whitepaper's Haskell solver we decide *every* tuple; unlike it we do so with numpy
arrays in log space, one array per (constraint, uncertainty point), and re-decide every entry
within a relative 10^-9 of its bound with the exact path of :mod:`paper`.  Arrays that do not
depend on τ_u are cached, so a τ_u sweep recomputes only the expected-time constraint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from scipy import special

from learnchain.governance import calculus as calc
from learnchain.governance.paper import (
    CONSTRAINTS,
    PaperConfig,
    exact_check,
    nominal_cost,
    robust_check_exact,
)

RTOL = 1e-9

#: Which configuration fields each constraint depends on (cache keys).
_DEPENDS: dict[str, tuple[str, ...]] = {
    "nonce_nonempty": (),
    "failure": ("epsilon",),
    "time_upper": ("tau_u", "hash_time"),
    "time_lower": ("tau_l", "hash_time"),
    "nonce_th": ("th", "hash_time"),
    "tail": ("th", "hash_time", "delta"),
    "fast_sound": ("th_prime", "hash_time"),
    "fast": ("th_prime", "hash_time", "delta1"),
    "dispute_sound": ("mu", "hash_time"),
    "dispute": ("mu", "hash_time", "delta2"),
    "pool": ("l_pool", "c", "delta3"),
}
_CACHE: dict[tuple[Any, ...], np.ndarray] = {}
_CACHE_LIMIT = 4096

Point = tuple[str, int, str, int]  # (s mode, j or s' value, lam mode, d offset)


def _grid(cfg: PaperConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.arange(cfg.s_l, cfg.s_u + 1), np.arange(cfg.r_l, cfg.r_u + 1),
            np.arange(cfg.d_l, cfg.d_u + 1))


def _points(cfg: PaperConfig, name: str) -> list[Point]:
    """Nominal point plus the reading's points, as (s-kind, value, λ-kind, d offset)."""
    where = cfg.where(name)
    pts: list[Point] = [("sub", 0, "s", 0)]
    if where.s == "u_s":
        s_items = [("abs", cfg.u_s)]
    elif where.s == "box":
        s_items = [("sub", j) for j in range(cfg.u_s + 1)]
    else:
        s_items = [("sub", 0 if where.s == "s" else cfg.u_s)]
    for kind, v in s_items:
        for k in where.d_offsets(cfg.u_d):
            lam_kind = "s" if where.lam == "s" else ("own" if kind == "sub" else "abs")
            pt: Point = (kind, v, lam_kind, k)
            if pt not in pts:
                pts.append(pt)
    return pts


def _s_prime(s_arr: np.ndarray, kind: str, v: int) -> np.ndarray:
    return s_arr - v if kind == "sub" else np.full_like(s_arr, v)


def _lam_exact(s_arr: np.ndarray, r_arr: np.ndarray, split: np.ndarray) -> np.ndarray:
    """λ = ⌊2^r / split⌋ as Python ints (object array, shape S x R); 0 where split < 1."""
    out = np.empty((len(s_arr), len(r_arr)), dtype=object)
    for i, sp in enumerate(split.tolist()):
        for j, r in enumerate(r_arr.tolist()):
            out[i, j] = (1 << r) // sp if sp >= 1 else 0
    return out


def _key(cfg: PaperConfig, name: str, pt: Point) -> tuple[Any, ...]:
    return (name, pt, cfg.s_l, cfg.s_u, cfg.r_l, cfg.r_u, cfg.d_l, cfg.d_u, cfg.u_s, cfg.u_d,
            *(getattr(cfg, f) for f in _DEPENDS[name]))


def _ln(x: Fraction) -> float:
    return float(mpmath.log(mpmath.mpf(x.numerator) / x.denominator)) if x > 0 else -np.inf


def point_ok(cfg: PaperConfig, name: str, pt: Point) -> tuple[np.ndarray, int]:
    """Bool array (S, R, D): does the constraint hold at this point for every decision tuple?"""
    key = _key(cfg, name, pt)
    if key in _CACHE:
        return _CACHE[key], 0
    s_arr, r_arr, d_arr = _grid(cfg)
    kind, v, lam_kind, k = pt
    if (kind == "sub" and name != "pool" and (lam_kind == "own" or v == 0)
            and (cfg.u_s or cfg.u_d) and cfg.d_l - cfg.u_d >= 1):
        return _shifted(cfg, name, pt, key)
    sp = _s_prime(s_arr, kind, v)
    split = s_arr if lam_kind == "s" else sp
    dp = np.maximum(d_arr + k, 0)
    shape = (len(s_arr), len(r_arr), len(d_arr))
    lkey = ("lam", cfg.s_l, cfg.s_u, cfg.r_l, cfg.r_u, kind, v, lam_kind, cfg.u_s)
    if lkey not in _CACHE:
        lam_o = _lam_exact(s_arr, r_arr, split)
        _CACHE[lkey] = (lam_o, lam_o.astype(np.float64))
    lam_obj, lam_flat = _CACHE[lkey]
    lam_f = lam_flat[:, :, None]
    sp3 = sp.astype(np.float64)[:, None, None]
    valid = np.broadcast_to((sp >= 1)[:, None, None], shape)
    lmiss = calc.log_miss(dp.astype(np.float64))[None, None, :]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        ly = np.where(np.isneginf(lmiss), -np.inf, sp3 * lmiss)
    ok: np.ndarray
    near = np.zeros(shape, dtype=bool)
    if name == "nonce_nonempty":
        ok = np.broadcast_to((lam_obj >= 1).astype(bool)[:, :, None], shape)
    elif name == "nonce_th":
        ok = np.broadcast_to((lam_obj > cfg.a_tail - 1).astype(bool)[:, :, None], shape)
    elif name == "fast_sound":
        ok = np.full(shape, cfg.b_fast - 1 > 0)
    elif name == "dispute_sound":
        ok = np.full(shape, cfg.m_mu - 1 >= 0)
    elif name == "pool":
        per_s = np.array([cfg.l_pool < s and x >= 1 and Fraction(cfg.l_pool) ** cfg.c
                          <= cfg.delta3 * Fraction(int(x)) ** cfg.c
                          for s, x in zip(s_arr.tolist(), sp.tolist(), strict=True)])
        ok = np.broadcast_to(per_s[:, None, None], shape)
    elif name == "failure":
        with np.errstate(invalid="ignore"):
            val = np.where(np.isneginf(ly), -np.inf, (lam_f + 1.0) * ly)
        bound = _ln(cfg.epsilon)
        ok, near = val <= bound, _near(val, bound)
    elif name == "time_lower" and cfg.tau_l == 0:  # T·E > 0: vacuous, skip the grid
        ok = np.ones(shape, dtype=bool)
    elif name in ("time_upper", "time_lower"):
        tkey = ("time", pt, cfg.s_l, cfg.s_u, cfg.r_l, cfg.r_u, cfg.d_l, cfg.d_u, cfg.u_s,
                cfg.u_d, cfg.hash_time)
        if tkey not in _CACHE:
            e = calc.expected_rounds(sp3, np.broadcast_to(dp[None, None, :].astype(float),
                                                          shape), lam_f)
            _CACHE[tkey] = float(cfg.hash_time) * e
        t = _CACHE[tkey]
        bound = float(cfg.tau_u if name == "time_upper" else cfg.tau_l)
        ok = t <= bound if name == "time_upper" else t >= bound
        near = _near(t, bound)
    elif name == "tail":
        a = float(cfg.a_tail)
        gap = lam_f + 1.0 - a
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            lv = a * ly + np.log(-np.expm1(gap * ly))
        positive = (gap > 0) & ~np.isneginf(ly)
        bound = _ln(cfg.delta)
        ok = ~positive | (lv <= bound)
        near = positive & _near(lv, bound)
        # λ+1 and A within float resolution of each other: decide the sign exactly
        near |= np.broadcast_to(np.abs(gap) < 2.0, shape)
    elif name == "fast":
        with np.errstate(invalid="ignore", over="ignore"):  # s' <= 0 points are masked below
            val = -np.expm1(float(cfg.b_fast) * ly)
        bound = float(cfg.delta1)
        ok, near = val <= bound, _near(val, bound)
        if cfg.delta1 >= 1:  # a probability never exceeds 1: vacuous, as §9 intends
            ok, near = np.ones(shape, dtype=bool), np.zeros(shape, dtype=bool)
    elif name == "dispute":
        m = float(cfg.m_mu)
        p = -np.expm1(m * lmiss)
        with np.errstate(invalid="ignore"):
            tail = special.betainc(2.0, np.maximum(sp3 - 1.0, 1.0), p)
        tail = np.where(sp3 < 2, 0.0, tail)
        bound = float(cfg.delta2)
        ok = np.broadcast_to(tail <= bound, shape)
        near = np.broadcast_to(np.abs(tail - bound) <= 1e-7 * max(bound, 1e-300), shape)
    else:  # pragma: no cover - names are validated
        raise ValueError(name)
    ok = np.array(ok & valid, dtype=bool)
    checks = 0
    near = near & valid
    for i, j, kk in (np.argwhere(near) if near.any() else ()):
        checks += 1
        ok[i, j, kk] = exact_check(cfg, name, int(sp[i]), int(r_arr[j]), int(dp[kk]),
                                   int(lam_obj[i, j]), int(s_arr[i]))
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = ok
    return ok, checks


def _shifted(cfg: PaperConfig, name: str, pt: Point, key: tuple[Any, ...]
             ) -> tuple[np.ndarray, int]:
    """A point (s - j, d + k) with λ split for s' is the nominal point of a wider grid, shifted.

    The literal reading evaluates every constraint at (u_s + 1)(2u_d + 1) points; they all
    slice one array over s' in [1, s_u], d' in [d_l - u_d, d_u + u_d] instead of recomputing.
    """
    _, j, _, k = pt
    wide = cfg.with_(s_l=1, d_l=cfg.d_l - cfg.u_d, d_u=cfg.d_u + cfg.u_d, u_s=0, u_d=0)
    base, checks = point_ok(wide, name, ("sub", 0, "own", 0))
    s_arr = np.arange(cfg.s_l, cfg.s_u + 1)
    rows = s_arr - j - 1  # index of s' = s - j in the wide grid (s' starts at 1)
    out = np.zeros((len(s_arr), base.shape[1], cfg.d_u - cfg.d_l + 1), dtype=bool)
    ok_rows = rows >= 0
    d0 = cfg.u_d + k
    out[ok_rows] = base[rows[ok_rows], :, d0: d0 + out.shape[2]]
    _CACHE[key] = out
    return out, checks


def _near(val: np.ndarray, bound: float) -> np.ndarray:
    if not np.isfinite(bound):
        return np.zeros(np.shape(val), dtype=bool)
    with np.errstate(invalid="ignore"):
        # |val - bound| <= tol also rejects inf and nan
        return np.abs(val - bound) <= RTOL * max(abs(bound), 1e-300)


@dataclass
class Region:
    """Robust feasibility of the whole decision grid, per constraint and overall."""

    cfg: PaperConfig
    s_values: np.ndarray
    r_values: np.ndarray
    d_values: np.ndarray
    feasible: np.ndarray  # (S, R, D)
    per_constraint: dict[str, np.ndarray]
    exact_checks: int

    def r_range(self, s: int, d: int) -> list[int]:
        i, k = s - self.cfg.s_l, d - self.cfg.d_l
        return [int(r) for r, ok in zip(self.r_values, self.feasible[i, :, k], strict=True)
                if ok]


def solve(cfg: PaperConfig) -> Region:
    """Decide every (s, r, d): nominal feasibility (Fig. 21 l.3) and the reading's robust one."""
    s_arr, r_arr, d_arr = _grid(cfg)
    feasible = np.ones((len(s_arr), len(r_arr), len(d_arr)), dtype=bool)
    per: dict[str, np.ndarray] = {}
    checks = 0
    for name in cfg.enabled():
        acc = np.ones_like(feasible)
        for pt in _points(cfg, name):
            ok, n = point_ok(cfg, name, pt)
            checks += n
            acc &= ok
        per[name] = acc
        feasible &= acc
    return Region(cfg, s_arr, r_arr, d_arr, feasible, per, checks)


def cost_grid(cfg: PaperConfig) -> np.ndarray:
    """Nominal Cost(s, r, d) of (5) on the grid, or eq. (18)'s worst case when cfg.cost says so."""
    key = ("cost", cfg.cost, cfg.tvc, cfg.tfc, cfg.s_l, cfg.s_u, cfg.r_l, cfg.r_u, cfg.d_l,
           cfg.d_u, cfg.u_s, cfg.u_d)
    if key not in _CACHE:
        _CACHE[key] = _cost_grid(cfg)
    return _CACHE[key]


def _cost_grid(cfg: PaperConfig) -> np.ndarray:
    s_arr, r_arr, d_arr = _grid(cfg)
    offsets = [(0, 0)] if cfg.cost == "nominal" else [
        (j, k) for j in range(cfg.u_s + 1) for k in range(-cfg.u_d, cfg.u_d + 1)]
    best = np.full((len(s_arr), len(r_arr), len(d_arr)), -np.inf)
    for j, k in offsets:
        sp = (s_arr - j).astype(np.float64)
        lam = np.floor(np.exp2(r_arr.astype(np.float64))[None, :] / np.maximum(sp, 1)[:, None])
        dp = np.maximum(d_arr + k, 0).astype(np.float64)
        e = calc.expected_rounds(sp[:, None, None], dp[None, None, :], lam[:, :, None])
        c = float(cfg.tvc) * e * sp[:, None, None] + float(cfg.tfc) * sp[:, None, None]
        c = np.where(sp[:, None, None] >= 1, c, np.inf)
        best = np.maximum(best, c)
    return best


@dataclass(frozen=True)
class Reported:
    """One row of Figure 21's output."""

    s: int
    r: int
    d: int
    cost: float
    cost_exact: str
    r_feasible: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"s": self.s, "r": self.r, "d": self.d, "cost": self.cost,
                "cost_exact": self.cost_exact, "r_feasible": list(self.r_feasible)}


@dataclass
class Figure21Result:
    config: str
    reading: str
    rows: list[Reported]
    c_m: float | None
    n_robust: int
    dropped_by_bigfloat: list[tuple[int, int, int]]
    exact_checks: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "reading": self.reading,
                "rows": [r.as_dict() for r in self.rows], "c_m": self.c_m,
                "n_robust": self.n_robust, "dropped_by_bigfloat": self.dropped_by_bigfloat,
                "exact_checks": self.exact_checks, "seconds": self.seconds}

    def triples(self) -> list[tuple[int, int, int]]:
        return [(r.s, r.r, r.d) for r in self.rows]


def removal(candidates: list[tuple[int, int, int, float]]) -> list[tuple[int, int, int, float]]:
    """Figure 21 lines 5-8 literally: pairwise removal among tuples with the same d.

    The list is in descending d (the algorithm's invariant), then ascending s and r.  For a
    pair ((s, r, d, cost), (s', r', d, cost')) the first case that applies removes a tuple:
    ``cost' < cost or r' < r`` removes the first, ``cost < cost' or r < r'`` the second.  The
    survivor can depend on the order when one tuple is cheaper and the other has a smaller r;
    the published instances never hit that case.
    """
    out: list[tuple[int, int, int, float]] = []
    cur: tuple[int, int, int, float] | None = None
    for t in candidates:
        if cur is None or t[2] != cur[2]:
            if cur is not None:
                out.append(cur)
            cur = t
            continue
        if t[3] < cur[3] or t[1] < cur[1]:
            cur = t
        # else: the second case removes t (or, for an exact tie, the loop would not terminate
        # in the literal text; we keep the first tuple)
    if cur is not None:
        out.append(cur)
    return out


def figure21(cfg: PaperConfig, region: Region | None = None, bigfloat: bool = True,
             costs: np.ndarray | None = None) -> Figure21Result:
    """The whitepaper's reporting algorithm on the robustly feasible tuples."""
    t0 = time.perf_counter()
    reg = region if region is not None else solve(cfg)
    cost = costs if costs is not None else cost_grid(cfg)
    idx = np.argwhere(reg.feasible)
    # descending d, then ascending s, r
    order = np.lexsort((idx[:, 1], idx[:, 0], -idx[:, 2]))
    idx = idx[order]
    cand = list(zip(reg.s_values[idx[:, 0]].tolist(), reg.r_values[idx[:, 1]].tolist(),
                    reg.d_values[idx[:, 2]].tolist(),
                    cost[idx[:, 0], idx[:, 1], idx[:, 2]].tolist(), strict=True))
    survivors = removal(cand)
    rows: list[Reported] = []
    dropped: list[tuple[int, int, int]] = []
    c_m = min((t[3] for t in survivors), default=None)
    if c_m is not None:
        limit = float(cfg.alpha) * c_m
        kept = [t for t in survivors if t[3] <= limit][: cfg.top_p]
        for s, r, d, c in kept:
            if bigfloat and not all(robust_check_exact(cfg, s, r, d).values()):
                dropped.append((s, r, d))
                continue
            exact = nominal_cost(cfg, s, r, d)
            rows.append(Reported(s, r, d, c, mpmath.nstr(exact, 15), tuple(reg.r_range(s, d))))
    return Figure21Result(cfg.name, cfg.reading, rows, c_m, int(reg.feasible.sum()), dropped,
                          reg.exact_checks, time.perf_counter() - t0)


def binding(cfg: PaperConfig, region: Region, s: int, r: int, d: int) -> list[str]:
    """Constraints violated by the neighbours (d+1 and d-1, r-1) of a tuple: what limits it."""
    out = []
    for name in CONSTRAINTS:
        if name not in region.per_constraint:
            continue
        arr = region.per_constraint[name]
        i, j, k = s - cfg.s_l, r - cfg.r_l, d - cfg.d_l
        for label, (ii, jj, kk) in (("d+1", (i, j, k + 1)), ("d-1", (i, j, k - 1)),
                                    ("r-1", (i, j - 1, k)), ("s-1", (i - 1, j, k))):
            if 0 <= ii < arr.shape[0] and 0 <= jj < arr.shape[1] and 0 <= kk < arr.shape[2] \
                    and not arr[ii, jj, kk]:
                out.append(f"{name}@{label}")
    return out


