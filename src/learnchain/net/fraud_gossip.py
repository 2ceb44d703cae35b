"""Gossip of rlpow fraud proofs: publish what our audits caught, check and pass on the rest.

A `fraud` message carries one proof (consensus/rlpow_fraud.py). A node checks it by replaying
the accused step: a proof that holds makes the node reject the block (rolling back if it was
canonical), ban the proposer, and pass the proof to its other peers; a proof that does not
hold is refused and its sender penalised (``bad-fraud-proof``). A new peer session starts with
our most recent proofs, so a proof published while a peer was away (or before the peers of a
restarted node had connected) still reaches it; and a peer relaying a convicted proposer's
block is sent the proof before it is punished for it. One the node cannot check yet
(the accused block's parent is not on its canonical chain, or an input blob is missing) gets
no verdict either way but is kept, a bounded number of them, and checked again whenever the
head moves: a node that later switches to the accused branch still rejects the block instead
of waiting for its own probabilistic audit to catch it. Engines without fraud proofs ignore
the message.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from learnchain.core.types import Block

if TYPE_CHECKING:
    from learnchain.consensus.rlpow_fraud import FraudProof
    from learnchain.net.handshake import Peer
    from learnchain.net.messages import FraudMsg

log = logging.getLogger("learnchain.p2p")

MAX_SEEN_PROOFS = 4096
MAX_PENDING_PROOFS = 64
"""Proofs awaiting a parent we do not have on our canonical chain; the oldest go first."""
MAX_PENDING_PER_PEER = 8
GREETING_PROOFS = 8
"""How many of our latest proofs a new peer session starts with."""


class FraudGossipMixin:
    """Mixed into `P2PNode` (uses its chain, node, lock, peers, send and penalise)."""

    chain: Any
    node: Any
    lock: Any
    stats: Any

    def _seen_proofs(self) -> OrderedDict[bytes, None]:
        seen = getattr(self, "_fraud_seen", None)
        if seen is None:
            seen = self._fraud_seen = OrderedDict()
        return seen

    def _save_verdicts(self) -> None:
        """Store the verdicts our audits reached during imports (they could not be written
        inside the block transaction)."""
        if hasattr(self.chain.engine, "saved_verdicts"):
            from learnchain.consensus.rlpow_verdicts import save_verdicts

            save_verdicts(self.chain.engine)

    def _pending_proofs(self) -> OrderedDict[bytes, tuple[FraudProof, bytes, str | None]]:
        pending = getattr(self, "_fraud_pending", None)
        if pending is None:
            pending = self._fraud_pending = OrderedDict()
        return pending

    def _keep_pending(self, proof: FraudProof, data: bytes, source: str | None) -> None:
        """Keep a proof we cannot check yet, unless it accuses a key that is not an active
        miner here (no node would take that block). One peer holds at most
        `MAX_PENDING_PER_PEER` places, so it cannot evict everyone else's proofs."""
        header = proof.header
        if not self.chain.engine.can_propose(header.proposer, self.chain.consensus_params()):
            return
        with self.lock:
            pending = self._pending_proofs()
            pending[header.hash] = (proof, data, source)
            pending.move_to_end(header.hash)
            if source is not None:
                mine = [h for h, (_, _, src) in pending.items() if src == source]
                for old in mine[:max(0, len(mine) - MAX_PENDING_PER_PEER)]:
                    del pending[old]
            while len(pending) > MAX_PENDING_PROOFS:
                pending.popitem(last=False)

    def retry_pending_proofs(self) -> int:
        """Check again the proofs we could not check, once per head change; returns how
        many now held. Called from the periodic tick, outside the peer lock: a check
        replays a training step."""
        from learnchain.consensus import rlpow_fraud

        self._save_verdicts()
        head = self.chain.head_hash
        with self.lock:
            pending = self._pending_proofs()
            if not pending or getattr(self, "_fraud_retry_head", None) == head:
                return 0
            self._fraud_retry_head = head
            waiting = list(pending.items())
        held = 0
        for accused, (proof, data, source) in waiting:
            try:
                self._check_and_pass_on(proof, data, source)
                held += 1
            except rlpow_fraud.Unverifiable:
                continue
            except rlpow_fraud.FraudProofError as exc:
                log.info("a kept fraud proof against 0x%s from %s does not hold: %s",
                         accused.hex()[:16], source, exc)
            with self.lock:
                self._pending_proofs().pop(accused, None)
        return held

    def _greeting_proofs(self, peer: Peer) -> list[bytes]:
        found = getattr(self.chain.engine, "found_proofs", None)
        if not found:
            return []
        latest = list(found.items())[max(0, len(found) - GREETING_PROOFS):]
        peer.proofs_sent.update(block_hash for block_hash, _ in latest)
        return [self._envelope(peer, "fraud", {"proof": data})  # type: ignore[attr-defined]
                for _, data in latest]

    def answer_convicted_block(self, peer: Peer, block: Block) -> bool:
        """`block` was refused and its proposer is convicted: the peer relaying it may not
        have the proof yet (an honest node that adopted the proposer's blocks before the
        verdict). Send it the proof instead of punishing it, once per peer and proof; True
        when sent. Relaying the proposer's blocks again after that is punished as usual."""
        engine = self.chain.engine
        convicted = getattr(engine, "convicted", {}).get(block.header.proposer)
        data = None if convicted is None else engine.found_proofs.get(convicted)
        if data is None or convicted in peer.proofs_sent:
            return False
        with self.lock:
            peer.proofs_sent.add(convicted)
            self.send(peer, "fraud", {"proof": data})  # type: ignore[attr-defined]
        return True

    def publish_found_fraud(self, block: Block) -> int:
        """After our own audit refused `block` (or a block of the branch it completed): send
        every fraud proof our audits produced that we have not sent yet."""
        found = getattr(self.chain.engine, "found_proofs", None)
        if not found:
            return 0
        self._save_verdicts()
        seen = self._seen_proofs()
        fresh = [(h, proof) for h, proof in list(found.items()) if h not in seen]
        for block_hash, proof in fresh:
            log.warning("our audit of block 0x%s (under 0x%s) found a bad step: publishing "
                        "the fraud proof", block_hash.hex()[:16], block.hash.hex()[:16])
            self._gossip_proof(block_hash, proof, exclude=None)
        return len(fresh)

    def submit_fraud_proof(self, data: bytes, source: Peer | None = None) -> dict[str, Any]:
        """Check a proof (from a peer or the API); on success pass it on. Raises
        `FraudProofError` for a false proof and `Unverifiable` when we cannot check it yet
        (the proof is then kept and checked again as our head moves)."""
        from learnchain.consensus import rlpow_fraud

        engine = self.chain.engine
        if not hasattr(engine, "convicted"):
            raise rlpow_fraud.Unverifiable(f"engine {engine.name!r} has no fraud proofs")
        proof = rlpow_fraud.FraudProof.from_bytes(data)
        addr = None if source is None else source.addr
        try:
            return self._check_and_pass_on(proof, data, addr)
        except rlpow_fraud.Unverifiable:
            self._keep_pending(proof, data, addr)
            raise

    def _check_and_pass_on(self, proof: FraudProof, data: bytes, source: str | None
                           ) -> dict[str, Any]:
        from learnchain.consensus import rlpow_fraud

        engine = self.chain.engine
        verdict = rlpow_fraud.apply_fraud_proof(engine, proof)
        if verdict.new:
            log.warning("fraud proof: block 0x%s of 0x%s is invalid (%s); %d block(s) undone, "
                        "proposer banned", verdict.block_hash.hex()[:16],
                        verdict.proposer.hex()[:12], verdict.reason, verdict.undone)
        with self.lock:
            self._pending_proofs().pop(verdict.block_hash, None)
        held = verdict.block_hash in engine.found_proofs  # not a shortcut for a convicted key
        if held and verdict.block_hash not in self._seen_proofs():
            self._gossip_proof(verdict.block_hash, data, exclude=source)
        return rlpow_fraud.describe(verdict)

    def _gossip_proof(self, block_hash: bytes, data: bytes, exclude: str | None) -> None:
        with self.lock:
            seen = self._seen_proofs()
            seen[block_hash] = None
            while len(seen) > MAX_SEEN_PROOFS:
                seen.popitem(last=False)
            for peer in self.ready_peers():  # type: ignore[attr-defined]
                peer.proofs_sent.add(block_hash)
                if peer.addr != exclude:
                    self.send(peer, "fraud", {"proof": data})  # type: ignore[attr-defined]

    def _on_fraud(self, peer: Peer, msg: FraudMsg) -> list[tuple[str, dict]]:
        from learnchain.consensus import rlpow_fraud

        try:
            self.submit_fraud_proof(msg.proof, source=peer)
        except rlpow_fraud.FraudProofError as exc:
            self.penalise(peer, "bad-fraud-proof", str(exc))  # type: ignore[attr-defined]
        except rlpow_fraud.Unverifiable as exc:
            log.info("fraud proof from %s not checked yet (kept): %s", peer.addr, exc)
        return []
