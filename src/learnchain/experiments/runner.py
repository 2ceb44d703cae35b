"""Run registered experiments, time them, and write one report (JSON + markdown)."""

from __future__ import annotations

import json
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learnchain.experiments.base import Experiment, Progress, RunSpec
from learnchain.experiments.report import render

DEFAULT_OUT = Path("experiments/out/reproduction")


def run_one(exp: Experiment, spec: RunSpec) -> dict[str, Any]:
    """One experiment into ``spec.out``; a failure becomes an ``error`` entry, not a crash."""
    spec.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    entry: dict[str, Any] = {"name": exp.name, "title": exp.title, "source": exp.source,
                             "module": exp.module,
                             "size": exp.quick_size if spec.quick else exp.full_size,
                             "spec": spec.record()}
    try:
        outcome = exp.run(spec)
        entry.update(outcome.to_dict())
    except Exception as exc:  # one broken experiment must not lose the others' results
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()
    entry["wall_s"] = round(time.perf_counter() - t0, 2)
    (spec.out / "result.json").write_text(json.dumps(entry, indent=1, default=str) + "\n")
    return entry


def run_all(experiments: list[Experiment], out: Path, *, quick: bool, workers: int = 2,
            ray: str | None = None, report_path: Path | None = None,
            progress: Callable[[Experiment], Progress | None] | None = None,
            done: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run each experiment into ``out/<name>/``; write ``out/report.{json,md}`` (and the
    markdown also to ``report_path``, e.g. docs/reproduction.md with ``--publish``)."""
    t0 = time.perf_counter()
    entries = []
    for exp in experiments:
        spec = RunSpec(quick=quick, out=out / exp.name, workers=workers, ray=ray,
                       progress=progress(exp) if progress else None)
        entries.append(run_one(exp, spec))
        if done is not None:
            done(entries[-1])
    report = {"quick": quick, "workers": workers, "ray": ray,
              "machine": {"python": platform.python_version(), "cpus": _cpus()},
              "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "wall_s": round(time.perf_counter() - t0, 1), "experiments": entries}
    out.mkdir(parents=True, exist_ok=True)
    slim = {**report, "experiments": [{k: v for k, v in e.items() if k != "results"}
                                      for e in entries]}  # full results: <name>/result.json
    (out / "report.json").write_text(json.dumps(slim, indent=1, default=str) + "\n")
    (out / "report.md").write_text(render(report, out))
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(render(report, out, relative_to=report_path.parent))
    return report


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
