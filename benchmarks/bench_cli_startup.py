"""CLI start-up: `learnchain --help` and `learnchain keys list` against the `--help` of a bare
three-command Typer + rich app, all measured in this run as fresh processes (target ≤ 2.0).

Each command runs ROUNDS times interleaved with the baseline and the best (least disturbed)
wall time of each is compared, so a busy machine slows both sides alike. Both sides run with
compiled bytecode, as an installed CLI does: a private PYTHONPYCACHEPREFIX (filled by the
warm-up run) overrides PYTHONDONTWRITEBYTECODE, so nothing is written into the source tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 7
TARGET = 2.0

BARE_APP = '''
import typer
from rich.console import Console

app = typer.Typer(help="A bare three-command app.")
console = Console()


@app.command()
def alpha(count: int = typer.Option(1, help="How many.")) -> None:
    """First command."""
    console.print(count)


@app.command()
def beta(name: str = typer.Argument(..., help="A name.")) -> None:
    """Second command."""
    console.print(name)


@app.command()
def gamma(as_json: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """Third command."""
    console.print(as_json)


if __name__ == "__main__":
    app()
'''


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, timeout=120)
    return time.perf_counter() - start


def main() -> None:
    src = Path(__file__).resolve().parent.parent / "src"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COLUMNS": "100", "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pyc"),
               "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        keys = Path(tmp) / "keys"
        keys.mkdir()
        runs = {
            "bare Typer+rich app --help": [sys.executable, str(bare), "--help"],
            "learnchain --help": [sys.executable, "-m", "learnchain.cli.main", "--help"],
            "learnchain keys list": [sys.executable, "-m", "learnchain.cli.main", "keys", "list",
                                     "--dir", str(keys)],
        }
        for argv in runs.values():  # warm the page cache and .pyc files
            wall(argv, env)
        best = {name: float("inf") for name in runs}
        for _ in range(ROUNDS):
            for name, argv in runs.items():
                best[name] = min(best[name], wall(argv, env))
    base = best["bare Typer+rich app --help"]
    for name, seconds in best.items():
        print(f"{name}: {seconds * 1000:.0f} ms (best of {ROUNDS})")
    for name in ("learnchain --help", "learnchain keys list"):
        print(f"ratio {name} / bare --help = {best[name] / base:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
