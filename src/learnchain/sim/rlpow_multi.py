"""Experiment 1, redone fairly: does the work of more nodes make the chain learn faster?

Three designs at the same compute (each of N nodes does K gradient steps per height/round):

* ``lineage``  the first rlpow design: each proposer trains its own learner, the winner's block
               is the only work that counts (``rlpow_experiments.learning_run``, shared replay).
* ``uncles``   the shared-learner design (``consensus/rlpow_uncles.py``): at every height each
               of the N nodes builds a candidate on the head; a coin picks the winner, the
               N-1 others are offered as uncles and the next block includes, verifies and
               merges them. Real chains: every candidate is prepared, sealed (K committed DQN
               steps) and signed; every included uncle is checked like a block.
* ``apex``     the off-chain distributed-RL baseline (``ml.multi.learn_apex``): N actors in
               their own environment copies, one shared replay, one learner doing N·K steps
               per round.

Per run: blocks (heights or rounds) until the greedy policy of the head passes the solve test,
environment steps (transitions that entered the replay history) and gradient steps (all
nodes'), plus the learning curve. Unsolved runs count as the budget (marked in the table).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from learnchain.experiments.base import mean_ci
from learnchain.ml import coins, dqn
from learnchain.sim.rlpow_chains import (
    Progress,
    _pyplot,
    _write,
    keys_for,
    local_chain,
    map_jobs,
    rlpow_genesis,
)
from learnchain.sim.rlpow_experiments import LearningConfig, learning_run

DESIGNS = ("uncles", "lineage", "apex")


@dataclass(frozen=True)
class MultiConfig:
    nodes: tuple[int, ...] = (1, 2, 4, 8)
    seeds: tuple[int, ...] = tuple(range(10))
    designs: tuple[str, ...] = DESIGNS
    env: str = "CartPole-v1"
    max_blocks: int = 6000
    eval_every: int = 250
    eval_episodes: int = 10
    confirm_episodes: int = 100
    solve_return: float = 195.0
    K: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    workers: int = 2


def quick_multi_config() -> MultiConfig:
    """The suite's version: the same code paths at a tiny budget (seconds)."""
    return MultiConfig(nodes=(1, 2), seeds=(0,), max_blocks=120, eval_every=60,
                       eval_episodes=2, confirm_episodes=3,
                       params={"learning_starts": 40, "eps_decay_blocks": 100}, workers=1)


@dataclass(frozen=True)
class MultiRun:
    design: str
    nodes: int
    seed: int
    solved_at: int | None
    blocks: int
    env_steps: int
    grad_steps: int
    wall_s: float
    evals: list[tuple[int, float]]


def _solve_check(theta: bytes, cfg: MultiConfig, run_seed: bytes, height: int
                 ) -> tuple[float, bool]:
    score = dqn.evaluate_greedy(theta, cfg.env, cfg.eval_episodes,
                                coins.hash_parts(run_seed, b"eval", height.to_bytes(8, "big")))
    if score < cfg.solve_return:
        return score, False
    final = dqn.evaluate_greedy(theta, cfg.env, cfg.confirm_episodes,
                                coins.hash_parts(run_seed, b"confirm", height.to_bytes(8, "big")))
    return score, final >= cfg.solve_return


def uncles_run(nodes: int, seed: int, cfg: MultiConfig) -> MultiRun:
    """N nodes race every height on one chain; the losers' candidates become uncles."""
    keys = keys_for(nodes, f"learn-{seed}")
    params = {"K": cfg.K, **cfg.params}
    local = local_chain(rlpow_genesis(keys, env=cfg.env, params=params, design="uncles",
                                      fork_choice="longest"), keys, retain_intermediate=False)
    engine = local.engine
    run_seed = f"multi/uncles/{nodes}/{seed}".encode()
    evals: list[tuple[int, float]] = []
    solved_at, grad = None, 0
    t0 = time.perf_counter()
    height = 0
    for height in range(1, cfg.max_blocks + 1):
        cands = [local.propose(k, 1000 if i == 0 else 0) for i, k in enumerate(keys)]
        winner = coins.coin_below(run_seed, "race", height, nodes)
        local.chain.add_block(cands[winner])
        for i, c in enumerate(cands):
            grad += c.header.engine_fields["k"]
            if i != winner:
                engine.offer_uncle(c)
        if height % cfg.eval_every:
            continue
        theta = engine.greedy_params(cands[winner].hash)
        assert theta is not None
        score, solved = _solve_check(theta, cfg, run_seed, height)
        evals.append((height, score))
        if solved:
            solved_at = height
            break
    head = local.chain.head
    env_steps = len(engine._buffer(None, head.height, head))
    return MultiRun("uncles", nodes, seed, solved_at, height, env_steps, grad,
                    time.perf_counter() - t0, evals)


def lineage_run(nodes: int, seed: int, cfg: MultiConfig) -> MultiRun:
    lc = LearningConfig(nodes=(nodes,), seeds=(seed,), modes=("shared",), env=cfg.env,
                        max_blocks=cfg.max_blocks, eval_every=cfg.eval_every,
                        eval_episodes=cfg.eval_episodes, confirm_episodes=cfg.confirm_episodes,
                        solve_return=cfg.solve_return, K=cfg.K, params=cfg.params, workers=1)
    r = learning_run(nodes, seed, "shared", lc)
    return MultiRun("lineage", nodes, seed, r.solved_at, r.blocks, r.blocks,
                    r.total_grad_steps, r.wall_s, [tuple(e) for e in r.evals])  # type: ignore[misc]


def apex_run(nodes: int, seed: int, cfg: MultiConfig) -> MultiRun:
    from learnchain.consensus.rlpow import default_rlpow_params
    from learnchain.ml.multi import learn_apex

    p = {**default_rlpow_params(), "K": cfg.K, **cfg.params}
    r = learn_apex(cfg.env, nodes, cfg.K, f"multi/apex/{nodes}/{seed}".encode(),
                   max_rounds=cfg.max_blocks, C=int(p["C"]),
                   eps=dqn.EpsilonSchedule(int(p["eps_start_ppb"]), int(p["eps_end_ppb"]),
                                           int(p["eps_decay_blocks"])),
                   learning_starts=int(p["learning_starts"]), eval_every=cfg.eval_every,
                   eval_episodes=cfg.eval_episodes, confirm_episodes=cfg.confirm_episodes,
                   solve_return=cfg.solve_return)
    return MultiRun("apex", nodes, seed, r.solved_at, r.rounds, r.env_steps, r.grad_steps,
                    r.wall_s, r.evals)


RUNNERS = {"uncles": uncles_run, "lineage": lineage_run, "apex": apex_run}


def _job(args: tuple[str, int, int, MultiConfig, str | None]) -> MultiRun:
    """One run; with a cache folder its result is written there as soon as it finishes, so an
    interrupted full run resumes where it stopped (``run_multi`` loads finished runs)."""
    design, nodes, seed, cfg, cache = args
    run = RUNNERS[design](nodes, seed, cfg)
    if cache is not None:
        Path(cache, f"{design}-{nodes}-{seed}.json").write_text(json.dumps(asdict(run)))
    return run


def _cached(cache: Path | None, design: str, nodes: int, seed: int) -> MultiRun | None:
    if cache is None:
        return None
    path = cache / f"{design}-{nodes}-{seed}.json"
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    d["evals"] = [tuple(e) for e in d["evals"]]
    return MultiRun(**d)


def summarise(runs: list[MultiRun], cfg: MultiConfig) -> list[dict[str, Any]]:
    """Per design and N: solved count and mean ± 95 % CI of blocks, env and gradient steps.

    An unsolved run counts at the budget (blocks) and at what it spent (steps), so means of
    cells with unsolved runs are lower bounds; ``solved`` says how many.
    """
    table = []
    for design in cfg.designs:
        for n in cfg.nodes:
            rs = [r for r in runs if r.design == design and r.nodes == n]
            if not rs:
                continue
            blocks = [float(r.solved_at if r.solved_at is not None else cfg.max_blocks)
                      for r in rs]
            table.append({"design": design, "nodes": n, "runs": len(rs),
                          "solved": sum(r.solved_at is not None for r in rs),
                          "blocks": mean_ci(blocks),
                          "env_steps": mean_ci([float(r.env_steps) for r in rs]),
                          "grad_steps": mean_ci([float(r.grad_steps) for r in rs]),
                          "blocks_per_seed": [int(b) for b in blocks]})
    return table


def plot_multi(path: Path, summary: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    plt = _pyplot()
    cfg, table = summary["config"], summary["table"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    metrics = [("blocks", "blocks (heights / rounds) until solved"),
               ("env_steps", "environment steps until solved"),
               ("grad_steps", "gradient steps (all nodes) until solved")]
    for k, design in enumerate(cfg["designs"]):
        rows = [r for r in table if r["design"] == design]
        ns = [r["nodes"] for r in rows]
        for ax, (key, _) in zip(axes[:3], metrics, strict=True):
            ax.errorbar(ns, [r[key]["mean"] for r in rows], yerr=[r[key]["ci95"] for r in rows],
                        fmt="o-", c=f"C{k}", capsize=3, label=f"{design} (mean ± 95 % CI)")
    for ax, (_, label) in zip(axes[:3], metrics, strict=True):
        ax.set(xscale="log", yscale="log", xlabel="nodes / actors N", ylabel=label)
        ax.minorticks_off()
        ax.set_xticks(list(cfg["nodes"]), [str(n) for n in cfg["nodes"]])
        ax.legend(fontsize=7)
    axes[0].set_title(f"{cfg['env']}: time to solve")
    axes[1].set_title("samples to solve")
    axes[2].set_title("compute to solve")
    nmax = max(cfg["nodes"])
    for k, design in enumerate(cfg["designs"]):
        for n, style in ((min(cfg["nodes"]), ":"), (nmax, "-")):
            curves = [r["evals"] for r in runs if r["design"] == design and r["nodes"] == n]
            if not curves:
                continue
            xs = sorted({h for c in curves for h, _ in c})
            ys = []
            for x in xs:  # a solved run keeps its last score (it stopped because it passed)
                vals = [next((s for h, s in c if h == x), c[-1][1] if c and c[-1][0] < x
                             else None) for c in curves]
                vals = [v for v in vals if v is not None]
                ys.append(sum(vals) / len(vals))
            axes[3].plot(xs, ys, style, c=f"C{k}", label=f"{design}, N={n}")
    axes[3].axhline(cfg["solve_return"], ls="--", c="grey", lw=0.8, label="solve threshold")
    axes[3].set(xlabel="blocks (heights / rounds)", ylabel="greedy return (mean over seeds)",
                title="learning curves")
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_multi(out: Path | None, cfg: MultiConfig | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    cfg = cfg or MultiConfig()
    cache = None
    if out is not None:
        key = hashlib.sha256(json.dumps({k: v for k, v in asdict(cfg).items()
                                         if k not in ("workers", "seeds", "nodes", "designs")},
                                        sort_keys=True).encode()).hexdigest()[:12]
        cache = out / f"multi-runs-{key}"  # one folder per budget/env/params
        cache.mkdir(parents=True, exist_ok=True)
    done: list[MultiRun] = []
    jobs = []
    for s in cfg.seeds:  # seed-major: an interrupted run has whole seeds for every cell
        for n in cfg.nodes:
            for d in cfg.designs:
                hit = _cached(cache, d, n, s)
                if hit is not None:
                    done.append(hit)
                else:
                    jobs.append((d, n, s, cfg, None if cache is None else str(cache)))
    runs = done + map_jobs(_job, jobs, cfg.workers, progress)
    summary = {"config": {k: v for k, v in asdict(cfg).items() if k != "workers"},
               "table": summarise(runs, cfg)}
    plain = [asdict(r) for r in runs]

    def plot(path: Path) -> None:
        plot_multi(path, summary, plain)

    _write(out, "multi", {"summary": summary, "runs": plain}, plot)
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table of the summary (what docs/experiments/rlpow.md quotes)."""
    lines = ["| design | N | solved | blocks to solve | env steps | gradient steps |",
             "|---|---|---|---|---|---|"]
    for r in summary["table"]:
        def f(m: dict[str, float]) -> str:
            return f"{m['mean']:,.0f} ± {m['ci95']:,.0f}"
        lines.append(f"| {r['design']} | {r['nodes']} | {r['solved']}/{r['runs']} | "
                     f"{f(r['blocks'])} | {f(r['env_steps'])} | {f(r['grad_steps'])} |")
    return "\n".join(lines)


def report_cached(out: Path, cfg: MultiConfig | None = None) -> dict[str, Any]:
    """Table, JSON and plot from the runs an interrupted ``run_multi`` has finished so far
    (same folder and config), without running anything."""
    cfg = cfg or MultiConfig()
    folders = sorted(out.glob("multi-runs-*"))
    runs = [r for f in folders for p in sorted(f.glob("*.json"))
            if (r := _cached(f, *_parse(p.stem))) is not None]
    summary = {"config": {k: v for k, v in asdict(cfg).items() if k != "workers"},
               "table": summarise(runs, cfg), "partial": True,
               "runs_finished": len(runs)}
    plain = [asdict(r) for r in runs]

    def plot(path: Path) -> None:
        plot_multi(path, summary, plain)

    _write(out, "multi", {"summary": summary, "runs": plain}, plot)
    return summary


def _parse(stem: str) -> tuple[str, int, int]:
    design, nodes, seed = stem.rsplit("-", 2)
    return design, int(nodes), int(seed)
