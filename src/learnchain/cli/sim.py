"""`learnchain sim`: run simulated networks from scenario files."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from learnchain.cli.common import (
    JSON_OPTION,
    console,
    emit_json,
    experiment_progress,
    friendly_errors,
)

sim_app = typer.Typer(help="Simulated networks with a virtual clock.", no_args_is_help=True)


@sim_app.command("run")
@friendly_errors
def sim_run(scenario_file: Path = typer.Argument(..., help="Scenario TOML file."),
            out: Path = typer.Option(Path("experiments/out/sim"), help="Output folder "
                                     "(metrics.json and plots)."),
            blocks: int | None = typer.Option(None, "--blocks", min=1,
                                              help="Stop at this height instead of the "
                                              "scenario's `blocks` (a shorter run)."),
            as_json: bool = JSON_OPTION) -> None:
    """Run a scenario; write metrics.json and plots into --out."""
    from dataclasses import replace

    from learnchain.sim.scenario import Scenario, run_scenario, write_report

    scenario = Scenario.from_toml(scenario_file)
    if blocks is not None:
        scenario = replace(scenario, blocks=blocks)
    started = time.perf_counter()
    with experiment_progress(f"simulating {scenario.nodes} nodes: height", as_json) as step:
        network, metrics = run_scenario(scenario, progress=step)
    wall = time.perf_counter() - started
    files = write_report(metrics, network, out)
    if as_json:
        emit_json({**metrics.to_json(), "wall_s": round(wall, 2),
                   "files": [str(f) for f in files]})
        return
    from rich.table import Table

    table = Table("metric", "value", title=f"{scenario_file.name} · {wall:.1f} s wall")
    for key in ("nodes", "simulated_s", "canonical_height", "blocks_produced", "stale_rate",
                "converged", "reorgs", "reorg_depths", "propagation_to_all_ms",
                "propagation_per_node_ms", "tx_latency_ms"):
        table.add_row(key, str(getattr(metrics, key)))
    console.print(table)
    console.print(f"wrote {', '.join(str(f) for f in files)}")

