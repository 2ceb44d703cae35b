"""Filter for `make bench`: copy a benchmark's output and mark every `= X … (target OP Y)`
line as met or MISSED; exit 1 at the end of input if any target was missed.

Usage: python benchmarks/bench_x.py | python benchmarks/_mark_targets.py
"""

from __future__ import annotations

import operator
import re
import sys

PATTERN = re.compile(r"=\s*([-+]?\d+(?:\.\d+)?)\b.*\(target\s*(<=|>=|≤|≥|<|>)\s*"
                     r"([-+]?\d+(?:\.\d+)?)")
OPS = {"<=": operator.le, "≤": operator.le, ">=": operator.ge, "≥": operator.ge,
       "<": operator.lt, ">": operator.gt}


def mark(line: str) -> tuple[str, bool | None]:
    """The line with a verdict appended, and whether its target was met (None: no target)."""
    found = PATTERN.search(line)
    if found is None:
        return line, None
    value, op, target = float(found[1]), found[2], float(found[3])
    met = OPS[op](value, target)
    return f"{line}  {'met' if met else '<<< MISSED'}", met


def main() -> int:
    missed = 0
    for raw in sys.stdin:
        line, met = mark(raw.rstrip("\n"))
        print(line, flush=True)
        missed += met is False
    if missed:
        print(f"{missed} target(s) MISSED")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
