"""The fast robust solver against exhaustive exact enumeration, plus its invariants."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest

from learnchain.governance import calculus as calc
from learnchain.governance.config import CalculusConfig, preset
from learnchain.governance.robust import (
    is_robustly_feasible_exact,
    naive_exhaustive,
    optimise,
    report_table,
    robust_check_exact,
    robust_cost_exact,
    solve_region,
)
from learnchain.governance.tuple_report import evaluate_tuple

# Small worlds (T = 1 s) in which every constraint is active somewhere.
SMALL: dict[str, Any] = dict(
    hash_time=1.0, tau_u=300.0, mu=1e-9, delta=1e-2, delta2=0.05, delta3=0.25, pool_l=1,
    pool_c=1, s_l=2, s_u=8, r_l=1, r_u=12, d_l=1, d_u=9, u_s=1, u_d=1, tvc=1.0, tfc=20.0,
)
VARIANTS = {
    "base": {},
    "too-fast-bound": {"tau_l": 3.0, "delta_fast": 0.4},
    "uncertain-lambda": {"lambda_reading": "uncertain", "u_s": 1},
    "r-upper-bound": {"tau_u": 2000.0, "tau_l": 200.0, "delta": 0.3, "delta_fast": 0.95,
                      "u_d": 0, "u_s": 0},
    "nominal-cost": {"robust_cost": "nominal"},
    "wide-d-uncertainty": {"u_d": 2, "d_l": 2},
}


def small(**changes: Any) -> CalculusConfig:
    return CalculusConfig(**{**SMALL, **changes})


def exact_feasible_set(cfg: CalculusConfig) -> set[tuple[int, int, int]]:
    return {
        (s, r, d)
        for s in range(cfg.s_l, cfg.s_u + 1)
        for r in range(cfg.r_l, cfg.r_u + 1)
        for d in range(cfg.d_l, cfg.d_u + 1)
        if is_robustly_feasible_exact(cfg, s, r, d)
    }


def fast_feasible_set(cfg: CalculusConfig) -> set[tuple[int, int, int]]:
    reg = solve_region(cfg)
    out = set()
    for i, j in np.argwhere(reg.feasible):
        for r in range(int(reg.r_lo[i, j]), int(reg.r_hi[i, j]) + 1):
            out.add((int(reg.s_values[i]), r, int(reg.d_values[j])))
    return out


@pytest.mark.parametrize("variant", ["base", "too-fast-bound", "r-upper-bound"])
def test_fast_region_equals_exhaustive_exact_enumeration(variant: str) -> None:
    cfg = small(**VARIANTS[variant])
    exact = exact_feasible_set(cfg)
    assert exact, "variant should have feasible tuples"
    assert fast_feasible_set(cfg) == exact


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fast_region_equals_exhaustive_exact_enumeration_all_variants(variant: str) -> None:
    cfg = small(**VARIANTS[variant], s_u=12, r_u=16, d_u=12)
    assert fast_feasible_set(cfg) == exact_feasible_set(cfg)


def test_r_upper_bound_variant_really_caps_r() -> None:
    reg = solve_region(small(**VARIANTS["r-upper-bound"]))
    assert (reg.r_hi[reg.feasible] < reg.r_values[-1]).any()


@pytest.mark.parametrize("variant", ["base", "uncertain-lambda", "nominal-cost"])
def test_optimum_equals_naive_exhaustive_search(variant: str) -> None:
    cfg = small(**VARIANTS[variant], s_u=6, r_u=10, d_u=8)
    res = optimise(cfg)
    best, checked = naive_exhaustive(
        cfg, range(cfg.s_l, cfg.s_u + 1), range(cfg.r_l, cfg.r_u + 1), range(cfg.d_l, cfg.d_u + 1)
    )
    assert checked == (cfg.s_u - cfg.s_l + 1) * (cfg.r_u - cfg.r_l + 1) * (cfg.d_u - cfg.d_l + 1)
    assert best is not None and res.optimum is not None
    assert res.optimum.cost == pytest.approx(best.cost, rel=1e-12)
    assert robust_cost_exact(cfg, res.optimum.s, res.optimum.r, res.optimum.d) == pytest.approx(
        res.optimum.cost, rel=1e-12
    )


def test_feasibility_is_monotone_in_r_and_shrinks_with_uncertainty() -> None:
    cfg = small()
    base = fast_feasible_set(cfg)
    for s, r, d in base:
        if r < cfg.r_u:
            assert (s, r + 1, d) in base  # more nonces never hurt when tau_l = 0
    assert fast_feasible_set(small(u_d=2, d_l=2)) <= {t for t in base if t[2] >= 2}
    assert fast_feasible_set(small(u_s=0)) >= base
    assert fast_feasible_set(small(u_d=0)) >= base


def test_boundary_is_decided_exactly() -> None:
    """Put δ exactly on a tuple's worst-case failure probability: only exact checks can tell."""
    cfg0 = small(delta=0.5)
    s, r, d = 5, 9, 5
    worst = robust_check_exact(cfg0, s, r, d)["failure"]
    lam = calc.nonces_per_miner(r, s)
    value = calc.exact_failure(worst.worst_s, worst.worst_d, lam)
    delta_on = float(value)  # the nearest double: just above or just below the true value
    cfg = small(delta=delta_on)
    reg = solve_region(cfg)
    assert reg.exact_checks > 0
    i, j = s - cfg.s_l, d - cfg.d_l
    fast_ok = bool(reg.feasible[i, j] and reg.r_lo[i, j] <= r)
    assert fast_ok == is_robustly_feasible_exact(cfg, s, r, d)
    assert fast_ok == (value <= mpmath.mpf(delta_on))


def test_report_table_follows_the_published_rules() -> None:
    cfg = small(alpha=0.5, top_p=3)
    reg = solve_region(cfg)
    res = optimise(cfg, reg)
    assert res.optimum is not None
    rows = res.table
    assert 1 <= len(rows) <= 3
    assert [r.d for r in rows] == sorted((r.d for r in rows), reverse=True)
    for row in rows:
        assert row.cost <= res.optimum.cost * 1.5 + 1e-12
        j = row.d - cfg.d_l
        col = np.where(reg.feasible[:, j], reg.cost[:, j], np.inf)
        assert row.cost == pytest.approx(col.min())  # cheapest for its d
        assert row.r == reg.r_lo[row.s - cfg.s_l, j]  # minimal r for that s
    assert report_table(reg, res.optimum.cost, 0.0, 10)[-1].cost == pytest.approx(
        res.optimum.cost
    )


def test_max_d_under_budget() -> None:
    cfg_cost = small()
    opt = optimise(cfg_cost).optimum
    assert opt is not None
    budget = opt.cost * 3
    res = optimise(small(objective="max_d", budget=budget))
    assert res.optimum is not None and res.optimum.cost <= budget
    reg = solve_region(cfg_cost)
    affordable = reg.feasible & (reg.cost <= budget)
    assert res.optimum.d == reg.d_values[affordable.any(axis=0)].max()
    assert res.optimum.d >= opt.d
    assert optimise(small(objective="max_d", budget=0.0)).optimum is None


def test_published_c1_has_the_expected_binding_structure() -> None:
    cfg = preset("C1")
    res = optimise(cfg)
    assert res.optimum is not None
    o = res.optimum
    rep = evaluate_tuple(cfg, o.s, o.r, o.d)
    assert rep.feasible
    assert rep.robust_cost == pytest.approx(o.cost, rel=1e-9)
    assert "s-1" in rep.binding["pool"]
    assert "r-1" in rep.binding["failure"]
    assert "d-1" in rep.binding["dispute"]
    # the solver's verdict agrees with exact enumeration around the optimum
    for ds in (-1, 0, 1):
        for dr in (-1, 0):
            for dd in (-1, 0, 1):
                s, r, d = o.s + ds, o.r + dr, o.d + dd
                reg_ok = s >= cfg.s_l and is_robustly_feasible_exact(cfg, s, r, d)
                assert reg_ok == _region_says(cfg, s, r, d)


def _region_says(cfg: CalculusConfig, s: int, r: int, d: int) -> bool:
    reg = solve_region(cfg.with_(s_l=max(cfg.s_l, s - 2), s_u=s + 2, d_l=d - 2, d_u=d + 2))
    i = s - int(reg.s_values[0])
    j = d - int(reg.d_values[0])
    return bool(reg.feasible[i, j] and reg.r_lo[i, j] <= r <= reg.r_hi[i, j])


def test_published_c2_needs_more_nonce_bits_than_c1_and_c3_more_miners() -> None:
    c1, c2, c3 = (optimise(preset(n)).optimum for n in ("C1", "C2", "C3"))
    assert c1 and c2 and c3
    assert c2.r >= c1.r
    assert c3.s > c2.s
    assert c3.s - 1 >= 100  # (1/s')^2 <= 1e-4 forces s' >= 100
    assert c1.s - 1 >= 32  # (1/s')^2 <= 1e-3 forces s' >= 32


def test_one_optimisation_is_fast() -> None:
    res = optimise(preset("C2"))
    assert res.seconds < 1.0
