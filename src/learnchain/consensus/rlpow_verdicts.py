"""rlpow fraud-proof verdicts and drift sums survive a restart.

A verdict (a block proven invalid, its proposer convicted) is node-local state, but a node
that forgot it on restart would accept the convicted key's blocks again and could no longer
pass the proof to peers that join later. Each verdict is stored with the proof that settles
it, under ``rlpow/verdict/<block hash>`` in the store's meta table, and read back when the
engine attaches to its chain; the proof is not replayed again (it held when it was stored,
and the store is this node's own).

A verdict is reached while a block is being imported, possibly inside the chain's block
transaction, whose rollback (the block is refused) would drop the write. So verdicts are
written afterwards, by `save_verdicts`, which the peer layer calls once the import has
returned; a crash in between loses only the verdict, and the block is refused again by the
same audit when it comes back.

The cumulative drift ledger (consensus/rlpow_rules.py) is node-local state of the same kind:
forgotten on restart, it would hand a proposer nudging under the tolerance a fresh budget. Its
sums are stored as one entry, ``rlpow/drift``, with the totals as exact float hex strings (the
ledger is not consensus state; its verdicts are this node's, as the audit choice is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnchain.core.encoding import decode, encode
from learnchain.core.errors import EncodingError, StoreError

if TYPE_CHECKING:
    from learnchain.consensus.rlpow import RLPowEngine

VERDICT_PREFIX = "rlpow/verdict/"
DRIFT_KEY = "rlpow/drift"


def save_verdicts(engine: RLPowEngine) -> int:
    """Write the verdicts not yet stored; returns how many. Does nothing inside a block
    transaction (it is called again later)."""
    chain = engine.chain
    if chain is None or (engine.drift.totals == engine.saved_drift
                         and all(h in engine.saved_verdicts for h in engine.found_proofs)):
        return 0  # the usual case, every tick: nothing new, and no wait for the chain lock
    with chain.lock:
        store = chain.store
        fresh = [h for h in engine.found_proofs if h not in engine.saved_verdicts]
        drift = dict(engine.drift.totals)
        drift_changed = drift != engine.saved_drift
        if not (fresh or drift_changed) or store.conn.in_transaction:
            return 0
        at = chain.clock()
        with store.transaction():
            for block_hash in fresh:
                reason = engine.proven_invalid.get(block_hash, "proven by a fraud proof")
                store.set_meta(VERDICT_PREFIX + block_hash.hex(), encode(
                    {"proof": engine.found_proofs[block_hash], "reason": reason, "at": at}))
            if drift_changed:
                store.set_meta(DRIFT_KEY, encode(
                    [[p, total.hex(), n] for p, (total, n) in sorted(drift.items())]))
        engine.saved_verdicts.update(fresh)
        engine.saved_drift = drift
    return len(fresh)


def load_verdicts(engine: RLPowEngine) -> int:
    """Restore the stored verdicts, oldest first; returns how many. Raises `StoreError`
    naming the entry when one is damaged."""
    from learnchain.consensus.rlpow_fraud import FraudProof, FraudProofError

    entries = []
    for key, value in engine.chain.store.meta_items(VERDICT_PREFIX):
        try:
            entry = decode(value)
            data, reason, at = entry["proof"], entry["reason"], entry["at"]
            if not (isinstance(data, bytes) and isinstance(reason, str)
                    and type(at) is int):
                raise TypeError("proof, reason or time of the wrong type")
            proof = FraudProof.from_bytes(data)
        except (EncodingError, FraudProofError, KeyError, TypeError) as exc:
            raise StoreError(f"stored fraud-proof verdict {key!r} is damaged: {exc}") from None
        if key != VERDICT_PREFIX + proof.block_hash.hex():
            raise StoreError(f"stored fraud-proof verdict {key!r} holds the proof of another "
                             f"block (0x{proof.block_hash.hex()[:16]})")
        entries.append((at, proof.block_hash, proof.header.proposer, reason, data))
    for _, block_hash, proposer, reason, data in sorted(entries):
        engine.proven_invalid[block_hash] = reason
        engine.convicted.setdefault(proposer, block_hash)
        engine.remember_proof(block_hash, data)
        engine.saved_verdicts.add(block_hash)
    _load_drift(engine)
    return len(entries)


def _load_drift(engine: RLPowEngine) -> None:
    data = engine.chain.store.get_meta(DRIFT_KEY)
    if data is None:
        return
    try:
        totals = {}
        for proposer, total, n in decode(data):
            if not (isinstance(proposer, bytes) and len(proposer) == 20
                    and isinstance(total, str) and type(n) is int and n >= 0):
                raise TypeError("an entry is not (address, float hex, count)")
            totals[proposer] = (float.fromhex(total), n)
    except (EncodingError, TypeError, ValueError) as exc:
        raise StoreError(f"stored drift ledger {DRIFT_KEY!r} is damaged: {exc}") from None
    engine.drift.totals.update(totals)
    engine.saved_drift = dict(engine.drift.totals)
