"""`learnchain keys`: create and inspect keystore files (light imports only, see common.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    PASSWORD_FILE_OPTION,
    console,
    emit_json,
    friendly_errors,
    load_key,
    read_password,
)

keys_app = typer.Typer(help="Create and inspect keystore files.", no_args_is_help=True)
KEYS_DIR_OPTION = typer.Option(Path("data/keys"), "--dir", help="Folder holding the keystores.")


@keys_app.command("new")
@friendly_errors
def keys_new(name: str = typer.Argument(..., help="File name (without .json)."),
             directory: Path = KEYS_DIR_OPTION,
             password_file: Path | None = PASSWORD_FILE_OPTION,
             as_json: bool = JSON_OPTION) -> None:
    """Generate a secp256k1 key and save it as an Ethereum (v3) keystore (mode 0600)."""
    from learnchain.core.crypto import PrivateKey, save_keystore, to_checksum_address

    path = directory / f"{name}.json"
    if path.exists():
        raise ValueError(f"{path} exists already; choose another name")
    key = PrivateKey.generate()
    save_keystore(key, path, read_password(password_file, confirm=True))
    if as_json:
        emit_json({"address": to_checksum_address(key.address), "path": str(path)})
    else:
        console.print(f"{to_checksum_address(key.address)}  {path}")


@keys_app.command("list")
@friendly_errors
def keys_list(directory: Path = KEYS_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Addresses of the keystores in a directory (no password needed)."""
    from learnchain.core.crypto import keystore_address, to_checksum_address

    rows = [(p.stem, to_checksum_address(keystore_address(p)), str(p))
            for p in sorted(directory.glob("*.json"))]
    if as_json:
        emit_json([{"name": n, "address": a, "path": p} for n, a, p in rows])
        return
    from rich.table import Table

    table = Table("name", "address", "file")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@keys_app.command("show")
@friendly_errors
def keys_show(key: str = typer.Argument(..., help="Keystore path or name in <datadir>/keys."),
              datadir: Path = DATADIR_OPTION,
              password_file: Path | None = PASSWORD_FILE_OPTION,
              as_json: bool = JSON_OPTION) -> None:
    """Decrypt a keystore to prove the password and print its address."""
    from learnchain.core.crypto import to_checksum_address

    private = load_key(key, datadir, password_file)
    out = {"address": to_checksum_address(private.address)}
    if as_json:
        emit_json(out)
    else:
        console.print(out["address"])
