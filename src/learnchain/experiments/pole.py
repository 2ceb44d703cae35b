"""Adapters for proof of learning (seed 001 and its reference [1]; docs/pole.md).

`sml` wraps `apps/tasks/sml.py` (honest, naive copy and adaptive re-mapping accuracy per Secure
Mapping Layer width); `devnet` wraps `apps/tasks/devnet_run.py` (real node processes, genesis
``engine = "pole"``, then the same workload on governed PoW for the block-time comparison).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from learnchain.experiments.base import (
    INCONCLUSIVE,
    Claim,
    Outcome,
    RunSpec,
    pyplot,
    verdict,
)

POLE = "001 (PoLe and compute trading, Saleem & Mehmood) and its ref. [1] (PoLe, Liu et al.)"


def _tick(spec: RunSpec, done: int, total: int) -> None:
    if spec.progress is not None:
        spec.progress(done, total)


# ----- Secure Mapping Layer -------------------------------------------------------------------


def sml(spec: RunSpec) -> Outcome:
    from learnchain.apps.tasks import sml as S

    if spec.quick:
        jobs = [("logreg", 8, None), ("logreg", 32, None)]  # no torch import: seconds
    else:
        jobs = [(k, w, None) for k in ("logreg", "mlp") for w in (4, 8, 16, 32, 64)]
    rows = []
    for i, (kind, width, hp) in enumerate(jobs):
        rows.append(S.run_one(kind, width, hp=hp))
        _tick(spec, i + 1, len(jobs))
    S.write(rows, spec.out)
    copy_ok = all(r.copy_ppm <= r.honest_ppm // 2 for r in rows)
    worst_copy = max(rows, key=lambda r: r.copy_ppm / max(r.honest_ppm, 1))
    linear = [r for r in rows if r.kind == "logreg"]
    remap_gap = max(r.honest_ppm - r.remap_ppm for r in linear)
    claims = [
        Claim(POLE, "[1]: the secure mapping layer binds a model to its node, so a model "
              "copied to another node is worth little (naive copy)",
              f"naive copy at another address: at most {worst_copy.copy_ppm / 1e4:.1f} % test "
              f"accuracy against {worst_copy.honest_ppm / 1e4:.1f} % honest "
              f"({worst_copy.kind}, width {worst_copy.width}); every row ≤ half of honest",
              *verdict(copy_ok, "a naive copy kept more than half the honest accuracy")),
        Claim(POLE, "[1]: the mapping layer stops cheating (read: also a thief who knows the "
              "public mapping and re-fits its first layer)",
              f"re-mapping attack on the linear model recovers the honest accuracy to within "
              f"{remap_gap / 1e4:.1f} points (one least-squares solve)",
              *verdict(remap_gap > 100_000,
                       "mappings must be derivable from chain data for verifiers, so they are "
                       "public and a linear first layer can be re-fitted: the SML is only a "
                       "secondary guard behind commit-then-reveal (docs/pole.md)")),
    ]
    return Outcome({"rows": S.summary(rows)}, claims, [],
                   {"jobs": [[k, w, hp] for k, w, hp in jobs]}, [str(spec.out / "sml.png")],
                   {"worst_copy_pct": round(worst_copy.copy_ppm / 1e4, 1)})


# ----- devnet: real processes, PoLe against governed PoW under the same workload ---------------


def devnet(spec: RunSpec) -> Outcome:
    from learnchain.apps.tasks import devnet_run as D

    tasks = 1 if spec.quick else 3
    plan = D.Plan(deadline_blocks=6, reveal_window=8) if spec.quick else D.Plan()
    results: dict[str, Any] = {}
    for i, engine in enumerate(("pole", "pow")):
        with tempfile.TemporaryDirectory() as tmp:
            results[engine] = D.run(Path(tmp), nodes=3, tasks=tasks, engine=engine, plan=plan,
                                    timeout=300.0)
        D.write(results[engine], spec.out)
        _tick(spec, i + 1, 2)
    pole, pow_ = results["pole"], results["pow"]
    problems = D.check(pole)
    outcomes = pole["tasks"]
    paid_ok = all(o["paid"] == D.MAIN_REWARD * o["winner_test_ppm"] // 1_000_000
                  for o in outcomes)
    cv_pole, cv_pow = pole["block_time_cv"], pow_["block_time_cv"]
    plot = spec.out / "pole_block_times.png"
    _gap_plot(plot, results)
    claims = [
        Claim(POLE, "[1]: consensus nodes train for a data node's task and the best model "
              "wins the block; nodes pick the task with the largest reward",
              f"{len(outcomes)} task(s) on 3 node processes: settled by "
              f"{[o['settled_by'] for o in outcomes]}, best test accuracy won "
              f"{sum(o['best_model_won'] for o in outcomes)}/{len(outcomes)}, every node picked "
              f"the largest reward over a decoy, copies rejected "
              f"{sum(o['copy_rejected'] for o in outcomes)}/{len(outcomes)}",
              *verdict(not problems, "; ".join(problems))),
        Claim(POLE, "001: \"rewards calculated based on model accuracy\"",
              "winner paid ⌊reward · test accuracy⌋: "
              + ", ".join(f"{o['paid']} of {D.MAIN_REWARD} at {o['winner_test_ppm']} ppm"
                          for o in outcomes),
              *verdict(paid_ok, "a payment differs from ⌊reward · test_ppm / 10⁶⌋")),
        Claim(POLE, "[1]: PoLe gives a more stable block generation rate than PoW "
              "(coefficient of variation of block time)",
              f"CV {cv_pole:.2f} (PoLe, {pole['blocks']} blocks, {pole['pole_blocks']} PoLe) vs "
              f"{cv_pow:.2f} (governed PoW, same workload, {pow_['blocks']} blocks); without "
              f"stalls (gaps > 3x median: {pole['stalls']} and {pow_['stalls']}) "
              f"{pole['block_time_cv_without_stalls']:.3f} vs "
              f"{pow_['block_time_cv_without_stalls']:.3f}",
              # at this difficulty both engines are timer-paced: whichever CV is lower is noise,
              # so the comparison cannot decide the claim either way at any size
              INCONCLUSIVE,
              f"{'lower' if cv_pole < cv_pow else 'not lower'} here, but both engines are "
              "paced by the node's minimum block interval plus a per-node jitter (difficulty "
              f"{pole['difficulty']} is milliseconds of hashing; model CV 0.155 for 3 nodes), "
              "so the CV measures timers and machine stalls, not the engine. The "
              "search-dominated run (`pole experiment devnet --difficulty 24`, "
              "docs/experiments/pole/devnet-d24) decides: partly (a PoLe block comes 1.6 s "
              "after its parent against an 8.2 s mean gap, but the chain's CV is 0.86 vs 0.90 "
              "because fallback PoW blocks dominate; docs/pole.md)"),
        Claim(POLE, "001/[1]: consensus compute goes into useful training instead of puzzles "
              "(useful-work share, no published number)",
              f"accepted training / (training + PoW hashing counted from seals) = "
              f"{pole['useful_work_share']:.2f}; against all node-process CPU (verification, "
              f"networking, hashing) {pole['useful_share_of_all_node_cpu'] or 0:.3f}",
              *verdict(pole["useful_work_share"] > 0.5,
                       "most consensus hashing went into PoW blocks")),
    ]
    keep = ("engine", "blocks", "pole_blocks", "block_time_mean_s", "block_time_cv",
            "block_time_cv_without_stalls", "stalls",
            "useful_work_share", "useful_share_of_all_node_cpu", "pow_hashes",
            "train_cpu_seconds", "node_cpu_seconds", "seconds", "plan")
    summary = {e: {k: r.get(k) for k in keep} for e, r in results.items()}
    return Outcome({"summary": summary, "tasks": outcomes}, claims, [],
                   {"tasks": tasks, "nodes": 3, "plan": pole["plan"]}, [str(plot)],
                   {"cv_pole": round(cv_pole, 3), "cv_pow": round(cv_pow, 3)})


def _gap_plot(path: Path, results: dict[str, dict[str, Any]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for engine, r in results.items():
        gaps = r["block_gaps_s"]
        ax.plot(range(2, len(gaps) + 2), gaps, marker=".", lw=0.8,
                label=f"{engine} (CV {r['block_time_cv']:.2f})")
        pole_at = r["pole_heights"]
        if pole_at:
            ax.scatter(pole_at, [gaps[h - 2] for h in pole_at], s=60, marker="*",
                       color="red", zorder=3, label="PoLe settlement block")
    ax.set(title="Block times on 3-node devnets (same task workload)",
           xlabel="block height", ylabel="time since the parent block (s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
