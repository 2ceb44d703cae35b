"""`learnchain finality`: see a chain split, and sign or submit the checkpoint that ends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    console,
    emit_json,
    friendly_errors,
    load_key,
)

finality_app = typer.Typer(help="Finality: chain splits past the bound and checkpoints.",
                           no_args_is_help=True)


def split_line(chain: Any) -> str | None:
    """One line for status output when this node has seen a split (None otherwise)."""
    return None if chain.split is None else chain.split.describe()


@finality_app.command("status")
@friendly_errors
def finality_status(datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The finality bound, the checkpoint in force and any split this node has recorded."""
    from learnchain.cli.chain import open_datadir_chain

    chain = open_datadir_chain(datadir)
    out = {"height": chain.height, "finality_bound": chain.genesis_config.max_reorg_depth,
           "checkpoint": None if chain.checkpoint is None else chain.checkpoint.to_json(),
           "split": None if chain.split is None else chain.split.to_json()}
    if as_json:
        emit_json(out)
        return
    console.print(f"height {chain.height} · finality bound "
                  f"{chain.genesis_config.max_reorg_depth} blocks")
    cp = out["checkpoint"]
    console.print("checkpoint: none" if cp is None
                  else f"checkpoint: height {cp['height']} block {cp['hash'][:18]}…")
    line = split_line(chain)
    console.print("[green]no split seen[/]" if line is None else f"[bold red]{line}[/]")


@finality_app.command("checkpoint")
@friendly_errors
def finality_checkpoint(
        datadir: Path = DATADIR_OPTION,
        key: str = typer.Option(..., "--key", help="The governance controller's keystore."),
        password_file: Path | None = typer.Option(None, "--password-file",
                                                  help="File holding the keystore password."),
        height: int | None = typer.Option(None, help="Checkpointed height (default: head)."),
        node: str | None = typer.Option(None, help="Node API to submit to (default: "
                                                   "this datadir's node); '-' only prints."),
        as_json: bool = JSON_OPTION) -> None:
    """Sign this node's block at HEIGHT as final and submit it (peers pass it on)."""
    import httpx

    from learnchain.cli.chain import open_datadir_chain
    from learnchain.config import NodeConfig
    from learnchain.core.finality import Checkpoint

    config = NodeConfig.load(datadir)
    chain = open_datadir_chain(datadir)
    at = chain.height if height is None else height
    block_hash = chain.store.canonical_hash(at)
    if block_hash is None:
        raise ValueError(f"this node has no block at height {at}")
    checkpoint = Checkpoint(chain.genesis_config.chain_id, at, block_hash).signed(
        load_key(key, datadir, password_file))
    chain.store.close()
    out: dict[str, Any] = {"checkpoint": checkpoint.to_json()}
    if node != "-":
        url = node or f"http://{config.api.host}:{config.api.port}"
        response = httpx.post(f"{url}/v1/finality/checkpoint", json=checkpoint.to_json(),
                              timeout=30)
        if response.status_code != 200:
            raise ValueError(f"{url} refused the checkpoint: {response.text[:300]}")
        out["node"] = response.json()
    if as_json:
        emit_json(out)
        return
    console.print(f"checkpoint height {at} block 0x{block_hash.hex()[:16]}… signed by "
                  "the controller" + ("" if node == "-" else " and submitted"))
