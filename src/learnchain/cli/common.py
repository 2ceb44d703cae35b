"""What every CLI command shares: output for people or scripts, keys, and clean errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from learnchain.core.crypto import PrivateKey, load_keystore
from learnchain.core.errors import LearnchainError
from learnchain.net.jsonview import to_json

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

DATADIR_OPTION = typer.Option(Path("data"), "--datadir", "-d",
                              help="Node data directory (created by `learnchain init`).")
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")


def friendly_errors(func: F) -> F:
    """Turn our errors into one red line and exit code 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (LearnchainError, ValueError, FileNotFoundError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_json(value), indent=2) + "\n")


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
    if path.exists():
        return path
    candidate = datadir / "keys" / f"{name_or_path}.json"
    if candidate.exists():
        return candidate
    raise FileNotFoundError(f"no keystore {name_or_path!r} (looked for {path} and {candidate}); "
                            "list keys with `learnchain keys list`")


def load_key(name_or_path: str, datadir: Path, password_file: Path | None) -> PrivateKey:
    path = resolve_key_file(name_or_path, datadir)
    if password_file is None and (datadir / "keys" / "password.txt").exists() \
            and "LEARNCHAIN_PASSWORD" not in os.environ and path.parent == datadir / "keys":
        password_file = datadir / "keys" / "password.txt"
    return load_keystore(path, read_password(password_file))
