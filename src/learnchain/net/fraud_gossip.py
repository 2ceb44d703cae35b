"""Gossip of rlpow fraud proofs: publish what our audits caught, check and pass on the rest.

A `fraud` message carries one proof (consensus/rlpow_fraud.py). A node checks it by replaying
the accused step: a proof that holds makes the node reject the block (rolling back if it was
canonical), ban the proposer, and pass the proof to its other peers; a proof that does not
hold is refused and its sender penalised (``bad-fraud-proof``); one the node cannot check
(the accused block's parent is not on its canonical chain, or an input blob is missing) is
dropped without a verdict. Engines without fraud proofs ignore the message.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from learnchain.core.types import Block

if TYPE_CHECKING:
    from learnchain.net.handshake import Peer
    from learnchain.net.messages import FraudMsg

log = logging.getLogger("learnchain.p2p")

MAX_SEEN_PROOFS = 4096


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

    def publish_found_fraud(self, block: Block) -> int:
        """After our own audit refused `block` (or a block of the branch it completed): send
        every fraud proof our audits produced that we have not sent yet."""
        found = getattr(self.chain.engine, "found_proofs", None)
        if not found:
            return 0
        seen = self._seen_proofs()
        fresh = [(h, proof) for h, proof in list(found.items()) if h not in seen]
        for block_hash, proof in fresh:
            log.warning("our audit of block 0x%s (under 0x%s) found a bad step: publishing "
                        "the fraud proof", block_hash.hex()[:16], block.hash.hex()[:16])
            self._gossip_proof(block_hash, proof, exclude=None)
        return len(fresh)

    def submit_fraud_proof(self, data: bytes, source: Peer | None = None) -> dict[str, Any]:
        """Check a proof (from a peer or the API); on success pass it on. Raises
        `FraudProofError` for a false proof and `Unverifiable` when we cannot check it."""
        from learnchain.consensus import rlpow_fraud

        engine = self.chain.engine
        if not hasattr(engine, "convicted"):
            raise rlpow_fraud.Unverifiable(f"engine {engine.name!r} has no fraud proofs")
        proof = rlpow_fraud.FraudProof.from_bytes(data)
        verdict = rlpow_fraud.apply_fraud_proof(engine, proof)
        if verdict.new:
            log.warning("fraud proof: block 0x%s of 0x%s is invalid (%s); %d block(s) undone, "
                        "proposer banned", verdict.block_hash.hex()[:16],
                        verdict.proposer.hex()[:12], verdict.reason, verdict.undone)
        if verdict.block_hash not in self._seen_proofs():
            self._gossip_proof(verdict.block_hash, data,
                               exclude=None if source is None else source.addr)
        return rlpow_fraud.describe(verdict)

    def _gossip_proof(self, block_hash: bytes, data: bytes, exclude: str | None) -> None:
        with self.lock:
            seen = self._seen_proofs()
            seen[block_hash] = None
            while len(seen) > MAX_SEEN_PROOFS:
                seen.popitem(last=False)
            for peer in self.ready_peers():  # type: ignore[attr-defined]
                if peer.addr != exclude:
                    self.send(peer, "fraud", {"proof": data})  # type: ignore[attr-defined]

    def _on_fraud(self, peer: Peer, msg: FraudMsg) -> list[tuple[str, dict]]:
        from learnchain.consensus import rlpow_fraud

        try:
            self.submit_fraud_proof(msg.proof, source=peer)
        except rlpow_fraud.FraudProofError as exc:
            self.penalise(peer, "bad-fraud-proof", str(exc))  # type: ignore[attr-defined]
        except rlpow_fraud.Unverifiable as exc:
            log.info("fraud proof from %s not checked: %s", peer.addr, exc)
        return []
