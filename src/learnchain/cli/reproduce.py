"""`learnchain reproduce [NAME…|--all] [--quick]`: run registered experiments, write one report.

Experiments come from ``learnchain.experiments.registry`` (light: adapters import the heavy
experiment modules on use). Results go to ``experiments/out/reproduction/<name>/`` (or
``--out``) with ``report.md`` / ``report.json`` next to them; ``--publish`` also writes
``docs/reproduction.md``. ``--workers`` sets the local process fan-out of multi-seed runs;
``--ray ADDRESS`` sends it to a Ray cluster instead (optional extra ``learnchain[ray]``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    JSON_OPTION,
    CommandFailed,
    console,
    emit_json,
    err_console,
    friendly_errors,
)

PUBLISHED_REPORT = Path("docs/reproduction.md")
PUBLISHED_OUT = Path("docs/experiments/reproduction")


@friendly_errors
def reproduce_command(
    names: list[str] | None = typer.Argument(None, help="Experiments to run (see --list)."),
    run_all: bool = typer.Option(False, "--all", help="Run every registered experiment."),
    quick: bool = typer.Option(False, "--quick", help="CI size: tiny budgets, minutes total."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default "
                                    "experiments/out/reproduction)."),
    workers: int = typer.Option(2, "--workers", min=1,
                                help="Local worker processes for multi-seed runs and sweeps."),
    ray: str | None = typer.Option(None, "--ray", help="Fan out over this Ray cluster "
                                   "('local' starts one) instead of local processes."),
    publish: bool = typer.Option(False, "--publish", help="Also write docs/reproduction.md "
                                 "(and the run's files under docs/experiments/reproduction/)."),
    list_only: bool = typer.Option(False, "--list", help="List the registry and exit."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run experiments (config in; JSON, PNG plots and a markdown table out) and report each
    source paper's published claim next to the measured result with a verdict."""
    from learnchain.experiments.registry import EXPERIMENTS, resolve

    if list_only:
        rows = [{"name": e.name, "title": e.title, "source": e.source, "quick": e.quick_size,
                 "full": e.full_size} for e in EXPERIMENTS.values()]
        if as_json:
            emit_json(rows)
            return
        from rich.table import Table

        table = Table("name", "source", "title", "quick size", title="registered experiments")
        for r in rows:
            table.add_row(r["name"], r["source"], r["title"], r["quick"])
        console.print(table)
        return
    if run_all == bool(names):
        raise CommandFailed("name experiments or pass --all (not both); --list shows them",
                            code=2)
    try:
        chosen = list(EXPERIMENTS.values()) if run_all else resolve(list(names or []))
    except KeyError as exc:
        raise CommandFailed(str(exc.args[0]), code=2) from None
    _run(chosen, quick, out, workers, ray, publish, as_json)


def _run(chosen: list[Any], quick: bool, out: Path | None, workers: int, ray: str | None,
         publish: bool, as_json: bool) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from learnchain.experiments.report import overall, summary_rows
    from learnchain.experiments.runner import DEFAULT_OUT, run_all

    folder = out or (PUBLISHED_OUT if publish else DEFAULT_OUT)
    if ray is not None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise CommandFailed("--ray needs the optional extra: pip install 'learnchain[ray]'")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, disable=as_json) as bar:
        overall_task = bar.add_task("experiments", total=len(chosen))

        tasks: dict[str, Any] = {}

        def progress(exp: Any) -> Callable[[int, int], None]:
            task = tasks[exp.name] = bar.add_task(f"  {exp.name}", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)
            return step

        def done(entry: dict[str, Any]) -> None:
            bar.update(tasks[entry["name"]], total=1, completed=1)  # also runs without steps
            bar.advance(overall_task)
            if not as_json:
                err_console.print(f"{entry['name']}: {overall(entry)} ({entry['wall_s']:.1f} s)"
                                  + (f" — {entry['error']}" if "error" in entry else ""))

        report = run_all(chosen, folder, quick=quick, workers=workers, ray=ray,
                         report_path=PUBLISHED_REPORT if publish else None,
                         progress=progress, done=done)
    rows = summary_rows(report)
    if as_json:
        emit_json({"out": str(folder), "report": str(folder / "report.md"),
                   "wall_s": report["wall_s"], "summary": rows,
                   "experiments": [{k: v for k, v in e.items() if k != "results"}
                                   for e in report["experiments"]]})
    else:
        from rich.table import Table

        table = Table("experiment", "source", "verdict", "claims", "time (s)",
                      title=f"reproduction ({'quick' if quick else 'full'})")
        for r in rows:
            table.add_row(r["experiment"], r["source"], r["verdict"],
                          f"{r['claims_reproduced']}/{r['claims']}", f"{r['wall_s']:.1f}")
        console.print(table)
        console.print(f"report: {folder / 'report.md'}"
                      + (f" and {PUBLISHED_REPORT}" if publish else ""))
    if any("error" in e for e in report["experiments"]):
        raise typer.Exit(1)
