"""§7's group model: g physical miner types in one race (Figure 14) and its robust version.

Defaults follow the whitepaper's formulas exactly; where we believe a formula is wrong the
correct one is a named variant (``GroupOptions``) and docs/experiments/mining-calculus.md §5
gives the reason:

* failure (35)/(63) and the tail (46)/(66) use the *minimum* over groups ("min", default).
  That is sound (the joint race fails / is slow only if every group does, and a product of
  probabilities is at most their minimum) but loose; "joint" uses the independent-groups
  product, exact under the random-oracle model.
* the th' bound (48)/(67) is printed as δ1 <= max_i P_i(time < th'), the reverse of the text
  ("for all groups these probabilities are below δ1"): "printed" (default) keeps it, "max"
  uses δ1 >= max_i, "joint" uses δ1 >= 1 - Π_i y_i^(B_i) (someone is fast).
* (47) floors th'/T_i while (67) ceils it: ``fast_round`` selects (default: (67), ceil).
* the pool bound of Figure 15 is per group, l_i^c <= s_i^c·δ3 ("count", default); in a race
  of unequal hash rates the l_i miners win with probability l_i·rate_i / Σ_j s_j·rate_j, so
  "rate" bounds that power instead.

Probabilities are evaluated in log space with Python floats and re-decided with mpmath when
within a relative 10^-9 of the bound, like the single-type solver.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath

from learnchain.governance import calculus as calc
from learnchain.governance.paper import PaperConfigError, lam_of, to_fraction

RTOL = 1e-9


@dataclass(frozen=True)
class GroupType:
    """A physical miner type: hash time T_i, costs, bounds s_i^l..s_i^u, u_i^s and l_i."""

    hash_time: Fraction
    tvc: Fraction
    tfc: Fraction
    s_lo: int
    s_hi: int
    u_s: int = 0
    l_pool: int = 0

    def __post_init__(self) -> None:
        if self.hash_time <= 0:
            raise PaperConfigError("hash_time", "must be > 0", "use a positive hash time")
        if not 0 <= self.s_lo <= self.s_hi:
            raise PaperConfigError("s_lo", "need 0 <= s_lo <= s_hi", "fix the group bounds")


@dataclass(frozen=True)
class GroupOptions:
    failure: str = "min"  # or "joint"
    tail: str = "min"  # or "joint"
    fast: str = "printed"  # or "max", "joint"
    fast_round: str = "ceil"  # (67); "floor" = (47)
    pool: str = "count"  # or "rate"

    def __post_init__(self) -> None:
        for name, allowed in (("failure", ("min", "joint")), ("tail", ("min", "joint")),
                              ("fast", ("printed", "max", "joint")),
                              ("fast_round", ("ceil", "floor")), ("pool", ("count", "rate"))):
            if getattr(self, name) not in allowed:
                raise PaperConfigError(name, f"unknown option {getattr(self, name)!r}",
                                       f"use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class GroupConfig:
    """Figure 14's constants (Figure 15's robust ones) for g groups."""

    types: tuple[GroupType, ...]
    s_l: int
    s_u: int
    r_l: int
    r_u: int
    d_l: int
    d_u: int
    epsilon: Fraction = Fraction(1, 2**64)
    tau_u: Fraction = Fraction(1454, 7)
    th: Fraction = Fraction(300)
    th_prime: Fraction = Fraction(300)
    mu: Fraction = Fraction(1, 10_000)
    delta: Fraction = Fraction(1, 10**9)
    delta1: Fraction = Fraction(1)
    delta2: Fraction = Fraction(1, 1000)
    delta3: Fraction = Fraction(1, 1000)
    c: int = 6
    u_s: int = 6
    u_d: int = 3
    options: GroupOptions = field(default_factory=GroupOptions)

    def __post_init__(self) -> None:
        if len(self.types) < 1:
            raise PaperConfigError("types", "at least one group is needed", "add a group")


def _ln_miss(d: int) -> float:
    return -math.inf if d <= 0 else math.log1p(-(2.0 ** -d))


def _f(x: Fraction) -> float:
    return x.numerator / x.denominator


def group_values(cfg: GroupConfig, counts: Sequence[int], r: int, d: int) -> dict[str, Any]:
    """Figure 14's quantities per group (in logs where they are tiny) for counts s_i."""
    s = sum(counts)
    lam = lam_of(r, s) if s >= 1 else 0
    lm = _ln_miss(d)
    out: dict[str, Any] = {"s": s, "lambda": lam, "groups": []}
    for t, si in zip(cfg.types, counts, strict=True):
        ly = si * lm if si else 0.0
        a = math.ceil(cfg.th / t.hash_time - 1) + 1
        q = cfg.th_prime / t.hash_time - 1
        b = (math.ceil(q) if cfg.options.fast_round == "ceil" else math.floor(q)) + 1
        m = math.floor(cfg.mu / t.hash_time) + 1
        e = math.inf if si == 0 else float(calc.expected_rounds(si, d, lam))
        out["groups"].append({
            "s_i": si, "ln_y": ly, "A": a, "B": b, "m": m,
            "ln_failure": (lam + 1) * ly if si else 0.0,
            "time": _f(t.hash_time) * e,
            "ln_slow_first": a * ly,
            "ln_w": m * lm,
        })
    return out


def _logdiff(la: float, lb: float) -> float:
    """ln(e^la - e^lb) for la > lb, -inf when not positive."""
    if not la > lb:
        return -math.inf
    return la + math.log(-math.expm1(lb - la))


def constraints(cfg: GroupConfig, counts: Sequence[int], r: int,
                d: int) -> dict[str, bool | None]:
    """Every Figure 14 constraint at one (s_1..s_g, r, d); None = too close to call in floats."""
    v = group_values(cfg, counts, r, d)
    gs = v["groups"]
    lam = v["lambda"]
    o = cfg.options
    res: dict[str, bool | None] = {}
    res["bounds"] = cfg.s_l <= v["s"] <= cfg.s_u and all(
        t.s_lo <= si <= t.s_hi for t, si in zip(cfg.types, counts, strict=True))
    res["nonce_th"] = all(lam >= g["A"] - 1 for g in gs)  # (65): λ >= ⌈th/T_i - 1⌉
    ln_eps = math.log(_f(cfg.epsilon)) if cfg.epsilon > 0 else -math.inf
    fails = [g["ln_failure"] for g in gs]
    lf = min(fails) if o.failure == "min" else sum(fails)
    res["failure"] = _decide(lf, ln_eps)
    res["time_upper"] = min(g["time"] for g in gs) <= _f(cfg.tau_u)  # (64)
    tails = [_logdiff(g["ln_slow_first"], g["ln_failure"]) if g["s_i"] else 0.0 for g in gs]
    if o.tail == "min":
        lt = min(tails)
    else:
        lt = _logdiff(sum(g["ln_slow_first"] for g in gs), sum(fails))
    ln_delta = math.log(_f(cfg.delta)) if cfg.delta > 0 else -math.inf
    res["tail"] = _decide(lt, ln_delta)
    fast = [-math.expm1(g["B"] * g["ln_y"]) for g in gs]
    if o.fast == "printed":
        res["fast"] = _f(cfg.delta1) <= max(fast)  # (48)/(67) as printed
    elif o.fast == "max":
        res["fast"] = max(fast) <= _f(cfg.delta1)
    else:
        res["fast"] = -math.expm1(sum(g["B"] * g["ln_y"] for g in gs)) <= _f(cfg.delta1)
    res["dispute"] = _dispute_ok(cfg, counts, d)
    res["pool"] = _pool_ok(cfg, counts)
    return res


def _decide(log_value: float, log_bound: float) -> bool | None:
    if math.isfinite(log_value) and math.isfinite(log_bound) and \
            abs(log_value - log_bound) <= RTOL * max(1.0, abs(log_bound)):
        return None
    return log_value <= log_bound


def _pool_ok(cfg: GroupConfig, counts: Sequence[int]) -> bool:
    total_rate = sum(Fraction(si) / t.hash_time for t, si in zip(cfg.types, counts, strict=True))
    for t, si in zip(cfg.types, counts, strict=True):
        if t.l_pool == 0 or si == 0:
            continue
        if cfg.options.pool == "count":
            if not (t.l_pool < si and Fraction(t.l_pool) ** cfg.c <= Fraction(si) ** cfg.c
                    * cfg.delta3):
                return False
        elif (Fraction(t.l_pool) / t.hash_time / total_rate) ** cfg.c > cfg.delta3:
            return False
    return True


def group_dispute(cfg: GroupConfig, counts: Sequence[int], d: int) -> mpmath.mpf:
    """(56)/(69): 1 - P(no one within μ) - P(exactly one), groups independent (mpmath)."""
    with mpmath.workdps(60):
        lm = mpmath.log1p(-(mpmath.mpf(2) ** (-d))) if d > 0 else mpmath.ninf
        ws = [mpmath.exp((math.floor(cfg.mu / t.hash_time) + 1) * lm) for t in cfg.types]
        p0 = mpmath.fprod(w**si for w, si in zip(ws, counts, strict=True))
        p1 = mpmath.mpf(0)
        for i, (wi, si) in enumerate(zip(ws, counts, strict=True)):
            if si == 0:
                continue
            others = mpmath.fprod(w**sj for j, (w, sj) in enumerate(zip(ws, counts, strict=True))
                                  if j != i)
            p1 += si * wi ** (si - 1) * (1 - wi) * others
        return 1 - p0 - p1


def _dispute_ok(cfg: GroupConfig, counts: Sequence[int], d: int) -> bool:
    """(57) in floats: 1 - e^X(1 + U), X = Σ s_i ln w_i, U = Σ s_i (1-w_i)/w_i; mpmath if close."""
    if d <= 0:
        return sum(counts) < 2 or cfg.delta2 >= 1
    lm = _ln_miss(d)
    x, u = 0.0, 0.0
    for t, si in zip(cfg.types, counts, strict=True):
        ln_w = (math.floor(cfg.mu / t.hash_time) + 1) * lm
        x += si * ln_w
        u += si * -math.expm1(ln_w) / math.exp(ln_w)
    val = -math.expm1(x) - math.exp(x) * u
    bound = _f(cfg.delta2)
    if abs(val - bound) <= 1e-6 * bound or u < 1e-6:
        return bool(group_dispute(cfg, counts, d) <= _mp(cfg.delta2))
    return val <= bound


def feasible(cfg: GroupConfig, counts: Sequence[int], r: int, d: int) -> bool:
    """All Figure 14 constraints hold (exact re-decision near a bound)."""
    return _feasible(cfg, tuple(counts), r, d)


@functools.lru_cache(maxsize=200_000)
def _feasible(cfg: GroupConfig, counts: tuple[int, ...], r: int, d: int) -> bool:
    if sum(counts) < 1:
        return False
    vals = constraints(cfg, counts, r, d)
    for name in ("failure", "tail"):
        if vals[name] is None:
            vals[name] = _exact_log_constraint(cfg, name, counts, r, d)
    return all(vals.values())


def _exact_log_constraint(cfg: GroupConfig, name: str, counts: Sequence[int], r: int,
                          d: int) -> bool:
    """Failure or tail with mpmath throughout (used only near a bound)."""
    with mpmath.workdps(80):
        lam = lam_of(r, sum(counts))
        lm = mpmath.log1p(-(mpmath.mpf(2) ** (-d)))
        lys = [si * lm for si in counts]
        fails = [(lam + 1) * ly for ly in lys]
        if name == "failure":
            lf = min(fails) if cfg.options.failure == "min" else mpmath.fsum(fails)
            return bool(mpmath.exp(lf) <= _mp(cfg.epsilon))
        slow = [mpmath.exp((math.ceil(cfg.th / t.hash_time - 1) + 1) * ly)
                for t, ly in zip(cfg.types, lys, strict=True)]
        if cfg.options.tail == "min":
            tail = min(a - mpmath.exp(f) for a, f in zip(slow, fails, strict=True))
        else:
            tail = mpmath.fprod(slow) - mpmath.exp(mpmath.fsum(fails))
        return bool(tail <= _mp(cfg.delta))


def _mp(x: Fraction) -> mpmath.mpf:
    return mpmath.mpf(x.numerator) / x.denominator


def cost(cfg: GroupConfig, counts: Sequence[int], r: int, d: int) -> float:
    """(31): Σ_i TVC_i·min_j E^{s_j}(noR)·s_i + TFC_i·s_i."""
    v = group_values(cfg, counts, r, d)
    e_min = min(g["time"] / _f(t.hash_time) for g, t in zip(v["groups"], cfg.types, strict=True))
    return sum(_f(t.tvc) * e_min * si + _f(t.tfc) * si
               for t, si in zip(cfg.types, counts, strict=True))


def uncertainty(cfg: GroupConfig, counts: Sequence[int], d: int) -> list[tuple[tuple[int, ...],
                                                                           int]]:
    """(72)-(74): every (s'_1..s'_g, d') the robust predicate quantifies over."""
    ranges = [range(max(0, si - t.u_s), si + 1) for t, si in zip(cfg.types, counts, strict=True)]
    s = sum(counts)
    out = []
    for sp in itertools.product(*ranges):
        if s - cfg.u_s <= sum(sp) <= s:
            for dp in range(max(1, d - cfg.u_d), d + cfg.u_d + 1):
                out.append((tuple(sp), dp))
    return out


def robust_feasible(cfg: GroupConfig, counts: Sequence[int], r: int, d: int) -> bool:
    """(76): Figure 14 holds at every point of (72)-(74) (nonce split for the s' present)."""
    if not constraints_bounds_ok(cfg, counts):
        return False
    return all(feasible(_relaxed(cfg), sp, r, dp) for sp, dp in uncertainty(cfg, counts, d))


def constraints_bounds_ok(cfg: GroupConfig, counts: Sequence[int]) -> bool:
    return cfg.s_l <= sum(counts) <= cfg.s_u and all(
        t.s_lo <= si <= t.s_hi for t, si in zip(cfg.types, counts, strict=True))


@functools.lru_cache(maxsize=64)
def _relaxed(cfg: GroupConfig) -> GroupConfig:
    """Bounds apply to the deployed counts, not to the degraded s' of the uncertainty set."""
    types = tuple(GroupType(t.hash_time, t.tvc, t.tfc, 0, max(t.s_hi, 1), t.u_s, t.l_pool)
                  for t in cfg.types)
    return GroupConfig(types, 1, max(cfg.s_u, 1), cfg.r_l, cfg.r_u, cfg.d_l, cfg.d_u,
                       cfg.epsilon, cfg.tau_u, cfg.th, cfg.th_prime, cfg.mu, cfg.delta,
                       cfg.delta1, cfg.delta2, cfg.delta3, cfg.c, cfg.u_s, cfg.u_d, cfg.options)


def robust_cost(cfg: GroupConfig, counts: Sequence[int], r: int, d: int) -> float:
    """(75): the worst Cost(s', r, d') over (72)-(74)."""
    return max(cost(cfg, sp, r, dp) for sp, dp in uncertainty(cfg, counts, d) if sum(sp) >= 1)


def optimise(cfg: GroupConfig) -> dict[str, Any] | None:
    """Figure 15: minimise robustCost over robustly feasible (s_1..s_g, r, d), exhaustively.

    For each (counts, d) only the smallest robustly feasible r is kept (a larger r never lowers
    the cost by more than rounding), as in Figure 21.
    """
    best: dict[str, Any] | None = None
    ranges = [range(t.s_lo, t.s_hi + 1) for t in cfg.types]
    # the robust cost is at least the fixed cost of the deployed miners: visit counts by that
    # lower bound and stop once it exceeds the best robust cost found (exact pruning)
    fixed = sorted(itertools.product(*ranges), key=lambda cs: sum(
        _f(t.tfc) * si for t, si in zip(cfg.types, cs, strict=True)))
    for counts in fixed:
        lower = sum(_f(t.tfc) * si for t, si in zip(cfg.types, counts, strict=True))
        if best is not None and lower > best["cost"]:
            break
        if not constraints_bounds_ok(cfg, counts) or not all(
                _pool_ok(cfg, sp) for sp, _ in uncertainty(cfg, counts, cfg.d_l)):
            continue  # the pool bound depends on the miner counts only
        for d in range(cfg.d_u, cfg.d_l - 1, -1):
            for r in range(cfg.r_l, cfg.r_u + 1):
                if robust_feasible(cfg, counts, r, d):
                    c = robust_cost(cfg, counts, r, d)
                    if best is None or (c, -d) < (best["cost"], -best["d"]):
                        best = {"counts": list(counts), "r": r, "d": d, "cost": c}
                    break
    return best


def group_config_from_mapping(data: dict[str, Any]) -> GroupConfig:
    """TOML-style mapping -> GroupConfig (``[[types]]`` tables plus scalar constants)."""
    try:
        types = tuple(GroupType(to_fraction(t["hash_time"], "hash_time"),
                                to_fraction(t.get("tvc", 0), "tvc"),
                                to_fraction(t.get("tfc", 0), "tfc"),
                                int(t["s_lo"]), int(t["s_hi"]), int(t.get("u_s", 0)),
                                int(t.get("l_pool", 0))) for t in data["types"])
        opts = GroupOptions(**data.get("options", {}))
        scal = {k: to_fraction(v, k) for k, v in data.items()
                if k in ("epsilon", "tau_u", "th", "th_prime", "mu", "delta", "delta1",
                         "delta2", "delta3")}
        ints = {k: int(data[k]) for k in ("s_l", "s_u", "r_l", "r_u", "d_l", "d_u")}
        extra = {k: int(data[k]) for k in ("c", "u_s", "u_d") if k in data}
    except KeyError as exc:
        raise PaperConfigError(str(exc.args[0]), "missing", "add it to the group config") \
            from None
    except TypeError as exc:
        raise PaperConfigError("options", str(exc), "check the option names") from None
    return GroupConfig(types=types, options=opts, **ints, **scal, **extra)
