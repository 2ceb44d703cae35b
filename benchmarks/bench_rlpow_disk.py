"""Disk per node of a real rlpow devnet at a fixed height: pruned (default) against archival.

Two node processes (`devnet up --engine rlpow` settings: devnet preset K, 60 ms block interval)
run until both pass ``--blocks``; then each node's datadir is measured (SQLite file, WAL, logs).
The same run measures an archival devnet (``archive_work = true``, every training blob kept)
as the baseline; the ratio is pruned / archival bytes per node (lower is better; issue #20).

    PYTHONPATH=src python benchmarks/bench_rlpow_disk.py [--blocks 600] [--keep-blocks 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from learnchain.config import NodeConfig
from learnchain.devnet import (
    create_devnet,
    disk_usage,
    load_devnet,
    node_info,
    start_devnet,
    stop_devnet,
)
from learnchain.net.server import free_port_range
from learnchain.sim.rlpow_experiments import DEVNET_RLPOW_PARAMS


def measure(root: Path, *, archive: bool, blocks: int, keep_blocks: int,
            timeout_s: float = 1800) -> tuple[float, int]:
    """(MB per node, height reached) once every node has passed `blocks`."""
    nodes = create_devnet(root, 2, base_port=free_port_range(4), block_interval_ms=60,
                          fast_kdf=True, engine="rlpow", archive_work=archive,
                          consensus_params=dict(DEVNET_RLPOW_PARAMS))
    for node in nodes:
        config = NodeConfig.load(node.datadir)
        config.storage.keep_blocks = keep_blocks
        (node.datadir / "node.toml").write_text(config.to_toml())
    start_devnet(root)
    heights = [0]
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            infos = [node_info(n.url) for n in load_devnet(root)]
            heights = [i["height"] if i else 0 for i in infos]
            if min(heights) >= blocks:
                break
            time.sleep(1)
        else:
            raise SystemExit(f"devnet did not reach height {blocks} in {timeout_s} s: {heights}")
    finally:
        stop_devnet(root)
    sizes = [disk_usage(n.datadir) for n in nodes]
    return sum(sizes) / len(sizes) / 1e6, max(heights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=600)
    parser.add_argument("--keep-blocks", type=int, default=256)
    args = parser.parse_args()
    rows = {}
    for archive in (False, True):
        with tempfile.TemporaryDirectory(prefix="bench-rlpow-disk-") as tmp:
            rows[archive] = measure(Path(tmp), archive=archive, blocks=args.blocks,
                                    keep_blocks=args.keep_blocks)
    for archive, (mb, height) in rows.items():
        name = "archival" if archive else f"pruned (keep_blocks={args.keep_blocks})"
        print(f"{name:28s} {mb:8.1f} MB per node at height {height} "
              f"({mb * 1000 / height:.1f} KB/block)")
    ratio = rows[False][0] / rows[True][0]
    print(f"ratio pruned/archival disk per node: {ratio:.2f} (target < 0.5)")
    sys.exit(0)


if __name__ == "__main__":
    main()
