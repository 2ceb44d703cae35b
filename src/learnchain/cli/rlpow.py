"""`learnchain rlpow …`: the rlpow experiments, one command each (in-process chains).

Every command writes ``<name>.json`` and ``<name>.png`` into ``--out`` and prints the summary.
``--small`` runs the quick version the test suite uses (minutes become seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from learnchain.sim import rlpow_experiments as ex

rlpow_app = typer.Typer(help="Proof of work as deep RL: experiments for the rlpow engine.",
                        no_args_is_help=True)
experiment_app = typer.Typer(help="Run an rlpow experiment; writes JSON + PNG.",
                             no_args_is_help=True)
rlpow_app.add_typer(experiment_app, name="experiment")

OUT_OPTION = typer.Option(ex.DEFAULT_OUT, "--out", help="Folder for the JSON and PNG files.")
SMALL_OPTION = typer.Option(False, "--small", help="Quick version (as in the test suite).")


def _print(summary: dict[str, Any]) -> None:
    typer.echo(json.dumps(summary, indent=1, default=str))


@experiment_app.command("learning")
def learning(out: Path = OUT_OPTION, small: bool = SMALL_OPTION,
             workers: int = typer.Option(2, help="Worker processes.")) -> None:
    """Heights until the canonical chain's policy solves CartPole, N ∈ {1, 2, 4, 8}."""
    cfg = ex.small_learning_config() if small else ex.LearningConfig(workers=workers)
    _print(ex.run_learning(out, cfg))


@experiment_app.command("tamper")
def tamper(out: Path = OUT_OPTION, small: bool = SMALL_OPTION) -> None:
    """Mutate S, A or R of a stored block j; report where each check flags it."""
    cfg = ex.TamperConfig(blocks=12, positions=(1, 11)) if small else ex.TamperConfig()
    _print(ex.run_tamper(out, cfg))


@experiment_app.command("attack")
def attack(out: Path = OUT_OPTION, small: bool = SMALL_OPTION,
           workers: int = typer.Option(2, help="Worker processes.")) -> None:
    """Private forks by a share α ∈ {0.1, 0.3, 0.5}, with and without one-step lookahead."""
    cfg = ex.small_attack_config() if small else ex.AttackConfig(workers=workers)
    _print(ex.run_attack(out, cfg))


@experiment_app.command("verify-cost")
def verify_cost(out: Path = OUT_OPTION, small: bool = SMALL_OPTION) -> None:
    """Verifier time / proposer time per block for s ∈ {1, K}."""
    cfg = (ex.VerifyCostConfig(Ks=(8,), blocks=3, warmup=4) if small
           else ex.VerifyCostConfig())
    _print(ex.run_verify_cost(out, cfg))


@experiment_app.command("dqn-quality")
def dqn_quality(out: Path = OUT_OPTION, small: bool = SMALL_OPTION) -> None:
    """Our DQN against Stable-Baselines3 DQN: env steps/s and return reached."""
    if small:
        _print(ex.run_dqn_quality(out, steps=600, solve_seeds=0))
    else:
        _print(ex.run_dqn_quality(out))


@rlpow_app.command("devnet")
def devnet(nodes: int = typer.Option(4, help="Number of nodes."),
           blocks: int = typer.Option(8000, help="Most blocks to produce."),
           env: str = typer.Option("CartPole-v1", help="Oracle environment."),
           k: int = typer.Option(ex.DEVNET_RLPOW_PARAMS["K"], "--k",
                                 help="Gradient steps per block (the work knob)."),
           out: Path = OUT_OPTION) -> None:
    """N in-process nodes over the simulated network learn on chain; prints S/A/R progress."""
    cfg = ex.DevnetConfig(nodes=nodes, blocks=blocks, env=env, params={"K": k})
    summary = ex.run_devnet(out, cfg, log=typer.echo)
    _print({k: v for k, v in summary.items() if k != "evals"})
