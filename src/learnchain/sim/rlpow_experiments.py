"""The `rlpow` experiments (issue 4): each writes JSON + a PNG into a folder and returns a summary.

1. ``run_learning``      heights until the canonical chain's greedy policy solves CartPole, for
                         N proposers, with the chain as a shared replay buffer or each node on
                         its own transitions; on-chain and total gradient steps.
2. ``run_tamper``        mutate S, A or R of a stored block j: found at j by the hash link and
                         by replaying the oracle and the committed policy.
3. ``run_attack``        private forks by a share α of the proposers, with and without one-step
                         lookahead over the adversary's identities, under each fork-choice rule:
                         real competing branches, decided by an honest observer's fork choice.
4. ``run_verify_cost``   verifier time / proposer time per block for s ∈ {1, K}.
5. ``run_dqn_quality``   our DQN against Stable-Baselines3 DQN (``learnchain.ml.baseline``).

Runs are real chains: every block is built by ``Chain.build_candidate``, sealed by the engine,
signed, imported and verified. Experiment 1 simulates an honest race with one chain and N keys:
each height's winner is a coin on the run seed (equal compute, so each of the N nodes wins with
probability 1/N); the N-1 losers' candidates are discarded work, counted in the compute column.
Experiment 3 forks real nodes from a common trained prefix: an honest observer builds the
public branch, the adversary's node a private one (its lookahead runs the engine's `prepare`
for each of its identities), and the adversary's blocks, with their sidecars, are then
imported by the observer, whose own fork choice decides the race.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from learnchain.consensus.rlpow import DEVNET_RLPOW_PARAMS, RLPowEngine
from learnchain.core.chain import Chain
from learnchain.core.encoding import decode
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block
from learnchain.ml import coins, dqn
from learnchain.ml.fixedpoint import SCALE
from learnchain.sim.rlpow_chains import (
    LocalChain,
    Progress,
    _pyplot,
    _write,
    keys_for,
    local_chain,
    map_jobs,
    rlpow_genesis,
)
from learnchain.testing import ManualClock

# ---------------------------------------------------------------------------------------------
# 1. Learning speed vs number of nodes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearningConfig:
    nodes: tuple[int, ...] = (1, 2, 4, 8)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    modes: tuple[str, ...] = ("shared", "own")
    env: str = "CartPole-v1"
    max_blocks: int = 10_000
    eval_every: int = 250
    eval_episodes: int = 10
    confirm_episodes: int = 100
    solve_return: float = 195.0
    K: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    workers: int = 2


@dataclass(frozen=True)
class LearningRun:
    nodes: int
    seed: int
    mode: str
    solved_at: int | None
    blocks: int
    onchain_grad_steps: int
    total_grad_steps: int
    wall_s: float
    final_eval: float | None
    evals: list[tuple[int, float]]


def small_learning_config() -> LearningConfig:
    """The suite's version: seconds, not minutes (same code path, tiny budget)."""
    return LearningConfig(nodes=(1, 2), seeds=(0,), max_blocks=240, eval_every=120,
                          eval_episodes=3, confirm_episodes=5,
                          params={"learning_starts": 60, "eps_decay_blocks": 200}, workers=1)


def learning_run(nodes: int, seed: int, mode: str, cfg: LearningConfig) -> LearningRun:
    """One honest race: N keys, each height won by a coin; stop when the head's θ solves."""
    keys = keys_for(nodes, f"learn-{seed}")
    params = {"K": cfg.K, **cfg.params}
    local = local_chain(rlpow_genesis(keys, env=cfg.env, params=params, replay=mode), keys,
                        retain_intermediate=False)
    engine = local.engine
    run_seed = f"learning/{nodes}/{seed}/{mode}".encode()
    evals: list[tuple[int, float]] = []
    solved_at, final_eval, grad_steps = None, None, 0
    t0 = time.perf_counter()
    height = 0
    for height in range(1, cfg.max_blocks + 1):
        winner = keys[coins.coin_below(run_seed, "race", height, nodes)]
        block = local.produce(winner)
        grad_steps += block.header.engine_fields["k"]
        if height % cfg.eval_every:
            continue
        theta = engine.greedy_params(block.hash)
        assert theta is not None
        score = dqn.evaluate_greedy(theta, cfg.env, cfg.eval_episodes,
                                    coins.hash_parts(run_seed, b"eval", height.to_bytes(8, "big")))
        evals.append((height, score))
        if score >= cfg.solve_return:
            final_eval = dqn.evaluate_greedy(theta, cfg.env, cfg.confirm_episodes,
                                             coins.hash_parts(run_seed, b"confirm",
                                                              height.to_bytes(8, "big")))
            if final_eval >= cfg.solve_return:
                solved_at = height
                break
    return LearningRun(nodes, seed, mode, solved_at, height, grad_steps, grad_steps * nodes,
                       time.perf_counter() - t0, final_eval, evals)


def plot_learning(path: Path, summary: dict[str, Any]) -> None:
    """Heights and total compute until solved, per N and replay mode (re-plottable from JSON)."""
    plt = _pyplot()
    cfg, table = summary["config"], summary["table"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, mode in enumerate(cfg["modes"]):
        color = f"C{k}"
        rows = [r for r in table if r["mode"] == mode]
        ns = [r["nodes"] for r in rows]
        axes[0].plot(ns, [r["median_height"] for r in rows], "o-", c=color,
                     label=f"replay={mode} (median)")
        axes[1].plot(ns, [r["median_total_grad_steps"] for r in rows], "o-", c=color,
                     label=f"replay={mode}, all nodes")
        axes[1].plot(ns, [r["median_onchain_grad_steps"] for r in rows], "x:", c=color,
                     label=f"replay={mode}, on chain")
        for r in rows:
            axes[0].scatter([r["nodes"] * (1.04 if k else 0.96)] * len(r["heights"]),
                            r["heights"], s=12, alpha=0.5, c=color)
    axes[0].axhline(cfg["max_blocks"], ls=":", c="grey", label="budget (unsolved)")
    axes[0].set(xscale="log", xlabel="nodes N", ylabel="blocks until solved",
                title=f"{cfg['env']}: heights until greedy mean ≥ {cfg['solve_return']:g}")
    axes[1].set(xscale="log", yscale="log", xlabel="nodes N",
                ylabel="gradient steps until solved", title="compute until solved")
    for ax in axes:
        ax.minorticks_off()
        ax.set_xticks(list(cfg["nodes"]), [str(n) for n in cfg["nodes"]])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _learning_job(args: tuple[int, int, str, LearningConfig]) -> LearningRun:
    return learning_run(*args)


def run_learning(out: Path | None, cfg: LearningConfig | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    cfg = cfg or LearningConfig()
    jobs = [(n, s, m, cfg) for m in cfg.modes for n in cfg.nodes for s in cfg.seeds]
    runs = map_jobs(_learning_job, jobs, cfg.workers, progress)
    table = []
    for mode in cfg.modes:
        for n in cfg.nodes:
            rs = [r for r in runs if r.mode == mode and r.nodes == n]
            # unsolved runs count as the budget (a lower bound), so medians stay honest
            heights = [r.solved_at if r.solved_at is not None else cfg.max_blocks for r in rs]
            solved = sum(r.solved_at is not None for r in rs)
            med = statistics.median(heights)
            per_block = [r.onchain_grad_steps for r in rs]
            table.append({"mode": mode, "nodes": n, "solved": solved, "runs": len(rs),
                          "median_height": med, "heights": heights,
                          "median_onchain_grad_steps": statistics.median(per_block),
                          "median_total_grad_steps": statistics.median(
                              [r.total_grad_steps for r in rs]),
                          "median_wall_s": round(statistics.median([r.wall_s for r in rs]), 2)})
    summary = {"config": {k: v for k, v in asdict(cfg).items() if k != "workers"},
               "table": table}

    def plot(path: Path) -> None:
        plot_learning(path, summary)

    _write(out, "learning", {"summary": summary, "runs": [asdict(r) for r in runs]}, plot)
    return summary


# ---------------------------------------------------------------------------------------------
# 2. Tampering with a stored block
# ---------------------------------------------------------------------------------------------


def audit_stored_chain(chain: Chain) -> list[dict[str, Any]]:
    """Re-check a stored canonical chain from its bytes: hash links, signatures, oracle replay.

    Returns every finding as ``{"height", "check", "error"}``; an untouched chain gives [].
    """
    engine = chain.engine
    assert isinstance(engine, RLPowEngine)
    findings: list[dict[str, Any]] = []
    hashes = dict(chain.store.canonical_range(0, chain.height))
    prev_hash = hashes[0]
    genesis = Block.decode(chain.store.get_block(prev_hash).data)  # type: ignore[union-attr]
    parent_rec = engine._genesis_record(genesis.hash)
    cp = chain.consensus_params()
    for h in range(1, chain.height + 1):
        stored = chain.store.get_block(hashes[h])
        assert stored is not None
        block = Block.decode(stored.data)
        if block.hash != hashes[h]:
            findings.append({"height": h, "check": "hash link", "error":
                             f"stored block hashes to 0x{block.hash.hex()[:16]}, the index and "
                             f"its child name 0x{hashes[h].hex()[:16]}"})
        if block.parent != prev_hash:
            findings.append({"height": h, "check": "hash link",
                             "error": "parent hash does not name the stored parent"})
        try:
            block.verify_signature()
        except InvalidBlock as exc:
            findings.append({"height": h, "check": "signature", "error": str(exc)})
        try:
            engine.check_header(block.header)
            outcome = engine.validate_transition(block.header, parent_rec)
            engine.validate_lineage(block.header, parent_rec)
            engine.validate_action(block.header, parent_rec, cp, None)
            engine.validate_mint(block.header, cp)
            parent_rec = engine._make_record(block.header, parent_rec, outcome)
        except InvalidBlock as exc:
            findings.append({"height": h, "check": "replay", "error": str(exc)})
            # carry on from the recorded state; later findings may cascade from this one,
            # the experiment reports the first height each check flags
            parent_rec = replace(parent_rec, state=tuple(block.header.engine_fields["s"]))
        prev_hash = hashes[h]
    return findings


def tamper_block(chain: Chain, height: int, field_name: str) -> None:
    """Rewrite a stored block's engine field in place (as a disk-level attacker would)."""
    block_hash = chain.store.canonical_hash(height)
    stored = chain.store.get_block(block_hash)  # type: ignore[arg-type]
    assert stored is not None
    plain = decode(stored.data)
    fields = plain[0][9]
    engine = chain.engine
    assert isinstance(engine, RLPowEngine)
    if field_name == "S":
        fields["s"] = [fields["s"][0] + 1, *fields["s"][1:]]
    elif field_name == "A":
        fields["a"] = (fields["a"] + 1) % engine.env.n_actions
    elif field_name == "R":
        fields["r"] = fields["r"] + SCALE
    else:
        raise ValueError(f"unknown field {field_name!r}; use S, A or R")
    from learnchain.core.encoding import encode

    chain.store.conn.execute("UPDATE blocks SET header=?, data=? WHERE hash=?",
                             (encode(plain[0]), encode(plain), block_hash))


@dataclass(frozen=True)
class TamperConfig:
    env: str = "CartPole-v1"
    blocks: int = 40
    positions: tuple[int, ...] = (1, 10, 25, 39)
    fields: tuple[str, ...] = ("S", "A", "R")


def run_tamper(out: Path | None, cfg: TamperConfig | None = None) -> dict[str, Any]:
    cfg = cfg or TamperConfig()
    keys = keys_for(3, "tamper")
    rows = []
    for field_name in cfg.fields:
        for j in cfg.positions:
            local = local_chain(rlpow_genesis(keys, env=cfg.env,
                                              params={"K": 2, "learning_starts": 8}), keys)
            for h in range(cfg.blocks):
                local.produce(keys[h % len(keys)])
            assert audit_stored_chain(local.chain) == []
            tamper_block(local.chain, j, field_name)
            findings = audit_stored_chain(local.chain)
            first = {check: min((f["height"] for f in findings if f["check"] == check),
                                default=None) for check in ("hash link", "replay")}
            rows.append({"field": field_name, "j": j,
                         "hash_link_detected_at": first["hash link"],
                         "replay_detected_at": first["replay"],
                         "detected_at_j": first["hash link"] == j and first["replay"] == j,
                         "replay_error": next((f["error"] for f in findings
                                               if f["check"] == "replay"), None)})
    summary = {"config": asdict(cfg), "rows": rows,
               "all_detected_at_j": all(r["detected_at_j"] for r in rows)}

    def plot(path: Path) -> None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for k, f in enumerate(cfg.fields):
            rs = [r for r in rows if r["field"] == f]
            ax.scatter([r["j"] + 0.15 * (k - 1) for r in rs],
                       [r["replay_detected_at"] for r in rs], label=f"mutate {f}", s=40)
        ax.plot([0, cfg.blocks], [0, cfg.blocks], ":", c="grey", label="detected at j")
        ax.set(xlabel="tampered height j", ylabel="first height flagged (replay)",
               title="Tampering is detected at the tampered block")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    _write(out, "tamper", summary, plot)
    return summary


def time_verifications(engine: RLPowEngine) -> list[float]:
    """Wrap `engine.verify` so each call's wall time is appended to the returned list."""
    times: list[float] = []
    original = engine.verify

    def timed(block: Block, parent: Any, cp: Any) -> None:
        started = time.perf_counter()
        original(block, parent, cp)
        times.append(time.perf_counter() - started)

    engine.verify = timed  # type: ignore[method-assign]
    return times


# ---------------------------------------------------------------------------------------------
# 4. Verification cost
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyCostConfig:
    Ks: tuple[int, ...] = (8, 32)
    blocks: int = 12
    warmup: int = 20
    env: str = "CartPole-v1"


def measure_block_costs(K: int, s: int, blocks: int, warmup: int, env: str = "CartPole-v1"
                        ) -> dict[str, float]:
    """Median per-block times: proposer (build + act + K steps), verifier (engine.verify and
    full import), and the K raw DQN steps alone (the bare learner, no commitments)."""
    keys = keys_for(2, f"cost-{K}-{s}")
    genesis = rlpow_genesis(keys, env=env, params={"K": K, "audit_steps": s,
                                                   "learning_starts": warmup})
    clock = ManualClock()
    prover = local_chain(genesis, keys, clock=clock)
    verifier = local_chain(genesis, keys, clock=clock)
    v_engine = verifier.engine
    verify_times = time_verifications(v_engine)
    propose_t, import_t, produce_t, raw_t = [], [], [], []
    for h in range(warmup + blocks):
        key = keys[1]
        t0 = time.perf_counter()
        block = prover.propose(key)
        t1 = time.perf_counter()
        prover.chain.add_block(block)
        t2 = time.perf_counter()
        v_engine.accept_sidecar(prover.engine.sidecar(block))
        verifier.chain.add_block(block)
        t3 = time.perf_counter()
        if h >= warmup:
            propose_t.append(t1 - t0)
            produce_t.append(t2 - t0)
            import_t.append(t3 - t2)
            raw_t.append(_raw_steps(prover, key.address, K))
    verify_only = verify_times[warmup:]
    med = statistics.median
    return {"K": K, "s": s, "propose_ms": med(propose_t) * 1e3,
            "produce_ms": med(produce_t) * 1e3, "verify_ms": med(verify_only) * 1e3,
            "import_ms": med(import_t) * 1e3, "bare_steps_ms": med(raw_t) * 1e3,
            "verify_over_propose": med(verify_only) / med(propose_t),
            "import_over_propose": med(import_t) / med(propose_t),
            "produce_over_bare": med(produce_t) / med(raw_t)}


def _raw_steps(local: LocalChain, proposer: bytes, K: int) -> float:
    """Time of K bare DQN steps (flat learner, no hashing or serialisation) on the same data."""
    engine = local.engine
    rec = engine.record(local.chain.head_hash)
    entry = rec.lineage[proposer]
    state = dqn.LearnerState(*(engine.blobs.get(d) or b"" for d in entry.triple()))
    buf = engine._buffer(proposer, local.chain.height)
    learner = dqn._Learner(state, engine.hyper)
    t = time.perf_counter()
    for i in range(K):
        learner.step(buf, entry.steps + i, b"raw", int(local.chain.consensus_params()
                                                          .params["C"]))
    return time.perf_counter() - t


def run_verify_cost(out: Path | None, cfg: VerifyCostConfig | None = None) -> dict[str, Any]:
    cfg = cfg or VerifyCostConfig()
    rows = []
    for K in cfg.Ks:
        for s in sorted({1, K}):
            rows.append(measure_block_costs(K, s, cfg.blocks, cfg.warmup, cfg.env))
    summary = {"config": asdict(cfg), "rows": rows}

    def plot(path: Path) -> None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"K={r['K']}, s={r['s']}" for r in rows]
        ax.bar(labels, [r["verify_over_propose"] for r in rows], label="engine.verify")
        ax.plot(labels, [r["import_over_propose"] for r in rows], "ko", label="full import")
        ax.axhline(0.25, ls=":", c="grey", label="target 0.25 (s=1)")
        ax.set(ylabel="verifier time / proposer time", title="Verification cost per block")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    _write(out, "verify_cost", summary, plot)
    return summary


# ---------------------------------------------------------------------------------------------
# 5. DQN quality against Stable-Baselines3
# ---------------------------------------------------------------------------------------------


def run_dqn_quality(out: Path | None, steps: int = 20_000, solve_seeds: int = 3,
                    budget: int = 20_000) -> dict[str, Any]:
    """Throughput and final return on one budget, and steps-to-solve per seed, both learners."""
    from learnchain.ml import baseline

    rows = [asdict(r) for r in baseline.compare_with_sb3(steps=steps)]
    solves = []
    for seed in range(solve_seeds):
        solves.append(asdict(baseline.solve_ours(seed, budget=budget)))
        if baseline.sb3_available():
            solves.append(asdict(baseline.solve_sb3(seed, budget=budget)))
    summary = {"config": {"steps": steps, "solve_seeds": solve_seeds, "budget": budget},
               "throughput": rows, "solve": solves}

    def plot(path: Path) -> None:
        plt = _pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        axes[0].bar([r["learner"] for r in rows], [r["steps_per_s"] for r in rows])
        axes[0].set(ylabel="env steps / s", title=f"{steps} env steps, CartPole")
        learners = sorted({r["learner"] for r in solves})
        for k, name in enumerate(learners):
            vals = [r["solved_at"] or budget for r in solves if r["learner"] == name]
            axes[1].scatter([k] * len(vals), vals, s=30)
        axes[1].set_xticks(range(len(learners)), learners, fontsize=7)
        axes[1].set(ylabel="env steps to solve", title="solve test (195, 100 episodes)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    _write(out, "dqn_quality", summary, plot)
    return summary


# ---------------------------------------------------------------------------------------------
# Devnet demo: N real nodes over the simulated network learn on chain
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevnetConfig:
    """``params`` default to ``DEVNET_RLPOW_PARAMS``; a head scoring ``solve_return`` on
    ``eval_episodes`` counts as solved once ``confirm_episodes`` fresh episodes agree."""

    nodes: int = 4
    blocks: int = 8000
    env: str = "CartPole-v1"
    block_interval_s: float = 1.0
    eval_every: int = 250
    eval_episodes: int = 20
    confirm_episodes: int = 100
    solve_return: float | None = 195.0
    params: dict[str, Any] = field(default_factory=lambda: dict(DEVNET_RLPOW_PARAMS))
    seed: int = 0


def run_devnet(out: Path | None, cfg: DevnetConfig | None = None,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """N nodes (own keys, own engines, real p2p messages with sidecars) take turns by coin.

    Every block is gossiped with its blobs and fully verified (audited) by the other nodes.
    Reports, per height, the episode returns recorded on chain and the greedy return of the
    head's θ_after, and checks that all nodes end on the same head. Stops early once that
    greedy return reaches ``solve_return`` (mean over ``eval_episodes`` episodes).
    """
    from learnchain.sim.network import LinkModel, SimNetwork

    cfg = cfg or DevnetConfig()
    keys = keys_for(cfg.nodes, f"devnet-{cfg.seed}")
    genesis = rlpow_genesis(keys, env=cfg.env, params=cfg.params)
    net = SimNetwork(genesis, keys, seed=cfg.seed, link=LinkModel(median_ms=20))
    net.connect_all()
    net.run(2)
    names = list(net.nodes)
    run_seed = f"devnet/{cfg.seed}".encode()
    evals: list[tuple[int, float]] = []
    solved: list[int] = []
    t0 = time.perf_counter()

    def produce(height: int) -> None:
        winner = net.nodes[names[coins.coin_below(run_seed, "race", height, cfg.nodes)]]
        block = winner.node.produce_block()
        if block is not None and block.height % cfg.eval_every == 0:
            engine = winner.chain.engine
            theta = engine.greedy_params(block.hash)
            score = dqn.evaluate_greedy(theta, cfg.env, cfg.eval_episodes,
                                        coins.hash_parts(run_seed, block.hash))
            evals.append((block.height, score))
            if log is not None:
                row = engine.row(block.header)
                log(f"height {block.height:>5}  A={row['A']} R={row['R']:g} "
                    f"return={row['return']:g}  greedy θ_after: {score:.1f} "
                    f"({time.perf_counter() - t0:.0f} s)")
            if cfg.solve_return is not None and score >= cfg.solve_return:
                confirm = dqn.evaluate_greedy(theta, cfg.env, cfg.confirm_episodes,
                                              coins.hash_parts(run_seed, b"confirm",
                                                               block.hash))
                if log is not None:
                    log(f"             confirmation on {cfg.confirm_episodes} episodes: "
                        f"{confirm:.1f}")
                if confirm >= cfg.solve_return:
                    solved.append(block.height)
        if height < cfg.blocks and not solved:
            net.scheduler.after(cfg.block_interval_s * 1000, lambda: produce(height + 1))

    net.scheduler.after(100, lambda: produce(1))
    net.run(until_height=cfg.blocks)
    net.settle(10)
    chain = net.nodes[names[0]].chain
    engine = chain.engine
    episodes = [(b.height, b.header.engine_fields["ret"] / SCALE)
                for b in chain.canonical_blocks(1, chain.height) if b.header.engine_fields["done"]]
    summary = {"config": asdict(cfg), "converged": net.converged(), "height": chain.height,
               "solved_at": solved[0] if solved else None,
               "audited_steps": {n: s.chain.engine.stats["audited_steps"]
                                 for n, s in net.nodes.items()},
               "episodes": len(episodes), "evals": evals,
               "last_episode_returns": [r for _, r in episodes[-10:]],
               "best_eval": max((s for _, s in evals), default=None),
               "wall_s": round(time.perf_counter() - t0, 1)}

    def plot(path: Path) -> None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.plot([h for h, _ in episodes], [r for _, r in episodes], ".", ms=3,
                label="episode return on chain (ε-greedy actions)")
        ax.plot([h for h, _ in evals], [s for _, s in evals], "o-",
                label=f"greedy return of the head's θ_after ({cfg.eval_episodes} episodes)")
        ax.set(xlabel="height", ylabel="return",
               title=f"{cfg.nodes}-node rlpow devnet learning {cfg.env}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    assert isinstance(engine, RLPowEngine)
    _write(out, "devnet", summary, plot)
    return summary
