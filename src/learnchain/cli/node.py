"""`learnchain node`: run a node (light imports only; the runtime is imported on start)."""

from __future__ import annotations

from pathlib import Path

import typer

from learnchain.cli.common import DATADIR_OPTION, console, friendly_errors

node_app = typer.Typer(help="Run a node.", no_args_is_help=True)


@node_app.command("start")
@friendly_errors
def node_start(datadir: Path = DATADIR_OPTION,
               mine: bool | None = typer.Option(None, "--mine/--no-mine",
                                                help="Override \\[mining] enabled in node.toml."),
               port: int | None = typer.Option(None, "--port",
                                               help="Override \\[api] port in node.toml.")
               ) -> None:
    """Run a node: produce blocks, talk to peers, serve the API on loopback until Ctrl-C.

    Refuses to start when another process holds the datadir (its pid is named) or the API
    port is taken, before anything is opened.
    """
    import logging

    from learnchain.runtime import NodeRuntime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runtime = NodeRuntime(datadir, mine=mine, port=port)
    console.print(f"node at height {runtime.chain.height}, head "
                  f"0x{runtime.chain.head_hash.hex()[:16]}…; API {runtime.url}/docs")
    runtime.serve()
