"""Fraud-proof verdicts survive a restart (consensus/rlpow_verdicts.py): a node stopped and
started again still refuses the convicted key's blocks and still holds the proof to pass on;
a damaged stored verdict stops the node with a message naming it; a convicted key cannot
make a node replay and store a step for every further bad block it signs; and the cumulative
drift sums come back exactly.
"""

from __future__ import annotations

import pytest

from learnchain.consensus.rlpow import RLPowEngine
from learnchain.consensus.rlpow_fraud import FraudProof, apply_fraud_proof, step_proof
from learnchain.consensus.rlpow_verdicts import DRIFT_KEY, VERDICT_PREFIX, save_verdicts
from learnchain.core.encoding import encode
from learnchain.core.errors import InvalidBlock, StoreError
from learnchain.core.types import Block
from learnchain.node import open_chain
from learnchain.sim.rlpow_chains import (
    LocalChain,
    audit_salt_for,
    keys_for,
    local_chain,
    rlpow_genesis,
    swap_last_step,
)

K = 4


def _proof(prover: LocalChain, bad: Block) -> FraudProof:
    return step_proof(prover.engine, bad, K - 1)


@pytest.fixture
def world(tmp_path):
    keys = keys_for(2, "verdicts")
    genesis = rlpow_genesis(keys, params={"K": K, "audit_steps": 1, "learning_starts": 3})
    prover = local_chain(genesis, keys)
    honest = [prover.produce(keys[h % 2]) for h in range(5)]
    bad = swap_last_step(prover.engine, prover.propose(keys[0]), keys[0])
    prover.engine._own.add(bad.hash)
    prover.chain.add_block(bad)
    path = tmp_path / "verifier.sqlite"
    verifier = open_chain(path, genesis, clock=prover.clock)
    for block in honest:
        verifier.engine.accept_sidecar(prover.engine.sidecar(block))
        verifier.add_block(block)
    return prover, verifier, path, genesis, keys, bad


def _reopen(verifier, path, genesis, clock):
    verifier.store.close()
    again = open_chain(path, genesis, clock=clock)
    assert isinstance(again.engine, RLPowEngine)
    return again


def test_a_verdict_from_a_peer_proof_survives_a_restart(world):
    prover, verifier, path, genesis, keys, bad = world
    verdict = apply_fraud_proof(verifier.engine, _proof(prover, bad))
    reason = verdict.reason

    again = _reopen(verifier, path, genesis, prover.clock)
    engine = again.engine
    assert engine.convicted == {keys[0].address: bad.hash}
    assert engine.proven_invalid == {bad.hash: reason}
    assert FraudProof.from_bytes(engine.found_proofs[bad.hash]).block_hash == bad.hash
    prover.chain.invalidate(bad.hash, "test: the prover drops its own bad block")
    next_block = prover.propose(keys[0])
    engine.accept_sidecar(prover.engine.sidecar(next_block))
    with pytest.raises(InvalidBlock, match="banned as a miner"):
        again.add_block(next_block)


def test_a_verdict_from_our_own_audit_is_saved_after_the_import(world):
    prover, verifier, path, genesis, keys, bad = world
    verifier.engine.audit_salt = audit_salt_for(bad.hash, K, K - 1)
    verifier.engine.accept_sidecar(prover.engine.sidecar(bad))
    with pytest.raises(InvalidBlock, match="do not reproduce"):
        verifier.add_block(bad)
    assert save_verdicts(verifier.engine) == 1 and save_verdicts(verifier.engine) == 0

    engine = _reopen(verifier, path, genesis, prover.clock).engine
    assert engine.convicted == {keys[0].address: bad.hash} and bad.hash in engine.found_proofs


def test_a_damaged_stored_verdict_is_named(world):
    prover, verifier, path, genesis, _, bad = world
    apply_fraud_proof(verifier.engine, _proof(prover, bad))
    with verifier.store.transaction():
        verifier.store.set_meta(VERDICT_PREFIX + bad.hash.hex(), b"\xa1\x61x\x01")
    verifier.store.close()
    with pytest.raises(StoreError, match=f"verdict '{VERDICT_PREFIX}{bad.hash.hex()}'"):
        open_chain(path, genesis, clock=prover.clock)


def test_a_convicted_key_cannot_make_a_node_replay_each_further_bad_block(world, monkeypatch):
    prover, verifier, _, _, keys, bad = world
    apply_fraud_proof(verifier.engine, _proof(prover, bad))
    prover.chain.invalidate(bad.hash, "test: the prover drops its own bad block")
    second = swap_last_step(prover.engine, prover.propose(keys[0]), keys[0])
    prover.engine._own.add(second.hash)
    prover.chain.add_block(second)

    def no_replay(*_a, **_k):
        raise AssertionError("the step was replayed")

    monkeypatch.setattr("learnchain.consensus.rlpow_fraud.check_fraud_proof", no_replay)
    verdict = apply_fraud_proof(verifier.engine, _proof(prover, second))
    assert not verdict.new and "already convicted" in verdict.reason
    assert second.hash not in verifier.engine.found_proofs
    assert second.hash not in verifier.engine.saved_verdicts


def test_the_drift_sums_survive_a_restart_exactly(world):
    prover, verifier, path, genesis, keys, _ = world
    verifier.engine.drift.totals[keys[1].address] = (0.1 + 0.2 + 3.3e-5, 7)
    save_verdicts(verifier.engine)
    engine = _reopen(verifier, path, genesis, prover.clock).engine
    assert engine.drift.totals == {keys[1].address: (0.1 + 0.2 + 3.3e-5, 7)}


@pytest.mark.parametrize("junk", [b"\x01", encode([[b"short", "0x1p-3", 1]]),
                                  encode([[bytes(20), "not hex", 1]]),
                                  encode([[bytes(20), "0x1p-3", -1]])])
def test_a_damaged_drift_ledger_is_named(world, junk):
    prover, verifier, path, genesis, _, _ = world
    with verifier.store.transaction():
        verifier.store.set_meta(DRIFT_KEY, junk)
    verifier.store.close()
    with pytest.raises(StoreError, match="drift ledger 'rlpow/drift' is damaged"):
        open_chain(path, genesis, clock=prover.clock)
