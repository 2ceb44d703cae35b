"""Every experiment, registered in one place (name → :class:`Experiment`).

Adding an experiment: write a thin adapter ``run(spec) -> Outcome`` next to the others (it
imports the experiment module inside the function, so this registry stays light) and add one
``_add(...)`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from learnchain.experiments.base import Experiment, Outcome, RunSpec

EXPERIMENTS: dict[str, Experiment] = {}


def _lazy(path: str) -> Callable[[RunSpec], Outcome]:
    module, _, func = path.partition(":")

    def run(spec: RunSpec) -> Outcome:
        fn: Any = getattr(import_module(f"learnchain.experiments.{module}"), func)
        return fn(spec)

    run.__qualname__ = run.__name__ = func
    return run


def _add(name: str, title: str, source: str, module: str, adapter: str, quick: str,
         full: str) -> None:
    EXPERIMENTS[name] = Experiment(name, title, source, module, quick, full, _lazy(adapter))


_add("rlpow-learning", "Blocks until the chain's policy solves CartPole, per number of nodes",
     "000", "sim/rlpow_experiments.py", "rlpow:learning",
     "N ∈ {1, 2}, 1 seed, 240 blocks", "N ∈ {1, 2, 4, 8}, 5 seeds, 10,000 blocks, 2 modes")
_add("rlpow-multi", "Every node's work counts: uncles vs first design vs Ape-X, N = 1..8",
     "000", "sim/rlpow_multi.py", "rlpow:multi", "N ∈ {1, 2}, 1 seed, 120 blocks",
     "N ∈ {1, 2, 4, 8}, 10 seeds, 6,000 blocks, 3 designs")
_add("rlpow-tamper", "Tampering with S, A or R of a stored block", "000",
     "sim/rlpow_experiments.py", "rlpow:tamper", "12 blocks, j ∈ {1, 11}",
     "40 blocks, j ∈ {1, 10, 25, 39}")
_add("rlpow-attack", "Private forks by a share α of the proposers", "000",
     "sim/rlpow_attack.py", "rlpow:attack", "α ∈ {0.1, 0.5}, 40 trials",
     "α ∈ {0.1, 0.3, 0.5}, 500 trials")
_add("rlpow-verify-cost", "Verifier time / proposer time per block", "000",
     "sim/rlpow_experiments.py", "rlpow:verify_cost", "K = 8, 3 blocks", "K ∈ {8, 32}, 12 blocks")
_add("rlpow-dqn-quality", "Our DQN against Stable-Baselines3", "project",
     "sim/rlpow_experiments.py", "rlpow:dqn_quality", "600 env steps, no solve test",
     "20,000 env steps, 3 solve seeds")
_add("collab-good-bad", "Good vs bad agent under deposit, refund and take", "004",
     "apps/collab/experiments.py", "apps:good_bad", "5 days, seeds 0-2 (fanned out)",
     "14 days, seeds 0-4 (fanned out)")
_add("collab-market", "Prediction market with 3 good and 2 bad agents", "004",
     "apps/collab/experiments.py", "apps:collab_market", "full size (seconds)", "seed 0")
_add("crowd", "Mixed worker populations over many crowd tasks", "003",
     "apps/crowd/experiments.py", "apps:crowd", "8 tasks, seeds 7-9 (fanned out)",
     "30 tasks, seeds 7-11 (fanned out)")
_add("market", "Stackelberg compute market under scarcity and for miners", "001",
     "apps/market/experiments.py", "apps:market", "full size (seconds)", "both scenarios")
_add("pole-sml", "PoLe Secure Mapping Layer: honest, naive copy, re-mapping attack", "001",
     "apps/tasks/sml.py", "pole:sml", "logreg on Iris, w ∈ {8, 32}",
     "logreg and MLP (20 epochs), w ∈ {4, 8, 16, 32, 64}")
_add("pole-devnet", "PoLe on real node processes vs governed PoW under the same tasks", "001",
     "apps/tasks/devnet_run.py", "pole:devnet", "1 task per engine, short windows",
     "3 tasks per engine")
_add("calculus", "Whitepaper §9: every numeric claim through Figure 21", "002",
     "governance/reproduce.py", "governance:calculus", "best reading",
     "literal and best readings")
_add("calculus-sweep", "Folded mining-calculus model: published grid and sweeps", "002",
     "governance/experiments.py", "governance:calculus_sweep", "coarse sweeps", "fine sweeps")
_add("governance-engine", "Deep-RL governance engine vs classic controllers", "002",
     "governance/engine_experiments.py", "governance:governance_engine",
     "2 seeds, 600 training blocks, 60-block episodes",
     "10 seeds, 20,000 training blocks, 300-block episodes")


def resolve(names: list[str]) -> list[Experiment]:
    """Registry entries by name, in registry order; unknown names raise ``KeyError``."""
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise KeyError(f"unknown experiment(s) {', '.join(unknown)}; "
                       f"known: {', '.join(EXPERIMENTS)}")
    return [e for n, e in EXPERIMENTS.items() if n in names]
