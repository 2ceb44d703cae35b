"""The experiment functions: structure and the invariants the reproduction relies on."""

from __future__ import annotations

import pytest

from learnchain.governance.config import preset
from learnchain.governance.experiments import (
    block_size_sweep,
    feasibility_boundary,
    feasible_r_range,
    published_grid,
    run_all,
)
from learnchain.governance.robust import solve_region


def test_published_grid_covers_configs_and_rates() -> None:
    rows = published_grid()
    assert {(r["config"], r["rate"]) for r in rows} == {
        (c, rate) for c in ("C1", "C2", "C3") for rate in ("bitcoin", "paypal", "visa")
    }
    by = {(r["config"], r["rate"]): r for r in rows}
    assert by[("C1", "bitcoin")]["feasible"]
    # a stricter δ can never enlarge the feasible region
    for rate in ("bitcoin", "paypal", "visa"):
        assert by[("C2", rate)]["n_feasible_sd_pairs"] <= by[("C1", rate)]["n_feasible_sd_pairs"]
        assert by[("C3", rate)]["n_feasible_sd_pairs"] <= by[("C2", rate)]["n_feasible_sd_pairs"]


def test_larger_blocks_only_help() -> None:
    rows = block_size_sweep(sizes=[50_000, 250_000, 500_000])
    for name in ("C1", "C2", "C3"):
        counts = [r["n_feasible_sd_pairs"] for r in rows if r["config"] == name]
        assert counts == sorted(counts)


def test_feasibility_boundary_brackets_the_switch() -> None:
    cfg = preset("C2")
    b = feasibility_boundary(cfg, rel_tol=1e-3)
    assert solve_region(cfg.with_(tau_u=b["tau_u_min"])).feasible.any()
    assert not solve_region(cfg.with_(tau_u=b["tau_u_infeasible_below"])).feasible.any()
    assert b["max_tx_rate_for_1454_tx_blocks"] == pytest.approx(1454 / b["tau_u_min"])


def test_feasible_r_range_contains_optimum() -> None:
    out = feasible_r_range(preset("C2"))
    assert out["feasible"]
    lo, hi = out["at_optimum"]
    assert out["overall_min_r"] <= lo <= hi <= out["overall_max_r"]
    assert out["optimum"]["r"] == lo


@pytest.mark.slow
def test_whole_experiment_set_runs(tmp_path: object) -> None:
    """The full folded-model set completes and times every optimisation (no wall-clock bound:
    timings are the benchmark's job)."""
    res = run_all(str(tmp_path))
    assert res["timings"]["per_optimisation_s"]["n"] > 0
    assert res["timings"]["total_s"] > 0
