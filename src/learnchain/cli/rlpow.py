"""`learnchain rlpow …`: the rlpow experiments, one command each (in-process chains).

Every command writes ``<name>.json`` and ``<name>.png`` into ``experiments/out/rlpow/`` (or
``--out``; ``--publish`` writes the committed results under ``docs/experiments/rlpow/``),
prints a summary table and the files it wrote (``--json``: the summary as JSON).
``--small`` runs the quick version the test suite uses (minutes become seconds).
Light imports only (see learnchain/cli/common.py): the experiment module loads torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    JSON_OPTION,
    PUBLISH_OPTION,
    experiment_folder,
    experiment_progress,
    friendly_errors,
    report_experiment,
)
from learnchain.cli.rlpow_fraud import fraud_app

rlpow_app = typer.Typer(help="Proof of work as deep RL: experiments and fraud proofs.",
                        no_args_is_help=True)
experiment_app = typer.Typer(help="Run an rlpow experiment; writes JSON + PNG.",
                             no_args_is_help=True)
rlpow_app.add_typer(experiment_app, name="experiment")
rlpow_app.add_typer(fraud_app, name="fraud")

OUT_OPTION = typer.Option(None, "--out", help="Folder for the JSON and PNG files (default "
                          "experiments/out/rlpow).")
SMALL_OPTION = typer.Option(False, "--small", help="Quick version (as in the test suite).")
WORKERS_OPTION = typer.Option(2, help="Worker processes.")


def _report(name: str, summary: dict[str, Any], folder: Path, as_json: bool) -> None:
    shown = {k: v for k, v in summary.items() if k != "config"}
    report_experiment(f"rlpow experiment {name}", shown, folder, as_json)


@experiment_app.command("learning")
@friendly_errors
def learning(out: Path | None = OUT_OPTION, small: bool = SMALL_OPTION,
             workers: int = WORKERS_OPTION, publish: bool = PUBLISH_OPTION,
             as_json: bool = JSON_OPTION) -> None:
    """Heights until the canonical chain's policy solves CartPole, N ∈ {1, 2, 4, 8}."""
    from learnchain.sim import rlpow_experiments as ex

    folder = experiment_folder("rlpow", out, publish)
    cfg = ex.small_learning_config() if small else ex.LearningConfig(workers=workers)
    with experiment_progress("learning runs", as_json) as step:
        summary = ex.run_learning(folder, cfg, progress=step)
    _report("learning", summary, folder, as_json)


@experiment_app.command("tamper")
@friendly_errors
def tamper(out: Path | None = OUT_OPTION, small: bool = SMALL_OPTION,
           publish: bool = PUBLISH_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Mutate S, A or R of a stored block j; report where each check flags it."""
    from learnchain.sim import rlpow_experiments as ex

    folder = experiment_folder("rlpow", out, publish)
    cfg = ex.TamperConfig(blocks=12, positions=(1, 11)) if small else ex.TamperConfig()
    _report("tamper", ex.run_tamper(folder, cfg), folder, as_json)


@experiment_app.command("attack")
@friendly_errors
def attack(out: Path | None = OUT_OPTION, small: bool = SMALL_OPTION,
           workers: int = WORKERS_OPTION, publish: bool = PUBLISH_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """Private forks by a share α ∈ {0.1, 0.3, 0.5}, with and without one-step lookahead."""
    from learnchain.sim import rlpow_attack

    folder = experiment_folder("rlpow", out, publish)
    cfg = rlpow_attack.small_attack_config() if small else rlpow_attack.AttackConfig(
        workers=workers)
    with experiment_progress("attack races", as_json) as step:
        summary = rlpow_attack.run_attack(folder, cfg, progress=step)
    _report("attack", summary, folder, as_json)


@experiment_app.command("verify-cost")
@friendly_errors
def verify_cost(out: Path | None = OUT_OPTION, small: bool = SMALL_OPTION,
                publish: bool = PUBLISH_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Verifier time / proposer time per block for s ∈ {1, K}."""
    from learnchain.sim import rlpow_experiments as ex

    folder = experiment_folder("rlpow", out, publish)
    cfg = (ex.VerifyCostConfig(Ks=(8,), blocks=3, warmup=4) if small
           else ex.VerifyCostConfig())
    _report("verify-cost", ex.run_verify_cost(folder, cfg), folder, as_json)


@experiment_app.command("dqn-quality")
@friendly_errors
def dqn_quality(out: Path | None = OUT_OPTION, small: bool = SMALL_OPTION,
                publish: bool = PUBLISH_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Our DQN against Stable-Baselines3 DQN: env steps/s and return reached."""
    from learnchain.sim import rlpow_experiments as ex

    folder = experiment_folder("rlpow", out, publish)
    summary = (ex.run_dqn_quality(folder, steps=600, solve_seeds=0) if small
               else ex.run_dqn_quality(folder))
    _report("dqn-quality", summary, folder, as_json)


@rlpow_app.command("devnet")
@friendly_errors
def devnet(nodes: int = typer.Option(4, help="Number of nodes."),
           blocks: int = typer.Option(8000, help="Most blocks to produce."),
           env: str = typer.Option("CartPole-v1", help="Oracle environment."),
           k: int | None = typer.Option(None, "--k", help="Gradient steps per block (the work "
                                        "knob; default: the devnet preset's K)."),
           out: Path | None = OUT_OPTION, publish: bool = PUBLISH_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """N in-process nodes over the simulated network learn on chain; prints S/A/R progress."""
    from learnchain.cli.common import err_console
    from learnchain.sim import rlpow_experiments as ex

    folder = experiment_folder("rlpow", out, publish)
    cfg = ex.DevnetConfig(nodes=nodes, blocks=blocks, env=env,
                          params={"K": ex.DEVNET_RLPOW_PARAMS["K"] if k is None else k})
    summary = ex.run_devnet(folder, cfg,
                            log=None if as_json else lambda line: err_console.print(
                                line, highlight=False))
    _report("devnet", {k: v for k, v in summary.items() if k != "evals"}, folder, as_json)
