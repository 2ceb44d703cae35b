"""`make demo`: one governed-PoW node, real HTTP, sample transfers, a verified chain."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from learnchain.core.crypto import load_keystore, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.verify import verify_store
from learnchain.net.client import NodeClient
from learnchain.net.server import ApiServer
from learnchain.node import Node, open_chain
from learnchain.scaffold import DEV_PASSWORD, init_datadir


def run_demo(datadir: Path | None, *, blocks: int, difficulty: int, console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="learnchain-demo-") as tmp:
        where = Path(datadir) if datadir else Path(tmp)
        init = init_datadir(where, difficulty=difficulty, force=True)
        console.print(f"[bold]learnchain demo[/] · data in {where}")
        node_key = load_keystore(where / "keys/node.json", DEV_PASSWORD)
        alice = load_keystore(where / "keys/alice.json", DEV_PASSWORD)
        bob = load_keystore(where / "keys/bob.json", DEV_PASSWORD)
        chain = open_chain(where / "chain.sqlite", GenesisConfig.load(where / "genesis.json"))
        node = Node(chain, node_key)
        with ApiServer(node) as server:
            client = NodeClient(server.url)
            console.print(f"node API on {server.url}/docs · genesis "
                          f"0x{chain.genesis_block.hash.hex()[:16]}… · difficulty {difficulty}")
            sent = []
            with Progress(console=console) as progress:
                task = progress.add_task("mining", total=blocks)
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
            console.print(table)
            for name, key in (("node", node_key), ("alice", alice), ("bob", bob)):
                info = client.account(key.address)
                console.print(f"  {name:5} {to_checksum_address(key.address)} "
                              f"balance {info['balance']:>9} nonce {info['state_nonce']}")
            ok = sum(1 for r in included if r["receipt"]["success"])
            console.print(f"{ok}/{len(sent)} transfers included and succeeded "
                          f"(node key {to_checksum_address(init.node_address)[:14]}… mined "
                          f"{node.blocks_produced} blocks)")
        chain.store.close()
        report = verify_store(where / "chain.sqlite", GenesisConfig.load(where / "genesis.json"))
        console.print("[green]chain verify: clean[/]" if report.ok
                      else f"[red]chain verify failed at {report.first_bad_height}: "
                           f"{report.reason}[/]")
        if not report.ok:
            raise SystemExit(2)
