"""Propagation: time for a block to reach all nodes of an 8-process loopback devnet.

Each node records the wall-clock time it first imported every block; a block's propagation
time is the last arrival minus the first (the producer's own import). All processes share one
machine's clock, so the differences are exact up to scheduling.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from learnchain.devnet import create_devnet, load_devnet, node_info, start_devnet, stop_devnet
from learnchain.net.server import free_port_range

NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 8
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        create_devnet(root, NODES, base_port=free_port_range(NODES), difficulty=14,
                      block_interval_ms=1500, fast_kdf=True)
        start_devnet(root)
        nodes = load_devnet(root)
        try:
            time.sleep(SECONDS)
            infos = [node_info(n.url, timeout=5) for n in nodes]
        finally:
            stop_devnet(root)
    alive = [i for i in infos if i]
    arrivals: dict[str, list[int]] = {}
    for info in alive:
        for block_hash, t in info["arrivals_ms"].items():
            arrivals.setdefault(block_hash, []).append(t)
    spreads = sorted(max(ts) - min(ts) for ts in arrivals.values() if len(ts) == len(alive))
    if not spreads:
        print("no block reached every node; is the machine overloaded?")
        return
    p90 = spreads[min(len(spreads) - 1, int(0.9 * len(spreads)))]
    print(f"{len(alive)}/{NODES} nodes up, {len(spreads)} blocks seen by all, "
          f"heights {sorted({i['height'] for i in alive})}")
    print(f"time to reach all nodes: median {statistics.median(spreads):.0f} ms, "
          f"p90 {p90} ms, max {spreads[-1]} ms")


if __name__ == "__main__":
    main()
