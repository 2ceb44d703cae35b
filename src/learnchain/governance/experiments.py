"""The whitepaper's experiments as functions returning plain data (and optionally files).

Each function takes a base :class:`CalculusConfig` so every constant stays overridable, and
returns JSON-ready dicts; :func:`run_all` also writes ``results.json`` and the plots with the
Agg backend (no display needed on CI).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learnchain.governance.config import (
    HASH_TIME_READINGS,
    TX_PER_BLOCK,
    TX_RATES,
    CalculusConfig,
    preset,
)
from learnchain.governance.robust import optimise, solve_region

CONFIG_NAMES = ("C1", "C2", "C3")


def _configs(base: CalculusConfig | None, **overrides: Any) -> list[CalculusConfig]:
    extra = {} if base is None else {k: v for k, v in base.to_dict().items() if k not in {
        "delta", "delta2", "delta3", "name"}}
    return [preset(name, **{**extra, **overrides}) for name in CONFIG_NAMES]


def _row(cfg: CalculusConfig, label: str) -> dict[str, Any]:
    res = optimise(cfg)
    out = res.as_dict()
    out.update({"rate": label, "tau_u": cfg.tau_u})
    return out


def published_grid(
    base: CalculusConfig | None = None, tx_per_block: int = TX_PER_BLOCK
) -> list[dict[str, Any]]:
    """C1, C2, C3 at Bitcoin-, PayPal- and Visa-like rates (τ_u = tx_per_block / rate)."""
    rows = []
    for rate_name, rate in TX_RATES.items():
        for cfg in _configs(base, tau_u=tx_per_block / rate):
            rows.append(_row(cfg, rate_name))
    return rows


def block_size_sweep(
    base: CalculusConfig | None = None,
    sizes: Iterable[int] = range(50_000, 500_001, 50_000),
    rate_name: str = "visa",
) -> list[dict[str, Any]]:
    """Larger blocks at a fixed rate: how feasibility and cost react to τ_u growing."""
    rows = []
    for size in sizes:
        for cfg in _configs(base, tau_u=size / TX_RATES[rate_name]):
            row = _row(cfg, rate_name)
            row["tx_per_block"] = size
            rows.append(row)
    return rows


def feasibility_boundary(cfg: CalculusConfig, lo: float = 1e-3, hi: float = 1e6,
                         rel_tol: float = 1e-4) -> dict[str, Any]:
    """Smallest τ_u with a robustly feasible tuple (feasibility only grows with τ_u).

    Bisection on log τ_u; returns the bracket and the matching maximal transaction rate for
    the published block size.
    """
    def feasible(tau: float) -> bool:
        return bool(solve_region(cfg.with_(tau_u=tau)).feasible.any())

    if not feasible(hi):
        return {"config": cfg.name, "tau_u_min": None, "note": f"infeasible up to {hi} s"}
    if feasible(lo):
        return {"config": cfg.name, "tau_u_min": lo, "note": f"feasible down to {lo} s"}
    steps = 0
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        if feasible(mid):
            hi = mid
        else:
            lo = mid
        steps += 1
    return {
        "config": cfg.name,
        "tau_u_min": hi,
        "tau_u_infeasible_below": lo,
        "max_tx_rate_for_1454_tx_blocks": TX_PER_BLOCK / hi,
        "tau_u_over_mu": hi / cfg.mu,
        "bisection_steps": steps,
    }


def feasible_r_range(cfg: CalculusConfig) -> dict[str, Any]:
    """Range of feasible r: at the optimum (s, d) and over all feasible (s, d)."""
    reg = solve_region(cfg)
    res = optimise(cfg, reg)
    if res.optimum is None:
        return {"config": cfg.name, "feasible": False}
    lo = reg.r_lo[reg.feasible]
    hi = reg.r_hi[reg.feasible]
    return {
        "config": cfg.name,
        "feasible": True,
        "at_optimum": [res.optimum.r, res.optimum.r_max],
        "overall_min_r": int(lo.min()),
        "overall_max_r": int(hi.max()),
        "optimum": res.optimum.as_dict(),
    }


def ambiguity_readings(base: CalculusConfig | None = None) -> list[dict[str, Any]]:
    """Each published ambiguity as an explicit option: T (table/prose) × λ (deployed/uncertain)."""
    rows = []
    for t_name, t_val in HASH_TIME_READINGS.items():
        for lam_reading in ("deployed", "uncertain"):
            for cost_reading in ("worst", "nominal"):
                for cfg in _configs(base, hash_time=t_val, lambda_reading=lam_reading,
                                    robust_cost=cost_reading):
                    row = _row(cfg, "bitcoin")
                    row.update({"hash_time_reading": t_name, "lambda_reading": lam_reading,
                                "robust_cost": cost_reading})
                    rows.append(row)
    return rows


def lambda_sensitivity(base: CalculusConfig | None = None,
                       u_s_values: Sequence[int] = (1, 8, 16, 24)) -> list[dict[str, Any]]:
    """When does the λ reading matter?  Only once u_s is a sizeable fraction of s."""
    c2 = _configs(base)[1]
    rows = []
    for u_s in u_s_values:
        for reading in ("deployed", "uncertain"):
            cfg = c2.with_(u_s=u_s, s_l=max(c2.s_l, u_s + 1), lambda_reading=reading)
            row = _row(cfg, "bitcoin")
            row.update({"u_s": u_s, "lambda_reading": reading})
            rows.append(row)
    return rows


def cost_vs_s(cfg: CalculusConfig) -> dict[str, list[float]]:
    """Cheapest robust cost for each s (over d and r): the fixed-vs-variable cost trade-off."""
    reg = solve_region(cfg)
    cost = np.where(reg.feasible, reg.cost, np.inf)
    best = cost.min(axis=1)
    keep = np.isfinite(best)
    d_best = reg.d_values[np.argmin(cost, axis=1)]
    return {
        "s": reg.s_values[keep].astype(int).tolist(),
        "cost": best[keep].tolist(),
        "d": d_best[keep].astype(int).tolist(),
    }


def feasible_d_vs_rate(base: CalculusConfig | None = None,
                       rates: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Feasible difficulty interval as the transaction rate grows (published block size)."""
    rate_list = list(rates) if rates is not None else np.geomspace(1, 10_000, 25).tolist()
    rows = []
    for rate in rate_list:
        for cfg in _configs(base, tau_u=TX_PER_BLOCK / rate):
            reg = solve_region(cfg)
            d_ok = reg.d_values[reg.feasible.any(axis=0)]
            rows.append({
                "config": cfg.name,
                "tx_rate": rate,
                "d_min": int(d_ok.min()) if d_ok.size else None,
                "d_max": int(d_ok.max()) if d_ok.size else None,
            })
    return rows


def _plot(results: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in CONFIG_NAMES:
        rows = [r for r in results["feasible_d_vs_rate"] if r["config"] == name and r["d_min"]]
        if rows:
            rates = [r["tx_rate"] for r in rows]
            ax.fill_between(rates, [r["d_min"] for r in rows], [r["d_max"] for r in rows],
                            alpha=0.3, step="mid", label=f"{name} feasible d")
    for label, rate in TX_RATES.items():
        ax.axvline(rate, color="grey", lw=0.8, ls=":")
        ax.text(rate, ax.get_ylim()[1], label, rotation=90, va="top", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("transaction rate (tx/s), 1454 tx per block")
    ax.set_ylabel("difficulty d (bits)")
    ax.legend()
    ax.set_title("Robustly feasible difficulty versus transaction rate")
    fig.tight_layout()
    path = out_dir / "feasible_d_vs_rate.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    files.append(str(path))

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, series in results["cost_vs_s"].items():
        if series["s"]:
            ax.plot(series["s"], series["cost"], label=name)
    ax.set_xlabel("number of miners s")
    ax.set_ylabel("minimal robust cost per block")
    ax.legend()
    ax.set_title("Cost versus number of miners (Bitcoin-like rate)")
    fig.tight_layout()
    path = out_dir / "cost_vs_s.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    files.append(str(path))
    return files


def run_all(out_dir: str | Path | None = None, base: CalculusConfig | None = None,
            quick: bool = False) -> dict[str, Any]:
    """Every experiment of the reproduction document, with per-part timings."""
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}

    def timed(key: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        results[key] = fn(*args, **kwargs)
        timings[key] = time.perf_counter() - t0

    sizes = range(50_000, 500_001, 150_000) if quick else range(50_000, 500_001, 50_000)
    rates = [1, 7, 100, 1000, 7000] if quick else None
    timed("published_grid", published_grid, base)
    timed("larger_blocks_50000", published_grid, base, 50_000)
    timed("block_size_sweep_visa", block_size_sweep, base, sizes)
    c2 = _configs(base)[1]
    timed("c2_feasibility_boundary", feasibility_boundary, c2)
    timed("feasible_r_range", lambda: [feasible_r_range(c) for c in _configs(base)])
    if not quick:
        timed("ambiguity_readings", ambiguity_readings, base)
        timed("lambda_sensitivity", lambda_sensitivity, base)
    timed("feasible_d_vs_rate", feasible_d_vs_rate, base, rates)
    timed("cost_vs_s", lambda: {c.name: cost_vs_s(c) for c in _configs(base)})
    optimisations = [r["seconds"] for key in ("published_grid", "larger_blocks_50000",
                                             "block_size_sweep_visa") for r in results[key]]
    results["timings"] = {
        "parts_s": timings,
        "total_s": sum(timings.values()),
        "per_optimisation_s": {
            "n": len(optimisations),
            "mean": float(np.mean(optimisations)),
            "max": float(np.max(optimisations)),
        },
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        results["files"] = _plot(results, out)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results
