"""rlpow experiment 3: private forks by a share α of the proposers, with and without
one-step lookahead over the adversary's identities, under each fork-choice rule.

Nodes are forked from a common trained prefix: an honest observer builds the public branch, the
adversary's node a private one (its lookahead runs the engine's `prepare` for each of its
identities), and the adversary's blocks, with their sidecars, are then imported by the
observer, whose own fork choice decides the race (docs/experiments/rlpow.md §3).
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from learnchain.apps.registry import build_apps
from learnchain.consensus.base import FORK_CHOICE_RULES
from learnchain.consensus.registry import build_engine
from learnchain.consensus.rlpow import RLPowEngine
from learnchain.core.chain import Chain
from learnchain.core.crypto import PrivateKey
from learnchain.core.types import Block
from learnchain.ml import coins
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
from learnchain.storage.sqlite_store import SqliteStore
from learnchain.testing import ManualClock

# ---------------------------------------------------------------------------------------------
# 3. Private forks and one-step lookahead
# ---------------------------------------------------------------------------------------------

# "most-work" is left out: RLPowEngine.work is max(1, k), and k is the consensus K for every block
# past learning_starts (a proposer cannot choose it), so total work is K·height plus a constant
# over the common prefix. The rule then orders branches exactly as "longest" does, ties included.
ATTACK_RULES: tuple[str, ...] = tuple(r for r in FORK_CHOICE_RULES if r != "most-work")
RACE_PPM = 1_000_000


@dataclass(frozen=True)
class AttackConfig:
    """A private-fork race on real chains.

    ``prefix`` blocks past ``learning_starts`` come first, so that in the window every proposer
    acts with its own trained θ (ε has decayed to its floor by then) and every block carries
    ``K`` audited training steps. ``workers`` processes share the (rule, α, lookahead) jobs.
    """

    alphas: tuple[float, ...] = (0.1, 0.3, 0.5)
    nodes: int = 10
    window: int = 12
    trials: int = 500
    rules: tuple[str, ...] = ATTACK_RULES
    env: str = "Inventory-v0"
    K: int = 2
    learning_starts: int = 10
    prefix: int = 40
    seed: int = 0
    workers: int = 2
    keep_trials: bool = False


def small_attack_config() -> AttackConfig:
    """The suite's version: the two extreme shares, a short window, few trials, one process.

    An even, short window keeps many tied races (about a third at α = 0.5), the only races in
    which lookahead or a reward tie-break can change the outcome.
    """
    return AttackConfig(alphas=(0.1, 0.5), window=6, trials=40, prefix=24, workers=1)


@dataclass(frozen=True)
class AttackTrial:
    """One race: the rewards of both branches (from their headers) and who the observer chose.

    ``verified`` counts the adversary blocks an honest node connected, i.e. fully verified
    (oracle replay, lineage, committed policy, mint and a training audit); ``audited`` counts
    the training steps it replayed for them.
    """

    alpha: float
    rule: str
    lookahead: bool
    trial: int
    honest_r: tuple[int, ...]
    adversary_r: tuple[int, ...]
    adversary_won: bool
    verified: int
    audited: int


def adversary_identities(alpha: float, nodes: int) -> int:
    """round(α·N) identities, at least one (the adversary's share of the miner set)."""
    return max(1, round(alpha * nodes))


def _attack_seed(cfg: AttackConfig) -> bytes:
    return coins.hash_parts(b"rlpow/attack", str(cfg.seed).encode())


def attack_prefix(rule: str, cfg: AttackConfig) -> LocalChain:
    """The common history every trial of `rule` forks from, built once per rule.

    The fork-choice rule is part of the genesis (and its hash), so each rule is its own chain.
    Prefix blocks come from identities chosen by coins among all N, so every identity has a
    lineage of its own; ε decays to its floor over the prefix.
    """
    keys = keys_for(cfg.nodes, f"attack-{cfg.seed}")
    params = {"K": cfg.K, "learning_starts": cfg.learning_starts,
              "eps_decay_blocks": cfg.prefix}
    local = local_chain(rlpow_genesis(keys, env=cfg.env, params=params, fork_choice=rule), keys)
    run = _attack_seed(cfg)
    for h in range(cfg.prefix):
        local.produce(keys[coins.coin_below(run, "prefix", h, cfg.nodes)])
    return local


def copy_node(source: LocalChain, salt: bytes, clock: ManualClock) -> LocalChain:
    """A new node started from a byte copy of `source`'s store (blocks, state and blobs).

    This is a node restored from a backup: the Chain re-checks the state checksum and the head,
    and the engine rebuilds its records by replaying the oracle from the stored headers. It is
    about 20 times cheaper than importing the prefix block by block, and it gives each trial
    fresh, independent nodes. The nodes of one trial share `clock`, so the blocks they
    exchange are never from the future.
    """
    store = SqliteStore(":memory:")
    source.chain.store.conn.backup(store.conn)
    genesis = source.chain.genesis_config
    engine = build_engine(genesis.engine, genesis.engine_config)
    chain = Chain(store, genesis, build_apps(genesis.extra_apps, engine), engine, clock)
    assert isinstance(engine, RLPowEngine)
    engine.audit_salt = salt
    return LocalChain(chain, source.keys, clock)


def lookahead_block(adversary: LocalChain, keys: Sequence[PrivateKey],
                    step_ms: int = 1000) -> Block:
    """One-step lookahead over identities: the best-rewarded identity's block, on the tip.

    `prepare` (inside ``build_candidate``) acts with each identity's committed θ and steps the
    oracle, so the candidate's ``r`` is what that identity would earn; no training happens yet.
    The adversary then does the work for the best candidate only (the first on a tie). `seal`
    pops the pending entry that identity's `prepare` left for this parent, so the sealed block
    is exactly that candidate. The action itself is not a choice: the engine fixes it.
    """
    adversary.clock.advance(step_ms)
    options = [(adversary.chain.build_candidate([], key.address)[0], key) for key in keys]
    candidate, key = max(options, key=lambda o: o[0].header.engine_fields["r"])
    cp = adversary.chain.consensus_params()
    sealed = adversary.engine.seal(candidate.header, cp, threading.Event())
    assert sealed is not None
    block = Block(sealed, candidate.transactions).signed(key)
    adversary.chain.add_block(block)
    return block


def publish(receiver: LocalChain, adversary: LocalChain, blocks: Sequence[Block]
            ) -> tuple[bool, int, int]:
    """Deliver a private branch (its blobs, then each block) to an honest node.

    Returns whether the node's head is then the branch's tip, and how many of the blocks it
    connected (and so fully verified) and how many of their training steps it audited. A block
    that fails any check raises InvalidBlock: the experiment stops rather than count it.
    """
    stats = receiver.engine.stats
    verified, audited = stats["verified_blocks"], stats["audited_steps"]
    for block in blocks:
        receiver.engine.accept_sidecar(adversary.engine.sidecar(block))
        receiver.chain.add_block(block)
    won = bool(blocks) and receiver.chain.head_hash == blocks[-1].hash
    return won, stats["verified_blocks"] - verified, stats["audited_steps"] - audited


def attack_trial(prefix: LocalChain, alpha: float, lookahead: bool, trial: int,
                 cfg: AttackConfig) -> AttackTrial:
    """One race of `cfg.window` block events from the prefix tip, decided by a real observer.

    The observer is an honest node: it builds the public branch itself (an honest identity
    wins each honest event), so it has seen that branch first. The adversary extends a private
    branch on its own node and publishes at the end. The race coins depend on the trial only,
    not on α, the rule or the variant (common random numbers): event e goes to the adversary iff
    its coin is below α, so a larger α never gives the adversary fewer events. If the observer
    keeps the public branch, its adversary blocks were only stored, not verified, so a witness
    (an honest node that has not seen the public branch) connects them instead.

    Each trial's clock starts at the fork point, so block bytes (timestamps enter the hashes)
    depend on the trial only: the public branch is the same, block for block, in both variants,
    one identity's lookahead is exactly the plain attack, and results do not depend on how jobs
    are spread over worker processes. (Coins never see timestamps: they chain work, see
    ``coin_seed``.)
    """
    ids = adversary_identities(alpha, cfg.nodes)
    adversary_keys, honest_keys = prefix.keys[:ids], prefix.keys[ids:]
    run = coins.hash_parts(_attack_seed(cfg), b"trial", trial.to_bytes(8, "big"))
    threshold = round(alpha * RACE_PPM)
    clock = ManualClock(prefix.chain.head.timestamp_ms)
    observer = copy_node(prefix, b"observer", clock)
    adversary = copy_node(prefix, b"adversary", clock)
    nodes = [observer, adversary]
    public: list[Block] = []
    private: list[Block] = []
    for e in range(cfg.window):
        if coins.coin_below(run, "race", e, RACE_PPM) >= threshold:
            key = honest_keys[coins.coin_below(run, "honest", e, len(honest_keys))]
            public.append(observer.produce(key))
        elif lookahead:
            private.append(lookahead_block(adversary, adversary_keys))
        else:
            private.append(adversary.produce(adversary_keys[coins.coin_below(run, "adversary",
                                                                             e, ids)]))
    won, verified, audited = publish(observer, adversary, private)
    if not won and private:
        witness = copy_node(prefix, b"witness", clock)
        nodes.append(witness)
        _, verified, audited = publish(witness, adversary, private)
    for node in nodes:
        node.chain.store.close()
    if verified != len(private):
        raise RuntimeError(f"only {verified} of {len(private)} adversary blocks were connected "
                           "by an honest node")
    return AttackTrial(alpha, prefix.chain.genesis_config.fork_choice, lookahead, trial,
                       tuple(b.header.engine_fields["r"] for b in public),
                       tuple(b.header.engine_fields["r"] for b in private), won, verified,
                       audited)


def fork_point(prefix: LocalChain) -> dict[str, int]:
    """What fork choice sees at the prefix tip: height, last reward and reward sum."""
    rewards = [b.header.engine_fields["r"] for b in prefix.chain.canonical_blocks(1)]
    return {"height": prefix.chain.height, "last_r": rewards[-1], "reward_sum": sum(rewards)}


_PREFIXES: dict[tuple[str, AttackConfig], LocalChain] = {}


def _attack_job(args: tuple[str, float, bool, AttackConfig]
                ) -> tuple[dict[str, int], list[AttackTrial]]:
    rule, alpha, lookahead, cfg = args
    # trials only read the prefix (by copying its store), so a process builds it once per rule
    prefix = _PREFIXES.get((rule, cfg))
    if prefix is None:
        prefix = _PREFIXES[(rule, cfg)] = attack_prefix(rule, cfg)
    trials = [attack_trial(prefix, alpha, lookahead, t, cfg) for t in range(cfg.trials)]
    return fork_point(prefix), trials


def _mean_reward(rewards: list[int]) -> float | None:
    return sum(rewards) / len(rewards) / SCALE if rewards else None


def attack_row(trials: Sequence[AttackTrial], cfg: AttackConfig) -> dict[str, Any]:
    """Win and tie rates of one (α, rule, variant), with the branches' mean reward per block."""
    first = trials[0]
    n = len(trials)
    ties = [t for t in trials if len(t.adversary_r) == len(t.honest_r)]
    adversary_r = [r for t in trials for r in t.adversary_r]
    return {"alpha": first.alpha, "rule": first.rule, "lookahead": first.lookahead,
            "identities": adversary_identities(first.alpha, cfg.nodes), "trials": n,
            "win_rate": sum(t.adversary_won for t in trials) / n, "tie_rate": len(ties) / n,
            "win_rate_in_ties": (sum(t.adversary_won for t in ties) / len(ties)
                                 if ties else None),
            "adversary_blocks": len(adversary_r),
            "verified_blocks": sum(t.verified for t in trials),
            "audited_steps": sum(t.audited for t in trials),
            "mean_reward_adversary": _mean_reward(adversary_r),
            "mean_reward_honest": _mean_reward([r for t in trials for r in t.honest_r])}


def plot_attack(path: Path, summary: dict[str, Any]) -> None:
    """Win rate per rule and variant, and the branches' mean reward per block (from JSON)."""
    plt = _pyplot()
    cfg, rows = summary["config"], summary["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, rule in enumerate(cfg["rules"]):
        for la in (False, True):
            rs = [r for r in rows if r["rule"] == rule and r["lookahead"] == la]
            axes[0].plot([r["alpha"] for r in rs], [r["win_rate"] for r in rs],
                         "o-" if la else "s--", c=f"C{k}",
                         label=f"{rule}{' + lookahead' if la else ''}")
    for la, marker in ((False, "s--"), (True, "o-")):
        rs = [r for r in rows if r["lookahead"] == la]
        axes[1].plot(*_mean_by_alpha(rs, "mean_reward_adversary"), marker,
                     label=f"adversary{' + lookahead' if la else ''}")
    axes[1].plot(*_mean_by_alpha(rows, "mean_reward_honest"), "k^:", label="honest")
    axes[0].set(xlabel="adversary share α", ylabel="private fork wins",
                title=f"Private fork after {cfg['window']} block events ({cfg['env']})")
    axes[1].set(xlabel="adversary share α", ylabel="mean reward per block",
                title="Rewards of the two branches (all rules)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mean_by_alpha(rows: Sequence[dict[str, Any]], column: str
                   ) -> tuple[list[float], list[float]]:
    alphas = sorted({r["alpha"] for r in rows})
    means = [statistics.mean(r[column] for r in rows
                             if r["alpha"] == a and r[column] is not None) for a in alphas]
    return alphas, means


def run_attack(out: Path | None, cfg: AttackConfig | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Win rate of a private fork published after `window` block events, per rule, α, variant.

    Every block is real: built by ``Chain.build_candidate``, sealed by the engine (act, oracle
    step, K committed DQN steps), signed, and imported by an honest observer whose own fork
    choice decides the race; every adversary block is fully verified by an honest node.
    """
    cfg = cfg or AttackConfig()
    jobs = [(rule, alpha, la, cfg) for alpha in sorted(cfg.alphas, reverse=True)
            for la in (True, False) for rule in cfg.rules]  # the costliest first
    results = map_jobs(_attack_job, jobs, cfg.workers, progress)
    done = {(j[0], j[1], j[2]): r for j, r in zip(jobs, results, strict=True)}
    rows = [attack_row(done[(rule, alpha, la)][1], cfg) for alpha in cfg.alphas
            for rule in cfg.rules for la in (False, True)]
    summary: dict[str, Any] = {
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("workers", "keep_trials")},
        "fork_point": {rule: done[(rule, cfg.alphas[0], False)][0] for rule in cfg.rules},
        "rows": rows}
    if cfg.keep_trials:
        summary["trials"] = [asdict(t) for _, trials in results for t in trials]

    def plot(path: Path) -> None:
        plot_attack(path, summary)

    _write(out, "attack", summary, plot)
    return summary
