"""Fraud proofs under design=uncles: a bad step in a block that starts from a merged state and
trains on its uncles' transitions is proven by one verifier and checked by every node.

The lineage-design narrative is tests/adversarial/test_rlpow_security.py; rules in
consensus/rlpow_fraud.py (``block_history``) and docs/consensus-rlpow.md §4, §8.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from learnchain.consensus.rlpow import Manifest
from learnchain.consensus.rlpow_fraud import (
    MAX_PROOF_BYTES,
    FraudProof,
    FraudProofError,
    Unverifiable,
    apply_fraud_proof,
    check_fraud_proof,
)
from learnchain.consensus.rlpow_uncles import uncle_blob
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block
from learnchain.ml import dqn
from learnchain.sim.rlpow_chains import (
    LocalChain,
    audit_salt_for,
    keys_for,
    local_chain,
    rlpow_genesis,
    swap_last_step,
)
from learnchain.testing import ManualClock

K = 2
PARAMS = {"K": K, "audit_steps": 1, "learning_starts": 4}


def relay(src: LocalChain, dst: LocalChain, block: Block) -> None:
    dst.engine.accept_sidecar(src.engine.sidecar(block))
    dst.chain.add_block(block)


def network(n_others: int, heights: int = 3) -> tuple[LocalChain, list[LocalChain], list]:
    """A prover whose every height has all three keys' candidates (the losers offered as
    uncles), and `n_others` nodes that received the canonical blocks (with their uncles)."""
    keys = keys_for(3, "ufraud")
    genesis = rlpow_genesis(keys, params=PARAMS, fork_choice="longest", design="uncles")
    clock = ManualClock()
    prover = local_chain(genesis, keys, clock=clock)
    others = [local_chain(genesis, keys, clock=clock) for _ in range(n_others)]
    for i, node in enumerate(others):
        node.engine.audit_salt = f"node {i}".encode()
    for h in range(heights):
        cands = [prover.propose(k, 1000 if i == 0 else 0) for i, k in enumerate(keys)]
        winner = h % 3
        prover.chain.add_block(cands[winner])
        for i, c in enumerate(cands):
            if i != winner:
                prover.engine.offer_uncle(c)
        for node in others:
            relay(prover, node, cands[winner])
    return prover, others, keys


def salt_auditing(block_hash: bytes, step: int) -> bytes:
    return audit_salt_for(block_hash, K, step)


def last_step_swap(prover: LocalChain, key, step_ms: int = 1000) -> Block:
    """An uncles-design block (merged start, uncles listed) whose last commitment is a
    pre-trained network instead of the K-th step."""
    block = prover.propose(key, step_ms)
    assert block.header.engine_fields["uncles"] and block.header.engine_fields["k"] == K
    return swap_last_step(prover.engine, block, key)


def test_a_bad_step_in_an_uncles_block_is_proven_once_and_checked_by_every_node():
    prover, (finder, lucky, bystander), keys = network(3)
    bad = last_step_swap(prover, keys[1])
    finder.engine.audit_salt = salt_auditing(bad.hash, K - 1)
    lucky.engine.audit_salt = salt_auditing(bad.hash, 0)

    relay(prover, lucky, bad)  # its audit replays step 0, which is honest
    assert lucky.chain.head_hash == bad.hash
    with pytest.raises(InvalidBlock, match="training steps do not reproduce"):
        relay(prover, finder, bad)
    proof = FraudProof.from_bytes(finder.engine.found_proofs[bad.hash])
    assert proof.step == K - 1
    assert sorted(proof.uncles) == bad.header.engine_fields["uncles"]

    verdict = apply_fraud_proof(lucky.engine, proof)
    assert verdict.new and verdict.undone == 1
    assert lucky.chain.head_hash == bad.parent and bad.hash in lucky.chain.invalid
    with pytest.raises(InvalidBlock, match="already rejected"):
        lucky.chain.add_block(bad)

    # A node that never saw the block nor its uncles checks it from the proof alone.
    assert not any(bystander.engine.blobs.has(d) for d in proof.uncles)
    with pytest.raises(Unverifiable, match="uncle"):
        check_fraud_proof(bystander.engine, replace(proof, uncles={}))
    verdict = apply_fraud_proof(bystander.engine, FraudProof.from_bytes(proof.to_bytes()))
    assert verdict.new and verdict.undone == 0 and bad.hash in bystander.chain.invalid
    for node in (finder, lucky, bystander):
        assert node.engine.convicted == {keys[1].address: bad.hash}

    # The proposer is banned as a miner: its next honest block is refused everywhere.
    again = prover.propose(keys[1])
    for node in (lucky, bystander):
        with pytest.raises(InvalidBlock, match="banned as a miner: a fraud proof convicted"):
            relay(prover, node, again)
    # ... and so is a block that includes its work (its losing candidate) as an uncle.
    other = prover.propose(keys[0])
    assert keys[1].address in [Block.decode(prover.engine.blobs.get(d) or b"").header.proposer
                               for d in other.header.engine_fields["uncles"]]
    with pytest.raises(InvalidBlock, match=r"uncle rejected: proposer .* is banned"):
        relay(prover, lucky, other)


def test_a_proof_against_an_honest_uncles_block_is_refused_as_false():
    prover, (verifier, bystander), keys = network(2)
    honest = prover.propose(keys[1])
    assert honest.header.engine_fields["uncles"]
    relay(prover, verifier, honest)
    m = Manifest.from_bytes(prover.engine.blobs.get(honest.header.engine_fields["work"]) or b"")
    uncles, merge = prover.engine.fraud_context(honest.header)
    for step in range(K):
        blobs = {d: prover.engine.blobs.get(d) or b"" for d in [m.start, *m.steps][step]}
        lie = FraudProof.for_step(honest, m, step, blobs, uncles, merge)
        # replayed on the adopted block's records, and from scratch on the proof's uncles:
        # both reconstruct the merged start and the uncles' transitions the block trained on
        for node in (verifier, bystander):
            with pytest.raises(FraudProofError, match="reproduces its commitment"):
                check_fraud_proof(node.engine, FraudProof.from_bytes(lie.to_bytes()))
    assert verifier.chain.head_hash == honest.hash
    assert not verifier.engine.convicted and not bystander.engine.convicted
    # merge inputs ride along only while the proof stays under its size bound
    big = {hashlib.sha256(b).digest(): b for b in (bytes([i]) * 100_000 for i in range(10))}
    capped = FraudProof.for_step(honest, m, K - 1, blobs, uncles, big)
    assert len(capped.to_bytes()) <= MAX_PROOF_BYTES
    assert 0 < len(set(big) & set(capped.blobs)) < len(big)
    assert FraudProof.from_bytes(capped.to_bytes()) == capped


def test_a_proof_with_a_tampered_uncle_or_blob_is_refused():
    prover, (finder, checker), keys = network(2)
    bad = last_step_swap(prover, keys[1])
    finder.engine.audit_salt = salt_auditing(bad.hash, K - 1)
    with pytest.raises(InvalidBlock):
        relay(prover, finder, bad)
    proof = FraudProof.from_bytes(finder.engine.found_proofs[bad.hash])
    digest, data = next(iter(proof.uncles.items()))
    uncle = Block.decode(data)
    owner = next(k for k in keys if k.address == uncle.header.proposer)
    later = replace(uncle.header, timestamp_ms=uncle.header.timestamp_ms + 1)
    forged_uncle = Block(later, ()).signed(owner)  # a valid signed header, not the listed one
    tampered = replace(proof, uncles={**proof.uncles, digest: uncle_blob(forged_uncle)})
    with pytest.raises(FraudProofError, match="does not list"):
        check_fraud_proof(checker.engine, FraudProof.from_bytes(tampered.to_bytes()))
    plain = decode(proof.to_bytes())
    plain["uncles"] = [b"not an uncle"]
    with pytest.raises(FraudProofError, match="does not list"):
        check_fraud_proof(checker.engine, FraudProof.from_bytes(encode(plain)))
    for junk in ({"uncles": [data, data]}, {"uncles": "x"}, {"extra": 1},
                 {"blobs": [[digest, b"x"]]}):
        with pytest.raises(FraudProofError, match="malformed"):
            FraudProof.from_bytes(encode({**decode(proof.to_bytes()), **junk}))
    assert not checker.engine.convicted
    # the untampered proof still holds on that node
    assert apply_fraud_proof(checker.engine, proof).new


def test_a_bad_step_in_an_included_uncle_is_proven_and_its_includer_falls_with_it():
    prover, (finder, lucky, bystander), keys = network(3)
    winner = prover.propose(keys[0], 1000)
    honest_loser = prover.propose(keys[1], 0)
    bad_uncle = last_step_swap(prover, keys[2], 0)
    prover.chain.add_block(winner)
    for node in (finder, lucky, bystander):
        relay(prover, node, winner)
    prover.engine.offer_uncle(honest_loser)
    prover.engine.offer_uncle(bad_uncle)
    prover.engine._own.add(bad_uncle.hash)  # the cheater's node does not audit its own work
    child = prover.propose(keys[1])
    assert dqn.params_hash(uncle_blob(bad_uncle)) in child.header.engine_fields["uncles"]
    finder.engine.audit_salt = salt_auditing(bad_uncle.hash, K - 1)
    lucky.engine.audit_salt = salt_auditing(bad_uncle.hash, 0)

    relay(prover, lucky, child)  # its audit of the uncle replays step 0, which is honest
    assert lucky.chain.head_hash == child.hash
    with pytest.raises(InvalidBlock, match="uncle rejected: training steps do not reproduce"):
        relay(prover, finder, child)
    proof = FraudProof.from_bytes(finder.engine.found_proofs[bad_uncle.hash])
    assert proof.header == bad_uncle.header and proof.step == K - 1
    assert sorted(proof.uncles) == bad_uncle.header.engine_fields["uncles"]

    # A "proof" against the honest uncle replays it on the history it trained on: refused.
    m = Manifest.from_bytes(prover.engine.blobs.get(honest_loser.header.engine_fields["work"])
                            or b"")
    for step in range(K):
        blobs = {d: prover.engine.blobs.get(d) or b"" for d in [m.start, *m.steps][step]}
        lie = FraudProof.for_step(uncle_blob_block(honest_loser), m, step, blobs,
                                  *prover.engine.fraud_context(honest_loser.header))
        with pytest.raises(FraudProofError, match="reproduces its commitment"):
            check_fraud_proof(lucky.engine, lie)

    verdict = apply_fraud_proof(lucky.engine, proof)
    assert verdict.new and verdict.undone == 1  # the includer, adopted, falls with its uncle
    assert lucky.chain.head_hash == winner.hash and child.hash in lucky.chain.invalid
    assert apply_fraud_proof(bystander.engine, proof).new
    with pytest.raises(InvalidBlock, match="fraud proof showed it invalid"):
        relay(prover, bystander, child)
    for node in (finder, lucky, bystander):
        # the uncle's proposer is convicted; the includer's proposer, whose audit could miss
        # the step, is not
        assert node.engine.convicted == {keys[2].address: bad_uncle.hash}


def uncle_blob_block(block: Block) -> Block:
    """What an uncle digest names, as a block: the signed header without transactions."""
    return Block.decode(uncle_blob(block))
