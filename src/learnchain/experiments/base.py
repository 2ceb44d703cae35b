"""The interface every registered experiment shares: a spec in, an outcome out."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPRODUCED, DIFFERS, INCONCLUSIVE = "reproduced", "differs", "inconclusive"
"""Verdicts. ``inconclusive`` is only used where a quick size is too small to decide (the
full size decides); it is never a way to hide a difference."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunSpec:
    """What a run is asked to do; recorded in the results so a run can be repeated."""

    quick: bool
    out: Path
    workers: int = 2
    ray: str | None = None
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def record(self) -> dict[str, Any]:
        return {"quick": self.quick, "workers": self.workers, "ray": self.ray,
                "out": str(self.out)}


@dataclass(frozen=True)
class Claim:
    """A published statement of a source paper, the measured value, and the verdict."""

    source: str
    published: str
    measured: str
    verdict: str
    why: str = ""


def verdict(holds: bool, why_not: str, why: str = "") -> tuple[str, str]:
    """(verdict, why) for a yes/no check."""
    return (REPRODUCED, why) if holds else (DIFFERS, why_not)


def sized_verdict(holds: bool, quick: bool, why_not: str, quick_why: str) -> tuple[str, str]:
    """Like :func:`verdict`, but a failed check at the quick size is ``inconclusive`` (with
    ``quick_why`` saying why the budget cannot decide); the measured value is still shown."""
    if holds:
        return REPRODUCED, ""
    return (INCONCLUSIVE, quick_why) if quick else (DIFFERS, why_not)


@dataclass
class Outcome:
    """What an experiment returns: plain data (``results``), its plots, seeds and claims."""

    results: dict[str, Any]
    claims: list[Claim]
    seeds: list[int]
    config: dict[str, Any]
    plots: list[str] = field(default_factory=list)
    highlights: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "seeds": self.seeds, "highlights": self.highlights,
                "claims": [asdict(c) for c in self.claims], "plots": self.plots,
                "results": self.results}


@dataclass(frozen=True)
class Experiment:
    """A registry entry. ``run`` is a thin adapter around the experiment's own function."""

    name: str
    title: str
    source: str
    module: str
    quick_size: str
    full_size: str
    run: Callable[[RunSpec], Outcome]


def mean_ci(values: list[float]) -> dict[str, float]:
    """Mean and a 95 % half-width (normal approximation with Student-t for small n)."""
    n = len(values)
    mean = statistics.fmean(values) if values else math.nan
    if n < 2:
        return {"mean": mean, "ci95": 0.0, "n": n}
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31,
         10: 2.26}.get(n, 1.96)
    return {"mean": mean, "ci95": t * statistics.stdev(values) / math.sqrt(n), "n": n}


def pyplot() -> Any:
    """matplotlib with the Agg backend, imported on use (never at CLI start-up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
