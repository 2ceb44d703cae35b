"""What every CLI command shares: output for people or scripts, keys, and clean errors.

Start-up rule (tested by tests/unit/cli/test_cli_imports.py): this module and every
``learnchain.cli.*`` group module import only typer, rich and the standard library at top level.
Anything heavier (crypto, HTTP, the chain, torch, scipy, matplotlib, …) is imported inside the
function that needs it, so ``learnchain --help`` costs what a bare Typer app costs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from learnchain.core.crypto import PrivateKey

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

DATADIR_OPTION = typer.Option(Path("data"), "--datadir", "-d",
                              help="Node data directory (created by `learnchain init`).")
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
PASSWORD_FILE_OPTION = typer.Option(None, "--password-file",
                                    help="File holding the keystore password (default: "
                                         "$LEARNCHAIN_PASSWORD, then <datadir>/keys/password.txt "
                                         "for keys in the datadir, then a prompt).")
NODE_URL_OPTION = typer.Option(None, "--node", help="Node API URL (default: from node.toml).")


class CommandFailed(Exception):
    """A command that ran but whose outcome is a failure (e.g. a reverted transaction): the
    message is printed and the exit code is ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def friendly_errors(func: F) -> F:
    """Turn our errors into one red line and exit code 1 instead of a traceback."""
    from learnchain.core.errors import LearnchainError

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CommandFailed as exc:
            print_error(str(exc))
            raise typer.Exit(exc.code) from None
        except (LearnchainError, ValueError, FileNotFoundError, FileExistsError) as exc:
            print_error(str(exc))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_error(message: str) -> None:
    """One red line; the message is escaped so ``[api]`` in it is printed, not eaten as markup."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    from learnchain.net.jsonview import to_json

    sys.stdout.write(json.dumps(to_json(value), indent=2, default=str) + "\n")


def quiet_status(message: str, as_json: bool) -> Any:
    """A spinner for people; nothing when the output is JSON for a script."""
    return nullcontext() if as_json else console.status(message, spinner="dots")


def human_time(timestamp_ms: int) -> str:
    """UTC wall time and age, e.g. ``2026-11-30 16:25:41 UTC (3 min ago)``."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp_ms / 1000))
    age = time.time() - timestamp_ms / 1000
    if age < 0:
        return stamp
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if age >= seconds:
            return f"{stamp} ({int(age // seconds)} {unit} ago)"
    return f"{stamp} ({int(age)} s ago)"


def read_password(password_file: Path | None, *, confirm: bool = False) -> str:
    if password_file is not None:
        return password_file.read_text().strip()
    env = os.environ.get("LEARNCHAIN_PASSWORD")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise ValueError("no password: pass --password-file or set LEARNCHAIN_PASSWORD")
    return typer.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm)


def resolve_key_file(name_or_path: str, datadir: Path) -> Path:
    """A keystore path, or the name of a key in <datadir>/keys (e.g. `alice`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = datadir / "keys" / f"{name_or_path}.json"
    if candidate.exists():
        return candidate
    raise FileNotFoundError(f"no keystore {name_or_path!r} (looked for {path} and {candidate}); "
                            "list keys with `learnchain keys list`")


def resolve_address(name_or_address: str, datadir: Path) -> bytes:
    """A 0x address, or the name/path of a keystore whose address is read without a password.

    Accepted wherever the CLI asks for an address (``--to bob``, ``balance alice``)."""
    from learnchain.core.crypto import keystore_address, parse_address

    if name_or_address.startswith(("0x", "0X")):
        return parse_address(name_or_address)
    try:
        return keystore_address(resolve_key_file(name_or_address, datadir))
    except FileNotFoundError:
        raise ValueError(f"{name_or_address!r} is neither a 0x address nor a key name in "
                         f"{datadir / 'keys'}") from None


def load_key(name_or_path: str, datadir: Path, password_file: Path | None) -> PrivateKey:
    from learnchain.core.crypto import load_keystore

    path = resolve_key_file(name_or_path, datadir)
    if password_file is None and (datadir / "keys" / "password.txt").exists() \
            and "LEARNCHAIN_PASSWORD" not in os.environ and path.parent == datadir / "keys":
        password_file = datadir / "keys" / "password.txt"
    return load_keystore(path, read_password(password_file))


def node_url(datadir: Path, node: str | None) -> str:
    """``--node`` if given, else the API address in <datadir>/node.toml."""
    if node is not None:
        return node
    from learnchain.config import NodeConfig

    config = NodeConfig.load(datadir)
    return f"http://{config.api.host}:{config.api.port}"


# ----- experiments ----------------------------------------------------------------------

EXPERIMENTS_OUT = Path("experiments/out")
PUBLISHED = Path("docs/experiments")
PUBLISH_OPTION = typer.Option(False, "--publish",
                              help="Write into docs/experiments/ (the committed results) "
                                   "instead of experiments/out/. Only for a deliberate full run.")


def experiment_folder(group: str, out: Path | None, publish: bool) -> Path:
    """Where an experiment writes: ``--out``, else ``docs/experiments/<group>`` with
    ``--publish``, else ``experiments/out/<group>`` (gitignored). Nothing reaches docs/ by
    accident: ``--out`` pointing into docs/ also needs ``--publish``."""
    if out is not None:
        if not publish and PUBLISHED.resolve() in (out.resolve(), *out.resolve().parents):
            raise ValueError(f"{out} is under {PUBLISHED}/ (committed results); add --publish "
                             "if you really mean to replace them")
        return out
    if publish:
        return PUBLISHED if group == "collab" else PUBLISHED / group
    return EXPERIMENTS_OUT / group


@contextmanager
def experiment_progress(label: str, as_json: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar with a done/total fraction; yields ``step(done, total)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, disable=as_json,
                  transient=True) as progress:
        task = progress.add_task(label, total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield step


def report_experiment(title: str, summary: dict[str, Any], folder: Path,
                      as_json: bool) -> None:
    """JSON for scripts, or a two-column table plus the files written, for people."""
    files = sorted(str(p) for p in folder.glob("*") if p.is_file()) if folder.exists() else []
    if as_json:
        emit_json({**summary, "out": str(folder), "files": files})
        return
    from rich.table import Table

    table = Table("result", "value", title=title)
    for key, value in summary.items():
        text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        table.add_row(key, text if len(text) <= 120 else text[:117] + "…")
    console.print(table)
    console.print(f"wrote {len(files)} file(s) to {folder}/: "
                  + ", ".join(Path(f).name for f in files))
