"""`learnchain devnet`: a local consortium of node processes on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from learnchain.cli.common import JSON_OPTION, console, emit_json, friendly_errors

devnet_app = typer.Typer(help="Local multi-node networks on loopback.", no_args_is_help=True)
DIR_OPTION = typer.Option(Path("devnet"), "--dir", help="Folder holding the devnet.")


def _table(root: Path) -> Table:
    from learnchain.devnet import disk_usage, format_bytes, load_devnet, node_info

    nodes = load_devnet(root)
    sizes = [disk_usage(n.datadir) for n in nodes]
    table = Table("node", "url", "height", "head", "peers", "tx/s", "mempool", "disk",
                  title=f"devnet {root} · {time.strftime('%H:%M:%S')} · "
                        f"{format_bytes(sum(sizes))} on disk")
    for node, size in zip(nodes, sizes, strict=True):
        info = node_info(node.url)
        if info is None:
            table.add_row(str(node.index), node.url, "[red]down[/]", "", "", "", "",
                          format_bytes(size))
            continue
        table.add_row(str(node.index), node.url, str(info["height"]), info["head"][:14] + "…",
                      str(len(info["peers"])), str(info["tx_per_s"]), str(info["mempool"]),
                      format_bytes(size))
    return table


@devnet_app.command("up")
@friendly_errors
def devnet_up(nodes: int = typer.Option(4, "--nodes", "-n", min=1, max=32,
                                        help="Number of node processes."),
              root: Path = DIR_OPTION,
              base_port: int = typer.Option(8700, help="API port of node 0; node i uses +i."),
              difficulty: int = typer.Option(16, help="pow: leading zero bits of block hashes."),
              block_interval_ms: int = typer.Option(2000, help="Minimum time between a node's "
                                                    "own blocks."),
              engine: str = typer.Option("pow", help="Consensus engine: pow, pole or rlpow."),
              env: str = typer.Option("CartPole-v1", help="rlpow oracle environment."),
              design: str | None = typer.Option(
                  None, help="rlpow only: 'lineage' (default: each proposer trains its own "
                  "learner) or 'uncles' (one shared learner; every node's candidate at a "
                  "height reaches it as an uncle of the next block, docs/consensus-rlpow.md "
                  "§8)."),
              detach: bool = typer.Option(False, help="Start and return, without the table."),
              force: bool = typer.Option(False, help="Replace an existing devnet in --dir "
                                         "(deletes its chains and keys)."),
              archive: bool = typer.Option(False, help="rlpow: keep every training blob on "
                                           "disk (archival; grows by GBs an hour). Default: "
                                           "prune, keeping what verification and sync need."),
              fast_kdf: bool = typer.Option(False, hidden=True, help="Weak keystore KDF, for "
                                            "tests only."),
              as_json: bool = JSON_OPTION) -> None:
    """Generate keys, genesis and configs for N nodes, start them, and watch them agree.

    Refuses to replace an existing devnet in --dir unless --force is given.
    """
    from learnchain.devnet import create_devnet, start_devnet

    created = create_devnet(root, nodes, base_port=base_port, difficulty=difficulty,
                            block_interval_ms=block_interval_ms, fast_kdf=fast_kdf,
                            engine=engine, env=env, force=force, archive_work=archive,
                            design=design)
    pids = start_devnet(root)
    if as_json:
        emit_json({"dir": str(root), "pids": pids,
                   "nodes": [{"index": n.index, "url": n.url, "datadir": str(n.datadir),
                              "address": n.address} for n in created]})
        return
    console.print(f"started {len(pids)} nodes under {root} (logs in nodeN/node.log); "
                  f"node 0 API {created[0].url}/docs; stop with `learnchain devnet down "
                  f"--dir {root}`")
    if detach:
        return
    try:
        with Live(_table(root), console=console, refresh_per_second=1) as live:
            while True:
                time.sleep(1)
                live.update(_table(root))
    except KeyboardInterrupt:
        console.print("left the table; the nodes keep running until `learnchain devnet down`")


@devnet_app.command("status")
@friendly_errors
def devnet_status(root: Path = DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """One snapshot of every node's head, peers and disk use."""
    from learnchain.devnet import disk_usage, load_devnet, node_info

    if as_json:
        emit_json([{"index": n.index, "url": n.url, "info": node_info(n.url),
                    "disk_bytes": disk_usage(n.datadir)} for n in load_devnet(root)])
    else:
        console.print(_table(root))


@devnet_app.command("start")
@friendly_errors
def devnet_start(root: Path = DIR_OPTION,
                 node: int = typer.Option(..., help="Index of the node to (re)start."),
                 as_json: bool = JSON_OPTION) -> None:
    """Restart one node of a devnet (e.g. after killing it)."""
    import json

    from learnchain.devnet import load_devnet, start_node

    target = next(n for n in load_devnet(root) if n.index == node)
    process = start_node(target)
    pids_path = root / "pids.json"
    pids = json.loads(pids_path.read_text()) if pids_path.exists() else {}
    pids[str(node)] = process.pid
    pids_path.write_text(json.dumps(pids))
    if as_json:
        emit_json({"node": node, "pid": process.pid})
    else:
        console.print(f"node {node} started (pid {process.pid})")


@devnet_app.command("down")
@friendly_errors
def devnet_down(root: Path = DIR_OPTION,
                purge: bool = typer.Option(False, help="Also delete the devnet's chains, keys "
                                           "and logs."),
                as_json: bool = JSON_OPTION) -> None:
    """Stop every node of the devnet (data is kept unless --purge)."""
    from learnchain.devnet import (
        disk_usage,
        format_bytes,
        load_devnet,
        remove_devnet_files,
        stop_devnet,
    )

    stopped = stop_devnet(root)
    freed = None
    if purge:
        load_devnet(root)  # a clear error if there is no devnet here
        freed = disk_usage(root)
        remove_devnet_files(root)
    if as_json:
        emit_json({"stopped": stopped, "purged": purge, "freed_bytes": freed})
    elif purge:
        console.print(f"stopped {stopped} node processes; deleted the devnet in {root} "
                      f"({format_bytes(freed or 0)})")
    else:
        console.print(f"stopped {stopped} node processes; data kept in {root} (delete it "
                      f"with `learnchain devnet down --purge`)")
