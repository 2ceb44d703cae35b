"""The simulated network: real node logic, virtual time, scripted links and partitions.

Every message is the same bytes a real peer would send and every block is fully verified by
every node; only time is simulated. Links are FIFO (like TCP) with a latency drawn per message,
a bandwidth delay, and a loss rate. Proof-of-work is accounted in simulated time: a miner with
hash rate h on difficulty d finds a block after an exponential time of mean 2^d / h (the exact
continuous limit of the geometric number of trials), and the memoryless law makes restarting
on a new head exact.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from learnchain.core.chain import AddResult
from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.net.p2p import P2PNode, Transport
from learnchain.net.protocol import ProtocolError
from learnchain.node import Node, open_chain
from learnchain.sim.scheduler import Scheduler

log = logging.getLogger("learnchain.sim")

GENESIS_MS = 1_767_225_600_000


@dataclass
class LinkModel:
    """Per-message latency (lognormal around a median), bandwidth and loss."""

    median_ms: float = 50.0
    sigma: float = 0.5
    bandwidth_bps: float = 100e6
    loss: float = 0.0

    def delay_ms(self, rng: np.random.Generator, size: int) -> float:
        latency = self.median_ms * math.exp(self.sigma * rng.standard_normal())
        return latency + size * 8 / self.bandwidth_bps * 1000


class SimTransport(Transport):
    def __init__(self, network: SimNetwork, name: str) -> None:
        self.network, self.name = network, name

    def send(self, addr: str, data: bytes) -> None:
        self.network.deliver(self.name, addr, data)


@dataclass
class BlockTrace:
    producer: str
    created_ms: float
    height: int
    seen_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class SimNode:
    name: str
    key: PrivateKey
    node: Node
    p2p: P2PNode
    hash_rate: float = 0.0
    reorgs: list[int] = field(default_factory=list)
    mining_epoch: int = 0

    @property
    def chain(self) -> Any:
        return self.node.chain


class SimNetwork:
    """N nodes over simulated links; the narrative API tests and experiments use."""

    def __init__(self, genesis: GenesisConfig, keys: list[PrivateKey], *, seed: int = 0,
                 link: LinkModel | None = None, difficulty_bits: int = 20,
                 hash_rates: list[float] | None = None, start_ms: int | None = None,
                 datadir: Path | None = None) -> None:
        self.genesis = genesis
        self.rng = np.random.default_rng(seed)
        self.link = link or LinkModel()
        self.scheduler = Scheduler(start_ms or genesis.timestamp_ms + 1000)
        self.difficulty_bits = difficulty_bits
        self.datadir = datadir
        self.groups: dict[str, int] | None = None
        self.fifo: dict[tuple[str, str], float] = {}
        self.blocks: dict[bytes, BlockTrace] = {}
        self.dropped = 0
        self.delivered = 0
        self.max_height = 0
        self.mining = False
        self.nodes: dict[str, SimNode] = {}
        for i, key in enumerate(keys):
            self._add_node(f"n{i}", key, (hash_rates or [0.0] * len(keys))[i])

    def _add_node(self, name: str, key: PrivateKey, hash_rate: float) -> SimNode:
        database = ":memory:" if self.datadir is None else str(self.datadir / f"{name}.sqlite")
        chain = open_chain(database, self.genesis, clock=self.scheduler.clock)
        node = Node(chain, key)
        p2p = P2PNode(node, key, SimTransport(self, name), name, max_peers=64,
                      rate_per_s=100_000, burst=100_000)
        sim_node = SimNode(name, key, node, p2p, hash_rate)
        node.on_imported.append(lambda block, result, n=sim_node: self._on_import(n, block,
                                                                                   result))
        node.on_produced.append(lambda block, n=sim_node: self._on_produced(n, block))
        self.nodes[name] = sim_node
        return sim_node

    def crash_and_restart(self, name: str) -> SimNode:
        """Kill a node at this instant (no shutdown) and start it again from its database.

        Whatever the node had not committed is lost, exactly as with `kill -9`; frames in
        flight to the old incarnation are dropped. Needs `datadir`.
        """
        if self.datadir is None:
            raise ValueError("crash_and_restart needs a SimNetwork with a datadir")
        old = self.nodes.pop(name)
        old.mining_epoch += 1
        old.chain.store.close()
        self.fifo = {k: v for k, v in self.fifo.items() if name not in k}
        return self._add_node(name, old.key, old.hash_rate)

    # ----- topology and faults -----------------------------------------------------------

    def connect(self, a: str, b: str) -> None:
        self.nodes[a].p2p.connect(b)

    def connect_random(self, degree: int) -> None:
        """Each node dials `degree` random others (so the graph has average degree ≈ 2·degree)."""
        names = list(self.nodes)
        for name in names:
            others = [n for n in names if n != name]
            for other in self.rng.choice(others, size=min(degree, len(others)), replace=False):
                self.connect(name, str(other))

    def connect_all(self) -> None:
        names = list(self.nodes)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                self.connect(a, b)

    def partition(self, *groups: Iterable[str]) -> None:
        self.groups = {name: i for i, group in enumerate(groups) for name in group}

    def heal(self) -> None:
        self.groups = None
        for sim_node in self.nodes.values():
            sim_node.p2p.tick()

    def at(self, time_s: float, action: Any) -> None:
        """Script an action at simulated time t (seconds since the start)."""
        self.scheduler.at(self.start_ms + time_s * 1000, action)

    @property
    def start_ms(self) -> int:
        return self.genesis.timestamp_ms + 1000

    # ----- message delivery --------------------------------------------------------------

    def _cut(self, src: str, dst: str) -> bool:
        """True (and counted as a drop) when dst is gone or a partition separates the two."""
        separated = self.groups is not None and (
            self.groups.get(src, -1) != self.groups.get(dst, -2))
        if dst not in self.nodes or separated:
            self.dropped += 1
            return True
        return False

    def deliver(self, src: str, dst: str, data: bytes) -> None:
        if self._cut(src, dst):
            return
        if self.link.loss and self.rng.random() < self.link.loss:
            self.dropped += 1
            return
        arrive = self.scheduler.now_ms + self.link.delay_ms(self.rng, len(data))
        arrive = max(arrive, self.fifo.get((src, dst), 0.0))
        self.fifo[(src, dst)] = arrive
        self.scheduler.at(arrive, lambda: self._receive(src, dst, data))

    def _receive(self, src: str, dst: str, data: bytes) -> None:
        if self._cut(src, dst):
            return
        self.delivered += 1
        try:
            replies = self.nodes[dst].p2p.on_message(data, addr=src)
        except ProtocolError as exc:
            log.debug("%s refused a message from %s: %s", dst, src, exc)
            return
        for reply in replies:
            self.deliver(dst, src, reply)

    # ----- mining in simulated time ------------------------------------------------------

    def start_mining(self) -> None:
        self.mining = True
        for sim_node in self.nodes.values():
            if sim_node.hash_rate > 0:
                self._schedule_mining(sim_node)

    def _schedule_mining(self, sim_node: SimNode) -> None:
        sim_node.mining_epoch += 1
        if not self.mining:
            return
        epoch = sim_node.mining_epoch
        mean_ms = (2 ** self.difficulty_bits) / sim_node.hash_rate * 1000
        self.scheduler.after(self.rng.exponential(mean_ms),
                             lambda: self._solve(sim_node, epoch))

    def _solve(self, sim_node: SimNode, epoch: int) -> None:
        if epoch != sim_node.mining_epoch:
            return
        sim_node.node.produce_block()
        self._schedule_mining(sim_node)

    def _on_produced(self, sim_node: SimNode, block: Block) -> None:
        trace = BlockTrace(sim_node.name, self.scheduler.now_ms, block.height)
        trace.seen_ms[sim_node.name] = self.scheduler.now_ms
        self.blocks[block.hash] = trace

    def _on_import(self, sim_node: SimNode, block: Block, result: AddResult) -> None:
        self.max_height = max(self.max_height, sim_node.chain.height)
        trace = self.blocks.get(block.hash)
        if trace is not None:
            trace.seen_ms.setdefault(sim_node.name, self.scheduler.now_ms)
        if result.reorg_depth > 1 or (result.reorg_depth == 1 and result.connected
                                      and len(result.connected) > 1):
            sim_node.reorgs.append(result.reorg_depth)
        if result.status.value == "new-head" and sim_node.hash_rate > 0 \
                and block.header.proposer != sim_node.key.address:
            self._schedule_mining(sim_node)

    # ----- running -----------------------------------------------------------------------

    def run(self, seconds: float | None = None, *, until_height: int | None = None,
            max_events: int | None = None) -> None:
        until = None if seconds is None else self.scheduler.now_ms + seconds * 1000
        stop = None
        if until_height is not None:
            def stop() -> bool:
                return self.max_height >= until_height
        self.scheduler.run(until, stop, max_events)

    def settle(self, seconds: float = 30.0) -> None:
        """Stop mining and let messages drain, so nodes can converge."""
        self.mining = False  # also stops miners re-arming on blocks that arrive meanwhile
        for sim_node in self.nodes.values():
            sim_node.mining_epoch += 1
        for sim_node in self.nodes.values():
            sim_node.p2p.tick()
        self.scheduler.run(self.scheduler.now_ms + seconds * 1000)

    def heads(self) -> dict[str, bytes]:
        return {name: n.chain.head_hash for name, n in self.nodes.items()}

    def converged(self) -> bool:
        return len(set(self.heads().values())) == 1


def sim_genesis(keys: list[PrivateKey], *, funded: dict[bytes, int] | None = None,
                fork_choice: str = "most-work", max_reorg_depth: int = 1000,
                block_reward: int = 50) -> GenesisConfig:
    """All nodes are consortium members and miners; PoW difficulty 0 (work is simulated)."""
    addresses = [to_checksum_address(k.address) for k in keys]
    return GenesisConfig(
        timestamp_ms=GENESIS_MS, fork_choice=fork_choice, max_reorg_depth=max_reorg_depth,
        apps={
            "bank": {"allocations": {to_checksum_address(a): v
                                     for a, v in (funded or {}).items()}},
            "identity": {"members": addresses,
                         "identities": {a: ["miner"] for a in addresses}},
            "consensus": {"params": {"difficulty": 0, "block_reward": block_reward},
                          "miners": addresses, "controller": addresses[0]},
        },
    )
