"""design=uncles on real nodes: every miner's work at a height reaches the chain as an uncle.

Why this exists. A real node proposes only when its own timer fires (``Node``: a block
interval plus a per-node jitter after the head); the first node to fire wins the height and
the others abandon theirs on its arrival. Two candidates at one height then only happen when
two timers fire within one propagation delay (measured: 3 uncles in 33 blocks on a 3-node
loopback devnet at 250 ms). The simulator instead has all N nodes compute a candidate at every
height and offers the N-1 losers to the winner's engine by hand (``offer_uncle``). This module
is what a real node does instead (docs/consensus-rlpow.md §8, "On a real network"):

1. **Keep a candidate on the head.** Whenever the head (or the set of its siblings, which
   changes the uncles a child includes) changes, the node builds, seals and signs a candidate
   on it: no transactions, the earliest timestamp the block-rate rule allows. It keeps it.
2. **Publish it when a peer wins the height.** When a peer's block ``B`` on the same parent
   becomes the head, the kept candidate is a sibling of ``B``. If it started from exactly
   ``B``'s learner state (same θ_before, uncle list and k; otherwise no child of ``B`` could
   include it), the node offers it to its engine, imports it (a side block: fork choice keeps
   the first of equal blocks) and gossips it like any block. Whoever proposes on ``B`` finds
   it among ``B``'s siblings (``select_uncles``), checks it like a block and includes it.
3. When the node's own block wins the height, the kept candidate is dropped.

Nothing here is trusted by other nodes: a published sibling is an ordinary signed block, and a
node includes it as an uncle only after ``check_uncle`` has replayed and audited it. The node
keeps one candidate; the engine bounds what it caches (``UNCLE_CACHE``, the uncle pool).
Building and sealing hold ``Node.propose_lock``, so the candidate never interleaves with the
producer's own block on the same parent.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from learnchain.consensus.rlpow_uncles import same_start
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block

if TYPE_CHECKING:
    from learnchain.node import Node

log = logging.getLogger("learnchain.rlpow.siblings")

class SiblingWorker:
    """Keeps this node's candidate on the head and publishes it when it loses the height."""

    def __init__(self, node: Node) -> None:
        if node.key is None:
            raise InvalidBlock("a node without a key proposes nothing, so it has no siblings")
        if not getattr(node.chain.engine, "shares_learner", False):
            raise InvalidBlock("sibling candidates are for rlpow design=uncles only")
        self.node = node
        self.held: Block | None = None
        self._built_for: tuple[bytes, tuple[bytes, ...]] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"built": 0, "published": 0, "not_same_start": 0}
        node.chain.listeners.append(lambda _block: self._wake.set())
        node.on_imported.append(lambda _block, _result: self._wake.set())

    # ----- one pass (tests call it directly) ------------------------------------------------

    def step(self) -> Block | None:
        """Publish the kept candidate if a peer won its height, then build on the head.
        Returns the block published, if any."""
        with self.node.propose_lock:
            published = self._publish_if_lost()
            self._build_on_head()
        return published

    def _publish_if_lost(self) -> Block | None:
        held, chain = self.held, self.node.chain
        if held is None:
            return None
        head = chain.head
        if held.parent == head.hash:
            return None  # its height is still open
        self.held = None
        assert self.node.key is not None
        if (head.parent != held.parent or head.height != held.height
                or head.proposer == self.node.key.address):
            return None  # the chain moved on elsewhere, or this node won the height itself
        if not same_start(held.header, head):
            self.stats["not_same_start"] += 1
            return None
        chain.engine.offer_uncle(held)  # type: ignore[attr-defined]
        try:
            self.node.import_block(held)
        except InvalidBlock as exc:
            log.warning("sibling candidate %s refused by this node: %s", held.hash.hex()[:16],
                        exc)
            return None
        for listener in self.node.on_produced:  # gossip it like any block this node made
            listener(held)
        self.stats["published"] += 1
        log.info("published sibling %d %s (lost the height to %s)", held.height,
                 held.hash.hex()[:16], head.hash.hex()[:16])
        return held

    def _build_on_head(self) -> None:
        chain, key = self.node.chain, self.node.key
        assert key is not None
        with chain.lock:
            head = chain.head
            siblings = tuple(sorted(chain.store.children(head.parent))) if head.height else ()
            cp = chain.consensus_params()
            if (self._built_for == (head.hash, siblings)
                    or not chain.engine.can_propose(key.address, cp)):
                return
            self._built_for = (head.hash, siblings)
            timestamp = max(chain.clock(), chain.engine.earliest_timestamp(head, cp))
        self.held = None
        try:
            candidate, _ = chain.build_candidate([], key.address, timestamp)
            sealed = chain.engine.seal(candidate.header, chain.consensus_params(), self._stop)
        except InvalidBlock as exc:  # e.g. the block-rate rule: this key signed the parent
            log.debug("no sibling candidate on %s: %s", head.hash.hex()[:16], exc)
            return
        if sealed is None:
            return  # the head moved while sealing: the next pass builds on the new one
        self.held = Block(sealed, candidate.transactions).signed(key)
        self.stats["built"] += 1

    # ----- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rlpow-siblings", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.step()
            except InvalidBlock as exc:
                log.warning("sibling candidate: %s", exc)


def attach_siblings(node: Node) -> SiblingWorker | None:
    """A worker for a mining node of an rlpow design=uncles chain (None for anything else)."""
    if node.key is None or not getattr(node.chain.engine, "shares_learner", False):
        return None
    return SiblingWorker(node)
