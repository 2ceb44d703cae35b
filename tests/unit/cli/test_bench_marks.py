"""`make bench` marks each missed target (benchmarks/_mark_targets.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MARKER = Path(__file__).resolve().parents[3] / "benchmarks" / "_mark_targets.py"


def run(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(MARKER)], input=text, capture_output=True,
                          text=True, timeout=60)


def test_met_and_missed_targets_are_marked():
    out = run("import 1000 blocks\nratio a = 1.49 (target <= 2.0)\n"
              "ratio import / raw verify = 0.38 (target >= 0.5)\n")
    lines = out.stdout.splitlines()
    assert lines[0] == "import 1000 blocks"
    assert lines[1].endswith("met") and lines[2].endswith("<<< MISSED")
    assert out.returncode == 1 and "1 target(s) MISSED" in out.stdout


def test_all_met_exits_zero():
    assert run("x = 3.0 (target ≥ 2)\n").returncode == 0
