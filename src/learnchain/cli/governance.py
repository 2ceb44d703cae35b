"""`learnchain governance …`: the run-time governance engine (train, run live, experiment).

Light at import time: torch, gymnasium and the calculus are imported inside the commands.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from learnchain.cli.common import JSON_OPTION, console, emit_json, friendly_errors

governance_app = typer.Typer(help="Run-time governance engine: deep RL steering difficulty "
                                  "and miners of a governed-PoW chain.", no_args_is_help=True)

POLICIES = ("engine", "fixed", "bitcoin", "proportional")
DEFAULT_ENGINE = Path(__file__).resolve().parent.parent / "data" / "governance_engine.json"


@governance_app.command("train")
@friendly_errors
def train_cmd(out: Path = typer.Option(Path("experiments/out/governance/engine.json"), "--out",
                                       help="Where to write the trained engine (JSON)."),
              steps: int = typer.Option(20_000, help="Training blocks (environment steps)."),
              seed: int = typer.Option(0, help="Seed: the same seed gives the same engine."),
              as_json: bool = JSON_OPTION) -> None:
    """Train the DQN engine in the simulated network (Figure 20) and save it."""
    from rich.progress import Progress

    from learnchain.governance.engine import EngineConfig, train_engine
    from learnchain.governance.env import EnvConfig

    with Progress(console=console, disable=as_json) as bar:
        task = bar.add_task("training", total=steps)
        engine, log = train_engine(EnvConfig(), EngineConfig(train_steps=steps), seed,
                                   progress=lambda t: bar.update(task, completed=t))
    engine.save(out)
    result = {"out": str(out), "params_hash": engine.params_hash, "episodes": len(
        log.episode_returns), "grad_steps": log.grad_steps, "wall_s": round(log.wall_s, 2)}
    if as_json:
        emit_json(result)
    else:
        console.print(f"engine {engine.params_hash[:16]}… saved to {out} "
                      f"({result['episodes']} episodes, {log.wall_s:.0f} s)")


@governance_app.command("engine")
@friendly_errors
def engine_cmd(datadir: Path = typer.Option(Path("devnet"), "--datadir", "-d",
                                            help="Devnet folder (from `learnchain devnet up`)."),
               policy: str = typer.Option("engine", help=f"One of {', '.join(POLICIES)}."),
               engine_file: Path = typer.Option(DEFAULT_ENGINE, "--engine-file",
                                                help="Trained engine (JSON) for --policy engine."),
               target: float = typer.Option(4.0, help="Target (maximum) block time, seconds; "
                                                      "the engine aims at 0.8·target."),
               node: int = typer.Option(0, help="Index of the devnet node to talk to."),
               partners: int = typer.Option(3, help="Partners; node i belongs to i % partners."),
               state: Path = typer.Option(None, "--state", help="Checkpoint file (default "
                                          "<datadir>/governance/<policy>.json)."),
               decisions: int = typer.Option(0, help="Stop after this many decisions (0: run "
                                                     "until interrupted)."),
               duration: float = typer.Option(0.0, help="Stop after this many seconds (0: no "
                                                        "limit)."),
               s_min: int = typer.Option(1, help="Fewest miners the validator allows."),
               d_max: int = typer.Option(40, help="Highest difficulty the validator allows."),
               as_json: bool = JSON_OPTION) -> None:
    """Watch a governed-PoW devnet and govern it with signed consensus transactions."""
    from learnchain.core.crypto import load_keystore, parse_address
    from learnchain.devnet import load_devnet
    from learnchain.governance.baselines import make_baseline
    from learnchain.governance.live import LiveConfig, LiveEngine
    from learnchain.governance.validation import Bounds
    from learnchain.net.client import NodeClient

    if policy not in POLICIES:
        raise ValueError(f"--policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    nodes = load_devnet(datadir)
    chosen = next((n for n in nodes if n.index == node), None)
    if chosen is None:
        raise ValueError(f"the devnet has no node {node}")
    controller_dir = nodes[0].datadir / "keys"
    key = load_keystore(controller_dir / "node.json",
                        (controller_dir / "password.txt").read_text().strip())
    pool = [parse_address(n.address) for n in nodes]
    config = LiveConfig(target=target, bounds=Bounds(d_min=1, d_max=d_max, s_min=s_min,
                                                     s_max=len(nodes)),
                        pool=pool, partner_of={a: i % partners for i, a in enumerate(pool)})
    if policy == "engine":
        from learnchain.governance.engine import DQNEngine

        ctrl = DQNEngine.load(engine_file)
    else:
        ctrl = make_baseline(policy, config.robust_target)
    checkpoint = state or datadir / "governance" / f"{policy}.json"
    live = LiveEngine(NodeClient(chosen.url), key, ctrl, config, checkpoint)
    started = time.monotonic()
    first = live.state.decisions

    def done(engine: LiveEngine) -> bool:
        return bool((decisions and engine.state.decisions - first >= decisions)
                    or (duration and time.monotonic() - started >= duration))

    def show(record: dict[str, object]) -> None:
        if not as_json:
            tx = f" tx {str(record['tx'])[:14]}…" if "tx" in record else ""
            console.print(f"h={record['height']} t̄={record['smoothed_time']}s "
                          f"d={record['difficulty']} s={record['miners']} "
                          f"{record['proposed']}→{record['applied']}{tx}")

    try:
        final = live.run(until=done, on_decision=show)
    except KeyboardInterrupt:
        final = live.state
    summary = {"policy": policy, "decisions": final.decisions,
               "governance_txs": final.governance_txs, "invalid_actions": final.invalid_actions,
               "restarts": final.restarts, "checkpoint": str(checkpoint)}
    if as_json:
        emit_json(summary)
    else:
        console.print(f"{final.decisions} decisions, {final.governance_txs} governance txs, "
                      f"{final.invalid_actions} refused by validation; checkpoint {checkpoint}")


@governance_app.command("experiment")
@friendly_errors
def experiment_cmd(out: Path = typer.Option(Path("experiments/out/governance-engine"), "--out",
                                            help="Output folder (results.json, table, plots)."),
                   seeds: int = typer.Option(10, help="Seeds (one trained engine each)."),
                   train_steps: int = typer.Option(20_000, help="Training blocks per engine."),
                   horizon: int = typer.Option(300, help="Blocks per evaluation episode."),
                   shock_at: int = typer.Option(100, help="Block of the shock."),
                   quick: bool = typer.Option(False, "--quick",
                                              help="Tiny run for smoke tests."),
                   as_json: bool = JSON_OPTION) -> None:
    """Engine vs fixed / Bitcoin / proportional under load, failures, surge, partner growth."""
    from learnchain.governance.engine import EngineConfig
    from learnchain.governance.engine_experiments import ExperimentConfig, run_experiment

    if quick:
        seeds, train_steps, horizon, shock_at = 2, 600, 60, 20
    cfg = ExperimentConfig(seeds=seeds, horizon=horizon, shock_at=shock_at,
                           engine=EngineConfig(train_steps=train_steps,
                                               learning_starts=min(500, train_steps // 2)))
    results = run_experiment(cfg, out, progress=None if as_json else console.print)
    if as_json:
        emit_json({"summary": results["summary"], "files": results["files"]})
        return
    table = Table("scenario", "controller", "|t̄-rt| (s)", "p99 (s)", "recovery", "gov txs",
                  "top share", title=f"governance engine, {seeds} seeds (mean ± 95% CI)")
    for sc, by in results["summary"].items():
        for name, m in by.items():
            table.add_row(sc, name, *(f"{m[k]['mean']:.2f}±{m[k]['ci95']:.2f}" for k in (
                "window_err", "p99", "recovery", "gov_txs", "top_share")))
    console.print(table)
    console.print(f"files: {', '.join(results['files'])} and {out / 'results.json'}")


@governance_app.command("live-run")
@friendly_errors
def live_run_cmd(out: Path = typer.Option(Path("experiments/out/governance-live"), "--out",
                                          help="Output folder (devnet, JSON, plot)."),
                 policy: str = typer.Option("engine", help=f"One of {', '.join(POLICIES)}."),
                 engine_file: Path = typer.Option(DEFAULT_ENGINE, "--engine-file",
                                                  help="Trained engine checkpoint."),
                 duration: float = typer.Option(480.0, help="Seconds of governance."),
                 kill_at: float = typer.Option(240.0, help="Second at which node 2 is killed."),
                 target: float = typer.Option(2.5, help="Target block time, seconds."),
                 as_json: bool = JSON_OPTION) -> None:
    """A fresh 3-node devnet at a bad difficulty, governed by --policy; a node is killed."""
    from learnchain.governance.live_experiment import run_live

    if policy not in POLICIES:
        raise ValueError(f"--policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    res = run_live(out, policy, engine_file, duration=duration, kill_at=kill_at, target=target)
    summary = {k: v for k, v in res.items() if k != "trace"}
    if as_json:
        emit_json(summary)
    else:
        console.print(summary)
