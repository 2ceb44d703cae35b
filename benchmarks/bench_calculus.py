"""Benchmark of the mining-calculus optimiser.

Run: ``python benchmarks/bench_calculus.py``.  Prints the time per robust optimisation and for
the whole experiment set, the ratio against the whitepaper's reported times (261-322 s per
optimisation and 10,457 s in total, measured on a 64-core Xeon: a different machine, so the
ratio is indicative only), and the ratio against a naive exact exhaustive scan measured in
this same run on a small sub-range.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from learnchain.governance.config import TX_PER_BLOCK, TX_RATES, preset
from learnchain.governance.experiments import run_all
from learnchain.governance.robust import naive_exhaustive, optimise

PUBLISHED_PER_OPT = (261.0, 322.0)
PUBLISHED_TOTAL = 10_457.0


def time_optimisations(repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        for name in ("C1", "C2", "C3"):
            for tx in (TX_PER_BLOCK, 50_000):
                for rate in TX_RATES.values():
                    cfg = preset(name, tau_u=tx / rate)
                    t0 = time.perf_counter()
                    optimise(cfg)
                    times.append(time.perf_counter() - t0)
    return times


def naive_vs_ours() -> tuple[float, float, int, int]:
    """Same sub-range (around the C1 optimum), same answer, two algorithms."""
    cfg = preset("C1").with_(s_l=31, s_u=36, r_l=47, r_u=52, d_l=41, d_u=46)
    t0 = time.perf_counter()
    best, checked = naive_exhaustive(
        cfg, range(cfg.s_l, cfg.s_u + 1), range(cfg.r_l, cfg.r_u + 1), range(cfg.d_l, cfg.d_u + 1)
    )
    naive_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        ours = optimise(cfg).optimum
    ours_s = (time.perf_counter() - t0) / reps
    assert best is not None and ours is not None
    assert (best.s, best.r, best.d) == (ours.s, ours.r, ours.d), (best, ours)
    full = preset("C1")
    full_count = (
        (full.s_u - full.s_l + 1) * (full.r_u - full.r_l + 1) * (full.d_u - full.d_l + 1)
    )
    return naive_s, ours_s, checked, full_count


def main() -> None:
    print("mining calculus benchmark (1 core of this machine; whitepaper: 64-core Xeon)")
    times = time_optimisations()
    mean, worst = statistics.mean(times), max(times)
    print(f"per optimisation: n={len(times)} mean={mean * 1e3:.1f} ms max={worst * 1e3:.1f} ms")
    print(
        f"  vs whitepaper 261-322 s: {PUBLISHED_PER_OPT[0] / mean:,.0f}x-"
        f"{PUBLISHED_PER_OPT[1] / mean:,.0f}x faster (different machine and language)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_all(tmp)
        total = time.perf_counter() - t0
    print(f"whole experiment set (incl. plots): {total:.2f} s "
          f"({res['timings']['per_optimisation_s']['n']} grid optimisations + sweeps)")
    print(f"  vs whitepaper 10,457 s: {PUBLISHED_TOTAL / total:,.0f}x faster")
    naive_s, ours_s, checked, full_count = naive_vs_ours()
    per_tuple = naive_s / checked
    print(
        f"naive exact exhaustive scan (mpmath, no pruning) on {checked} tuples: {naive_s:.2f} s; "
        f"ours on the same sub-range: {ours_s * 1e3:.2f} ms -> {naive_s / ours_s:,.0f}x"
    )
    print(
        f"  naive extrapolated to the full C1 range ({full_count:,} tuples): "
        f"{per_tuple * full_count / 3600:,.1f} h vs ours {mean:.3f} s"
    )


if __name__ == "__main__":
    main()
