"""Disk per node of a real rlpow devnet at fixed heights: pruned (default) against archival.

Two node processes (`devnet up --engine rlpow` settings: devnet preset K, 60 ms block interval)
run; each node's datadir is measured (SQLite file, WAL, logs) when both pass ``--first`` and
again at ``--second`` heights.
The same run measures an archival devnet (``archive_work = true``, every training blob kept)
as the baseline; the ratio is pruned / archival growth in bytes per block between the two
heights (lower is better; issue #20: bounded means near zero beyond headers).

    PYTHONPATH=src python benchmarks/bench_rlpow_disk.py [--first 800] [--second 1600]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from learnchain.config import NodeConfig
from learnchain.consensus.rlpow import DEVNET_RLPOW_PARAMS
from learnchain.devnet import (
    create_devnet,
    disk_usage,
    load_devnet,
    node_info,
    start_devnet,
    stop_devnet,
)
from learnchain.net.server import free_port_range


def _wait_height(root: Path, height: int, deadline: float) -> list[int]:
    heights = [0]
    while time.monotonic() < deadline:
        infos = [node_info(n.url) for n in load_devnet(root)]
        heights = [i["height"] if i else 0 for i in infos]
        if min(heights) >= height:
            return heights
        time.sleep(0.5)
    raise SystemExit(f"devnet did not reach height {height} in time: {heights}")


def measure(root: Path, *, archive: bool, heights: tuple[int, int], keep_blocks: int,
            timeout_s: float = 3600) -> list[tuple[float, int]]:
    """[(MB per node, height)] when every node has passed each of `heights`."""
    nodes = create_devnet(root, 2, base_port=free_port_range(4), block_interval_ms=60,
                          fast_kdf=True, engine="rlpow", archive_work=archive,
                          consensus_params=dict(DEVNET_RLPOW_PARAMS))
    for node in nodes:
        config = NodeConfig.load(node.datadir)
        config.storage.keep_blocks = keep_blocks
        (node.datadir / "node.toml").write_text(config.to_toml())
    start_devnet(root)
    out = []
    try:
        deadline = time.monotonic() + timeout_s
        for target in heights:
            reached = _wait_height(root, target, deadline)
            sizes = [disk_usage(n.datadir) for n in nodes]
            out.append((sum(sizes) / len(sizes) / 1e6, max(reached)))
    finally:
        stop_devnet(root)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=int, default=800,
                        help="First measurement (past learning_starts = 500: blocks train)")
    parser.add_argument("--second", type=int, default=1600)
    parser.add_argument("--keep-blocks", type=int, default=256)
    args = parser.parse_args()
    rows = {}
    for archive in (False, True):
        with tempfile.TemporaryDirectory(prefix="bench-rlpow-disk-") as tmp:
            rows[archive] = measure(Path(tmp), archive=archive,
                                    heights=(args.first, args.second),
                                    keep_blocks=args.keep_blocks)
    growth = {}
    for archive, ((mb1, h1), (mb2, h2)) in rows.items():
        name = "archival" if archive else f"pruned (keep_blocks={args.keep_blocks})"
        growth[archive] = (mb2 - mb1) * 1000 / max(1, h2 - h1)
        print(f"{name:28s} {mb1:7.1f} MB per node at height {h1}, {mb2:7.1f} MB at {h2}: "
              f"{growth[archive]:.1f} KB per block in between")
    ratio = growth[False] / growth[True]
    print(f"ratio pruned/archival disk growth per block: {ratio:.3f} (target < 0.1)")


if __name__ == "__main__":
    main()
