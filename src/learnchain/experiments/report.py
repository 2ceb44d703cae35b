"""The reproduction report as markdown: a summary table, then each experiment's claims."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from learnchain.experiments.base import DIFFERS, INCONCLUSIVE, REPRODUCED

MARK = {REPRODUCED: "✓ reproduced", DIFFERS: "✗ differs", INCONCLUSIVE: "? inconclusive"}


def cell(text: Any) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def overall(entry: dict[str, Any]) -> str:
    """One verdict per experiment: error, else differs if any claim differs, else
    inconclusive if any is, else reproduced."""
    if "error" in entry:
        return "error"
    verdicts = {c["verdict"] for c in entry.get("claims", [])}
    for v in (DIFFERS, INCONCLUSIVE):
        if v in verdicts:
            return v
    return REPRODUCED


def summary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for e in report["experiments"]:
        claims = e.get("claims", [])
        rows.append({"experiment": e["name"], "source": e["source"], "size": e["size"],
                     "seeds": e.get("seeds", []), "verdict": overall(e),
                     "claims_reproduced": sum(c["verdict"] == REPRODUCED for c in claims),
                     "claims": len(claims), "wall_s": e["wall_s"]})
    return rows


def summary_table(report: dict[str, Any]) -> str:
    lines = ["| experiment | source | size | seeds | verdict | claims reproduced | time (s) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary_rows(report):
        seeds = ", ".join(map(str, r["seeds"])) or "—"
        lines.append(f"| {r['experiment']} | {r['source']} | {cell(r['size'])} | {seeds} | "
                     f"{MARK.get(r['verdict'], r['verdict'])} | "
                     f"{r['claims_reproduced']}/{r['claims']} | {r['wall_s']:.1f} |")
    return "\n".join(lines) + "\n"


def render(report: dict[str, Any], out: Path, relative_to: Path | None = None) -> str:
    """The whole report; plot links are relative to ``relative_to`` (default ``out``)."""
    base = relative_to or out
    size = "quick (`--quick`, CI size)" if report["quick"] else "full"
    parts = [
        "# Reproduction report\n",
        f"Written by `learnchain reproduce` on {report['started']}: {size} runs, "
        f"{report['workers']} worker process(es)"
        + (f", Ray at `{report['ray']}`" if report["ray"] else "")
        + f", {report['machine']['cpus']} CPU(s), total {report['wall_s']:.0f} s. "
        "Sources are the papers in `../shared/seeds/` (000-004). Verdicts: ✓ the measured "
        "result agrees with the published claim; ✗ it differs (the reason is given); "
        "? the quick size is too small to decide (the full size decides).\n",
    ]
    if report["quick"]:
        parts.append("**All numbers below come from quick runs** (tiny budgets for CI); the "
                     "full-size results are in `docs/experiments/`.\n")
    parts += ["## Summary\n", summary_table(report)]
    for e in report["experiments"]:
        parts.append(f"## {e['name']}: {e['title']}\n")
        parts.append(f"Source {e['source']}; code `src/learnchain/{e['module']}`; size: "
                     f"{e['size']}; seeds: {e.get('seeds') or 'none (deterministic)'}; "
                     f"{e['wall_s']:.1f} s.\n")
        if "error" in e:
            parts.append(f"**Failed:** `{cell(e['error'])}`\n")
            continue
        lines = ["| published claim | source | measured | verdict | why |",
                 "| --- | --- | --- | --- | --- |"]
        for c in e["claims"]:
            lines.append(f"| {cell(c['published'])} | {cell(c['source'])} | "
                         f"{cell(c['measured'])} | {MARK[c['verdict']]} | {cell(c['why'])} |")
        parts.append("\n".join(lines) + "\n")
        for p in e.get("plots", []):
            rel = os.path.relpath(Path(p), base) if Path(p).exists() else p
            parts.append(f"![{e['name']}]({rel})\n")
    return "\n".join(parts)
