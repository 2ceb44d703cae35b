"""`make demo`: one governed-PoW node, real HTTP, sample transfers, a verified chain."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from learnchain.core.crypto import load_keystore, to_checksum_address
from learnchain.core.errors import ConfigError
from learnchain.core.genesis import GenesisConfig
from learnchain.core.verify import verify_store
from learnchain.net.client import NodeClient
from learnchain.net.server import ApiServer
from learnchain.node import Node, open_chain
from learnchain.scaffold import DEV_PASSWORD, init_datadir


def run_demo(datadir: Path | None, *, blocks: int, difficulty: int,
             console: Console | None, force: bool = False) -> dict[str, Any]:
    """Run the demo; print to ``console`` (None: print nothing) and return a summary."""
    if datadir is not None and (Path(datadir) / "node.toml").exists() and not force:
        raise ConfigError(f"{datadir} already holds a chain; the demo would replace it and its "
                          "keys: pass --force, or choose another --datadir")
    quiet = console is None
    out = console or Console(quiet=True)
    with tempfile.TemporaryDirectory(prefix="learnchain-demo-") as tmp:
        where = Path(datadir) if datadir else Path(tmp)
        init = init_datadir(where, difficulty=difficulty, force=True)
        out.print(f"[bold]learnchain demo[/] · data in {where}")
        node_key = load_keystore(where / "keys/node.json", DEV_PASSWORD)
        alice = load_keystore(where / "keys/alice.json", DEV_PASSWORD)
        bob = load_keystore(where / "keys/bob.json", DEV_PASSWORD)
        chain = open_chain(where / "chain.sqlite", GenesisConfig.load(where / "genesis.json"))
        node = Node(chain, node_key)
        summary: dict[str, Any] = {"datadir": str(where) if datadir else None,
                                   "difficulty": difficulty}
        with ApiServer(node) as server:
            client = NodeClient(server.url)
            out.print(f"node API on {server.url}/docs · genesis "
                      f"0x{chain.genesis_block.hash.hex()[:16]}… · difficulty {difficulty}")
            sent = []
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=out, disable=quiet) as progress:
                task = progress.add_task("mining blocks", total=blocks)
                for i in range(blocks):
                    payer, payee = (alice, bob) if i % 2 == 0 else (bob, alice)
                    for amount in (100 + i, 7):
                        sent.append(client.send(payer, "bank", "transfer",
                                                {"to": payee.address, "amount": amount}))
                    node.produce_block()
                    progress.advance(task)
            included = [client.wait_for(tx.hash, timeout=5) for tx in sent]
            table = Table("height", "hash", "txs", "proposer", "difficulty",
                          title=f"chain summary · height {chain.height}")
            for block in chain.canonical_blocks(0, chain.height):
                h = block.header
                table.add_row(str(h.height), "0x" + h.hash.hex()[:16] + "…",
                              str(len(block.transactions)), to_checksum_address(h.proposer)[:14],
                              str(h.engine_fields.get("difficulty", "-")))
            out.print(table)
            accounts = {}
            for name, key in (("node", node_key), ("alice", alice), ("bob", bob)):
                info = client.account(key.address)
                accounts[name] = {"address": to_checksum_address(key.address),
                                  "balance": info["balance"], "nonce": info["state_nonce"]}
                out.print(f"  {name:5} {accounts[name]['address']} "
                          f"balance {info['balance']:>9} nonce {info['state_nonce']}")
            ok = sum(1 for r in included if r["receipt"]["success"])
            out.print(f"{ok}/{len(sent)} transfers included and succeeded "
                      f"(node key {to_checksum_address(init.node_address)[:14]}… mined "
                      f"{node.blocks_produced} blocks)")
            summary.update(height=chain.height, blocks_mined=node.blocks_produced,
                           transfers_sent=len(sent), transfers_succeeded=ok,
                           accounts=accounts, head="0x" + chain.head_hash.hex())
        chain.store.close()
        report = verify_store(where / "chain.sqlite", GenesisConfig.load(where / "genesis.json"))
        out.print("[green]chain verify: clean[/]" if report.ok
                  else f"[red]chain verify failed at {report.first_bad_height}: "
                       f"{report.reason}[/]")
        summary.update(verified=report.ok, first_bad_height=report.first_bad_height)
        return summary
