"""Sync: blocks/s a fresh node imports from a peer over loopback HTTP vs from a local file.

The serving node runs as its own process (`learnchain node start --no-mine`) on a prepared
chain; the fresh node runs here, talks HTTP to it, and is timed until it reaches the same head.
The baseline imports the same blocks, read from a file, into another fresh node. Target >= 0.5.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.devnet import create_devnet, load_devnet, node_info
from learnchain.net.http_transport import HttpTransport, mount_p2p
from learnchain.net.p2p import P2PNode
from learnchain.net.server import ApiServer, free_port, free_port_range
from learnchain.node import Node, open_chain
from learnchain.scaffold import DEV_PASSWORD

BLOCKS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TXS_PER_BLOCK = 5


def build_chain(root: Path) -> tuple[GenesisConfig, list[bytes], str]:
    node = load_devnet(root)[0]
    genesis = GenesisConfig.load(root / "genesis.json")
    from learnchain.core.crypto import load_keystore

    key = load_keystore(node.datadir / "keys" / "node.json", DEV_PASSWORD)
    alice = load_keystore(root / "keys" / "alice.json", DEV_PASSWORD)
    ms = [genesis.timestamp_ms]
    chain = open_chain(node.datadir / "chain.sqlite", genesis, clock=lambda: ms[0])
    producer = Node(chain, key)
    from learnchain.core.types import Transaction

    nonce = 0
    for _ in range(BLOCKS):
        for _ in range(TXS_PER_BLOCK):
            producer.submit(Transaction(genesis.chain_id, alice.address, nonce, "bank",
                                        "transfer", {"to": key.address, "amount": 1}
                                        ).signed(alice))
            nonce += 1
        ms[0] += 10
        producer.produce_block()
    encoded = [b.encoded for b in chain.canonical_blocks(1, chain.height)]
    chain.store.close()
    return genesis, encoded, node.url


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        create_devnet(root, 2, base_port=free_port_range(2), difficulty=0, fast_kdf=True)
        genesis, encoded, url = build_chain(root)
        blockfile = root / "blocks.bin"
        blockfile.write_bytes(b"".join(len(b).to_bytes(4, "big") + b for b in encoded))

        baseline = open_chain(":memory:", genesis, clock=lambda: 2**62)
        started = time.perf_counter()
        data = blockfile.read_bytes()
        offset = 0
        while offset < len(data):
            size = int.from_bytes(data[offset:offset + 4], "big")
            baseline.add_block(Block.decode(data[offset + 4:offset + 4 + size]))
            offset += 4 + size
        file_s = time.perf_counter() - started
        assert baseline.height == BLOCKS

        server = subprocess.Popen([sys.executable, "-m", "learnchain.cli.main", "node", "start",
                                   "--datadir", str(root / "node0"), "--no-mine"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while node_info(url) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            from learnchain.core.crypto import load_keystore

            fresh_key = load_keystore(root / "node1" / "keys" / "node.json", DEV_PASSWORD)
            chain = open_chain(":memory:", genesis, clock=lambda: 2**62)
            transport = HttpTransport()
            port = free_port()
            node = Node(chain)
            p2p = P2PNode(node, fresh_key, transport, f"http://127.0.0.1:{port}")
            transport.p2p = p2p
            server_api = ApiServer(node, port=port)
            mount_p2p(server_api.server.config.app, p2p)
            with server_api:
                started = time.perf_counter()
                p2p.connect(url)
                while chain.height < BLOCKS and time.perf_counter() - started < 300:
                    time.sleep(0.01)
                http_s = time.perf_counter() - started
                if chain.height < BLOCKS:
                    raise SystemExit(f"sync stalled at {chain.height}/{BLOCKS} blocks")
            transport.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{BLOCKS} blocks x {TXS_PER_BLOCK} transfers")
    print(f"import from local file: {BLOCKS / file_s:,.0f} blocks/s")
    print(f"headers-first sync over loopback HTTP from a node process: "
          f"{chain.height / http_s:,.0f} blocks/s")
    print(f"ratio network / file = {file_s / http_s:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
