"""A node: chain + mempool + block producer, wired for one configuration.

The producer runs in a worker thread: it builds a candidate on the head, lets the engine seal
it, and abandons the work (via a stop event) as soon as a better head arrives from elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from learnchain.apps.registry import build_apps
from learnchain.consensus.registry import build_engine
from learnchain.core.chain import AddResult, Chain, wall_clock_ms
from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import InvalidBlock
from learnchain.core.genesis import GenesisConfig
from learnchain.core.mempool import Mempool
from learnchain.core.types import Block, Transaction
from learnchain.storage.sqlite_store import SqliteStore

log = logging.getLogger("learnchain.node")


def open_chain(database: Path | str, genesis: GenesisConfig,
               clock: Callable[[], int] = wall_clock_ms) -> Chain:
    engine = build_engine(genesis.engine, genesis.engine_config)
    apps = build_apps(genesis.extra_apps, engine)
    return Chain(SqliteStore(database), genesis, apps, engine, clock)


class Node:
    def __init__(self, chain: Chain, key: PrivateKey | None = None, *,
                 min_block_interval_ms: int = 1000, max_block_txs: int = 2000) -> None:
        self.chain = chain
        self.key = key
        self.mempool = Mempool(chain)
        self.min_block_interval_ms = min_block_interval_ms
        self.max_block_txs = max_block_txs
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._worker: threading.Thread | None = None
        self.propose_lock = threading.RLock()
        """Held from building a candidate to sealing it: one candidate per parent at a time
        (an rlpow engine keeps one pending candidate per parent and proposer)."""
        self.blocks_produced = 0
        self.on_produced: list[Callable[[Block], None]] = []
        self.on_tx_accepted: list[Callable[[Transaction], None]] = []
        self.on_imported: list[Callable[[Block, AddResult], None]] = []
        chain.listeners.append(self._on_new_head)

    def _on_new_head(self, block: Block) -> None:
        self._abandon.set()

    def submit(self, tx: Transaction) -> bool:
        added = self.mempool.add(tx)
        if added:
            for listener in self.on_tx_accepted:
                listener(tx)
        return added

    def import_block(self, block: Block) -> AddResult:
        result = self.chain.add_block(block)
        self.mempool.prune()
        for undone in result.disconnected:
            self.mempool.readd(undone.transactions)
        for listener in self.on_imported:
            listener(block, result)
        return result

    def produce_block(self, stop: threading.Event | None = None) -> Block | None:
        """Build, seal and import one block on the current head; None if abandoned."""
        if self.key is None:
            raise InvalidBlock("this node has no key, so it cannot propose blocks")
        self._abandon.clear()
        txs = self.mempool.select(self.max_block_txs)
        with self.propose_lock:
            candidate, result = self.chain.build_candidate(txs, self.key.address)
            if result.rejected:  # e.g. fees their senders can no longer pay: never includable
                self.mempool.drop(tx for tx, _ in result.rejected)
            cp = self.chain.consensus_params()
            sealed = self.chain.engine.seal(candidate.header, cp, stop or self._abandon)
        if sealed is None or sealed.parent != self.chain.head_hash:
            return None
        block = Block(sealed, candidate.transactions).signed(self.key)
        self.import_block(block)
        self.blocks_produced += 1
        for listener in self.on_produced:
            listener(block)
        log.info("produced block %d %s txs=%d", block.height, block.hash.hex()[:16],
                 len(block.transactions))
        return block

    def start(self) -> None:
        self._stop.clear()
        self._worker = threading.Thread(target=self._produce_forever, name="producer",
                                        daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._abandon.set()
        if self._worker is not None:
            self._worker.join(timeout=10)

    def _jitter_ms(self) -> int:
        """A per-node, per-head delay in [0, interval] so miners don't all start at once; none
        for a node the engine gives priority on this head (a PoLe winner due to settle)."""
        assert self.key is not None
        if self.chain.engine.has_priority(self.key.address, self.chain.head):
            return 0
        digest = hashlib.sha256(self.key.address + self.chain.head_hash).digest()
        return int.from_bytes(digest[:4], "big") % (self.min_block_interval_ms + 1)

    def _produce_forever(self) -> None:
        """Mine once the head is a block interval (plus this node's jitter) old."""
        while not self._stop.is_set():
            wait = (self.chain.head.timestamp_ms + self.min_block_interval_ms + self._jitter_ms()
                    - wall_clock_ms())
            if wait > 0:
                self._stop.wait(min(wait, 250) / 1000)
                continue
            try:
                self.produce_block()
            except InvalidBlock as exc:
                log.error("block production failed: %s", exc)
                time.sleep(1)
            except Exception:
                # a bug must not silently end this node's mining for good: log it with its
                # traceback and keep trying (the node keeps importing peers' blocks meanwhile)
                log.exception("block production raised unexpectedly; retrying in 1 s")
                time.sleep(1)
