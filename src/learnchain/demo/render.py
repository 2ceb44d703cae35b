"""The day in a terminal: one rich progress bar per step, then the summary table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from learnchain.demo.day import TICKS, TITLES

STATUS_STYLE = {"ok": "[green]ok[/]", "failed": "[red]FAILED[/]",
                "skipped": "[yellow]skipped[/]"}


class DayProgress:
    """Receives the day's events (`run_day(on_event=...)`) and draws them."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(TextColumn("{task.fields[label]:<24}"), BarColumn(bar_width=24),
                                 TimeElapsedColumn(), TextColumn("{task.description}"),
                                 console=console)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> DayProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def _task(self, step: str) -> TaskID:
        if step not in self.tasks:
            label = f"({step}) {TITLES[step]}" if step in TITLES else step
            self.tasks[step] = self.progress.add_task("", total=TICKS.get(step, 1), label=label)
        return self.tasks[step]

    def __call__(self, kind: str, step: str, text: str) -> None:
        task = self._task(step)
        if kind == "say":
            self.progress.update(task, description=text[:90])
        elif kind == "tick":
            self.progress.advance(task)
        elif kind == "done":
            total = self.progress.tasks[self.tasks[step]].total
            self.progress.update(task, completed=total,
                                 description=STATUS_STYLE.get(text, text[:90]))


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"learnchain day · engine {summary['engine']} · {summary['nodes']} "
                        f"nodes · {summary['profile']} · {summary['seconds']:.0f} s",
                  show_lines=True)
    table.add_column("step", no_wrap=True)
    table.add_column("what happened on chain", ratio=3)
    table.add_column("txs / heights", ratio=1)
    table.add_column("result", no_wrap=True)
    for r in summary["steps"]:
        txs = "\n".join(t[:12] + "…" for t in r["txs"][:3])
        heights = ", ".join(str(h) for h in r["heights"][:4])
        evidence = "\n".join(x for x in (txs, f"heights {heights}" if heights else "") if x)
        table.add_row(f"({r['step']}) {TITLES[r['step']]}", r["what"], evidence or "-",
                      f"{STATUS_STYLE[r['status']]}\n{r['seconds']:.0f} s")
    return table


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    console.print(summary_table(summary))
    failed = [r["step"] for r in summary["steps"] if r["status"] == "failed"]
    shutdown = ("every node and worker process stopped" if summary["clean_shutdown"]
                else "[red]some processes were still running after shutdown[/]")
    verdict = ("[green]every step succeeded[/]" if summary["ok"]
               else f"[red]failed steps: {', '.join(failed) or 'missing'}[/]")
    console.print(f"{verdict} · {shutdown}")
