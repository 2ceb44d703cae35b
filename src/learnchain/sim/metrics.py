"""Run metrics: forks, stale rate, reorg depths, propagation delays, transaction latency."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from learnchain.sim.network import SimNetwork


def percentiles(values: list[float], qs: tuple[int, ...] = (50, 90, 99)) -> dict[str, float]:
    if not values:
        return {f"p{q}": float("nan") for q in qs}
    array = np.asarray(values, dtype=float)
    return {f"p{q}": round(float(np.percentile(array, q)), 3) for q in qs}


@dataclass
class RunMetrics:
    nodes: int
    simulated_s: float
    canonical_height: int
    blocks_produced: int
    stale_blocks: int
    stale_rate: float
    converged: bool
    reorgs: int
    reorg_depths: dict[str, int]
    propagation_to_all_ms: dict[str, float]
    propagation_per_node_ms: dict[str, float]
    tx_latency_ms: dict[str, float]
    messages_delivered: int
    messages_dropped: int
    per_node: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def collect(network: SimNetwork, tx_submitted: dict[bytes, float] | None = None) -> RunMetrics:
    any_node = next(iter(network.nodes.values()))
    chain = any_node.chain
    canonical = {b.hash for b in chain.canonical_blocks(1, chain.height)}
    produced = len(network.blocks)
    stale = sum(1 for h in network.blocks if h not in canonical)
    all_nodes = len(network.nodes)
    to_all, per_node = [], []
    for trace in network.blocks.values():
        delays = [t - trace.created_ms for name, t in trace.seen_ms.items()
                  if name != trace.producer]
        per_node.extend(delays)
        if len(trace.seen_ms) == all_nodes:
            to_all.append(max(delays) if delays else 0.0)
    depths: dict[str, int] = {}
    for sim_node in network.nodes.values():
        for depth in sim_node.reorgs:
            depths[str(depth)] = depths.get(str(depth), 0) + 1
    latencies: list[float] = []
    if tx_submitted:
        for block in chain.canonical_blocks(1, chain.height):
            trace = network.blocks.get(block.hash)
            for tx in block.transactions:
                if tx.hash in tx_submitted and trace is not None:
                    latencies.append(trace.created_ms - tx_submitted[tx.hash])
    return RunMetrics(
        nodes=all_nodes,
        simulated_s=round((network.scheduler.now_ms - network.start_ms) / 1000, 3),
        canonical_height=chain.height,
        blocks_produced=produced,
        stale_blocks=stale,
        stale_rate=round(stale / produced, 4) if produced else 0.0,
        converged=network.converged(),
        reorgs=sum(depths.values()),
        reorg_depths=dict(sorted(depths.items(), key=lambda kv: int(kv[0]))),
        propagation_to_all_ms=percentiles(to_all),
        propagation_per_node_ms=percentiles(per_node),
        tx_latency_ms=percentiles(latencies),
        messages_delivered=network.delivered,
        messages_dropped=network.dropped,
        per_node=[{"name": n.name, "height": n.chain.height,
                   "blocks_produced": n.node.blocks_produced, "reorgs": len(n.reorgs),
                   "peers": len(n.p2p.ready_peers())} for n in network.nodes.values()],
    )
