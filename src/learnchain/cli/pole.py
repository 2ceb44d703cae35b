"""`learnchain pole …`: proof-of-learning experiments (SML, devnet) and task inspection.

Heavy libraries (scikit-learn, PyTorch, matplotlib) load inside the commands that need them, so
`learnchain --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from learnchain.cli.common import JSON_OPTION, console, emit_json, err_console, friendly_errors

pole_app = typer.Typer(help="Proof of learning: training tasks, SML and devnet experiments.",
                       no_args_is_help=True)
experiment_app = typer.Typer(help="PoLe experiments (outputs under experiments/out/pole).",
                             no_args_is_help=True)
pole_app.add_typer(experiment_app, name="experiment")

NODE_OPTION = typer.Option("http://127.0.0.1:8645", "--node", help="Node HTTP API URL.")


@pole_app.command()
@friendly_errors
def task(task_id: int = typer.Argument(..., help="Task id."), node: str = NODE_OPTION,
         as_json: bool = JSON_OPTION) -> None:
    """One training task as the chain holds it (status, candidates, winner)."""
    from learnchain.net.client import NodeClient

    found = NodeClient(node).query("tasks", "task", {"task": task_id})
    if as_json:
        emit_json(found)
        return
    console.print(f"task {task_id}: {found['status']} (model {found['model']}, "
                  f"threshold {found['threshold_ppm']} ppm, reward {found['reward']})")
    for r in found.get("reveals", []):
        console.print(f"  {r['address']}: train {r['train_ppm']} ppm, test {r['test_ppm']} ppm")


@experiment_app.command("sml")
@friendly_errors
def sml_cmd(widths: str = typer.Option("4,8,16,32,64", "--widths", help="SML widths."),
            kinds: str = typer.Option("logreg,mlp", "--models", help="logreg and/or mlp."),
            out: Path = typer.Option(Path("experiments/out/pole/sml"), "--out",
                                    help="Output folder."),
            as_json: bool = JSON_OPTION) -> None:
    """Honest, naive-copy and adaptive re-mapping accuracy per Secure Mapping Layer width."""
    from learnchain.apps.tasks import sml

    with console.status("training behind each mapping"):
        rows = sml.run(tuple(k.strip() for k in kinds.split(",") if k.strip()),
                       tuple(int(w) for w in widths.split(",") if w.strip()), out)
    if as_json:
        emit_json({"out": str(out), "rows": sml.summary(rows)})
        return
    table = Table(title="Secure Mapping Layer: test accuracy (ppm)")
    for column in ("model", "width", "honest", "naive copy", "re-mapped", "fresh at thief"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.kind, str(r.width), str(r.honest_ppm), str(r.copy_ppm),
                      str(r.remap_ppm), str(r.fresh_b_ppm))
    console.print(table)
    err_console.print(f"wrote {out / 'sml.json'} and {out / 'sml.png'}")


@experiment_app.command("devnet")
@friendly_errors
def devnet_cmd(tasks: int = typer.Option(3, "--tasks", help="Training tasks to publish."),
               nodes: int = typer.Option(3, "--nodes", help="Node processes."),
               compare_pow: bool = typer.Option(True, "--compare-pow/--no-compare-pow",
                                                help="Also run the same tasks on a "
                                                     "governed-PoW devnet."),
               difficulty: int = typer.Option(10, "--difficulty", min=1, max=40,
                                              help="PoW difficulty (leading zero bits) of "
                                                   "both devnets: PoLe's fallback blocks and "
                                                   "governed PoW. Raise it (e.g. 22) until the "
                                                   "search, not the timer, sets block times."),
               interval_ms: int = typer.Option(1000, "--interval-ms", min=100,
                                               help="Minimum block interval of both devnets."),
               out: Path = typer.Option(Path("experiments/out/pole/devnet"), "--out",
                                help="Output folder."),
               as_json: bool = JSON_OPTION) -> None:
    """Real node processes (engine = "pole"): nodes pick the richest task, winners, copy
    attacks, block-time CV against governed PoW under the same tasks, useful-work share."""
    import tempfile

    from learnchain.apps.tasks import devnet_run

    results: dict[str, Any] = {}
    for engine in ("pole", "pow") if compare_pow else ("pole",):
        with tempfile.TemporaryDirectory() as tmp:
            results[engine] = devnet_run.run(Path(tmp), nodes=nodes, tasks=tasks, engine=engine,
                                             difficulty=difficulty,
                                             block_interval_ms=interval_ms,
                                             progress=err_console.print)
        devnet_run.write(results[engine], out)
    problems = devnet_run.check(results["pole"])
    if as_json:
        emit_json({"out": str(out), "results": results, "problems": problems})
        return
    table = Table(title="PoLe devnet")
    for column in ("engine", "blocks", "PoLe blocks", "block-time CV", "CV without stalls",
                   "useful-work share"):
        table.add_column(column)
    for engine, r in results.items():
        table.add_row(engine, str(r["blocks"]), str(r["pole_blocks"]),
                      f"{r['block_time_cv']:.3f}", f"{r['block_time_cv_without_stalls']:.3f}",
                      f"{r['useful_work_share']:.3f}")
    console.print(table)
    for o in results["pole"]["tasks"]:
        console.print(f"task {o['task']}: {o['settled_by']} winner {o['winner']} "
                      f"test {o['winner_test_ppm']} ppm; copy rejected: {o['copy_rejected']}")
    console.print("all checks hold" if not problems else "problems: " + "; ".join(problems))
