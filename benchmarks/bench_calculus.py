"""Benchmark of the mining-calculus solver (the whitepaper's model, Figure 12 / Figure 21).

Run: ``python benchmarks/bench_calculus.py``.  Prints

* one optimisation (Figure 21 on Table 1, C1 at the Bitcoin rate) with a cold cache and with
  the τ_u-independent arrays cached, against the whitepaper's 261-322 s per optimisation
  (64-core Xeon, Haskell: a different machine, so that ratio is indicative only);
* the whole §9 set (every claim of ``learnchain calculus reproduce``, best reading) against
  the whitepaper's 10,457 s;
* the ratio against the honest baseline measured in this run: deciding every tuple of a
  sub-range with the exact (mpmath) predicate, as the paper's BigFloat re-check does, versus
  our vectorised solver on the same sub-range (same verdicts asserted).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from learnchain.governance import paper_solver
from learnchain.governance.paper import PaperConfig, configuration, robust_check_exact
from learnchain.governance.reproduce import reproduce

PUBLISHED_PER_OPT = (261.425, 322.12)
PUBLISHED_TOTAL = 10_457.58


def one_optimisation(reading: str) -> tuple[float, float]:
    cfg = configuration("C1", reading=reading)
    paper_solver._CACHE.clear()
    t0 = time.perf_counter()
    paper_solver.figure21(cfg)
    cold = time.perf_counter() - t0
    warm = []
    for rate in (7, 100, 7000, 7, 100):
        c = cfg.with_(tau_u=f"1454/{rate}")
        t0 = time.perf_counter()
        paper_solver.figure21(c)
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm)


def baseline_vs_ours() -> tuple[float, float, int]:
    cfg = PaperConfig(s_l=16, s_u=20, r_l=46, r_u=50, d_l=33, d_u=42, reading="literal")
    t0 = time.perf_counter()
    exact = {(s, r, d): all(robust_check_exact(cfg, s, r, d).values())
             for s in range(16, 21) for r in range(46, 51) for d in range(33, 43)}
    base = time.perf_counter() - t0
    paper_solver._CACHE.clear()
    t0 = time.perf_counter()
    reg = paper_solver.solve(cfg)
    ours = time.perf_counter() - t0
    for (s, r, d), want in exact.items():
        assert bool(reg.feasible[s - 16, r - 46, d - 33]) == want, (s, r, d)
    return base, ours, len(exact)


def main() -> None:
    print("mining calculus benchmark (this machine, 1 process; whitepaper: 64-core Xeon)")
    for reading in ("published", "literal"):
        cold, warm = one_optimisation(reading)
        print(f"one optimisation, reading {reading}: cold {cold * 1e3:.0f} ms, "
              f"τ_u-sweep step {warm * 1e3:.0f} ms; vs whitepaper 261-322 s: "
              f"{PUBLISHED_PER_OPT[0] / cold:,.0f}x-{PUBLISHED_PER_OPT[1] / cold:,.0f}x (cold)")
    paper_solver._CACHE.clear()
    t0 = time.perf_counter()
    res = reproduce(("best",))
    total = time.perf_counter() - t0
    s = res["summary"]["best"]
    print(f"whole §9 set ({s['claims']} claims, {s['optimisations']} optimisations, "
          f"{s['matched']} matched): {total:.1f} s; vs whitepaper 10,457.58 s: "
          f"{PUBLISHED_TOTAL / total:,.0f}x")
    base, ours, n = baseline_vs_ours()
    print(f"baseline: exact mpmath robust check of {n} tuples {base:.2f} s; vectorised solver "
          f"on the same range {ours * 1e3:.0f} ms -> ratio {base / ours:,.1f}x (same verdicts)")


if __name__ == "__main__":
    main()
