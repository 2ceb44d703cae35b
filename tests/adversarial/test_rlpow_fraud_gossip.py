"""A fraud proof that a node cannot check yet is kept, not lost (net/fraud_gossip.py).

Narrative: a proof against node 0's bad block reaches a verifier before the block's parent
does (gossip and block sync race each other on a real network). The verifier cannot check it
and says so (``Unverifiable``), but keeps it. The blocks then arrive; the verifier's own
one-step audit misses the swapped step and adopts the bad block. At its next tick the kept
proof is checked against the new head: the block is rolled back and its proposer convicted.
A kept proof that turns out false is dropped; the store of kept proofs is bounded, one peer
holds at most a few of its places, and a proof against a key that is not a miner is not kept. A
peer that connects after a proof went out gets it when its session opens, and a peer that
relays the convicted block is sent the proof rather than punished.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnchain.consensus.rlpow_fraud import FraudProof, FraudProofError, Unverifiable, step_proof
from learnchain.core.types import Block
from learnchain.net import fraud_gossip
from learnchain.net.handshake import INITIAL_SCORE, Peer
from learnchain.sim.network import LinkModel, SimNetwork
from learnchain.sim.rlpow_chains import (
    LocalChain,
    audit_salt_for,
    keys_for,
    local_chain,
    rlpow_genesis,
    swap_last_step,
)

K = 4


def _setup(nodes: int = 1) -> tuple[LocalChain, SimNetwork, list[Block], Block, bytes]:
    keys = keys_for(2, "kept")
    genesis = rlpow_genesis(keys, params={"K": K, "audit_steps": 1, "learning_starts": 3})
    prover = local_chain(genesis, keys)
    honest = [prover.produce(keys[h % 2]) for h in range(5)]
    bad = swap_last_step(prover.engine, prover.propose(keys[0]), keys[0])
    prover.engine._own.add(bad.hash)  # a cheater does not audit itself
    prover.chain.add_block(bad)
    proof = step_proof(prover.engine, bad, K - 1).to_bytes()
    net = SimNetwork(genesis, keys_for(nodes, "verifier"), link=LinkModel(median_ms=1, sigma=0.0),
                     start_ms=prover.clock.now_ms)
    for verifier in net.nodes.values():
        verifier.chain.engine.audit_salt = audit_salt_for(bad.hash, K, 0)  # misses it
    return prover, net, honest, bad, proof


def _deliver(prover: LocalChain, net: SimNetwork, block: Block, name: str = "n0") -> None:
    verifier = net.nodes[name]
    verifier.chain.engine.accept_sidecar(prover.engine.sidecar(block))
    verifier.node.import_block(block)


def test_a_proof_that_arrives_before_its_block_is_kept_and_applied_when_the_block_comes():
    prover, net, honest, bad, proof = _setup()
    verifier = net.nodes["n0"]
    with pytest.raises(Unverifiable, match="parent is not on this node's canonical chain"):
        verifier.p2p.submit_fraud_proof(proof)
    verifier.p2p.tick()  # nothing new to check against: still kept, no verdict
    assert bad.hash not in verifier.chain.engine.proven_invalid

    for block in [*honest, bad]:
        _deliver(prover, net, block)
    assert verifier.chain.head_hash == bad.hash  # its own audit replayed an honest step

    verifier.p2p.tick()
    engine = verifier.chain.engine
    assert verifier.chain.head_hash == bad.parent and bad.hash in verifier.chain.invalid
    assert "training steps do not reproduce" in engine.proven_invalid[bad.hash]
    assert engine.convicted == {bad.header.proposer: bad.hash}
    assert not verifier.p2p._pending_proofs()


def test_a_peer_that_connects_after_a_proof_was_published_still_receives_it():
    """The proof went out while nobody was connected (a node just restarted): the session a
    peer opens later starts with it."""
    prover, net, honest, bad, proof = _setup(nodes=2)
    for name in ("n0", "n1"):
        for block in honest:
            _deliver(prover, net, block, name)
    _deliver(prover, net, bad, "n1")
    assert net.nodes["n1"].chain.head_hash == bad.hash
    verdict = net.nodes["n0"].p2p.submit_fraud_proof(proof)
    assert verdict["new"] and not net.nodes["n0"].p2p.ready_peers()

    net.connect("n1", "n0")
    net.run(2)
    late = net.nodes["n1"]
    assert late.p2p.ready_peers(), "the two nodes did not connect"
    assert bad.hash in late.chain.engine.proven_invalid
    assert late.chain.head_hash == bad.parent
    assert late.chain.engine.convicted == {bad.header.proposer: bad.hash}


def test_a_peer_relaying_a_convicted_block_is_sent_the_proof_not_punished(monkeypatch):
    """The peer adopted the block before anyone proved it bad: it is told, not cut off."""
    monkeypatch.setattr(fraud_gossip, "GREETING_PROOFS", 0)  # only the answer path is left
    prover, net, honest, bad, proof = _setup(nodes=2)
    for name in ("n0", "n1"):
        for block in honest:
            _deliver(prover, net, block, name)
    _deliver(prover, net, bad, "n1")
    net.nodes["n0"].p2p.submit_fraud_proof(proof)

    net.connect("n1", "n0")
    net.run(2)
    judge, relayer = net.nodes["n0"], net.nodes["n1"]
    assert bad.hash in relayer.chain.engine.proven_invalid, "the relayer was not told"
    assert relayer.chain.head_hash == bad.parent
    link = judge.p2p.peers.get("n1")
    assert link is not None and link.score == INITIAL_SCORE
    assert judge.p2p.stats.penalties == 0


def test_a_kept_proof_that_turns_out_false_is_dropped():
    prover, net, honest, _, _ = _setup()
    verifier = net.nodes["n0"]
    honest_block = honest[-1]
    lie = step_proof(prover.engine, honest_block, K - 1).to_bytes()
    with pytest.raises(Unverifiable):
        verifier.p2p.submit_fraud_proof(lie)
    for block in honest:
        _deliver(prover, net, block)
    verifier.p2p.tick()
    assert verifier.chain.head_hash == honest_block.hash
    assert not verifier.chain.engine.proven_invalid and not verifier.p2p._pending_proofs()
    with pytest.raises(FraudProofError, match="reproduce"):
        verifier.p2p.submit_fraud_proof(lie)


def _variants(bad: Block, proof: bytes, key, n: int) -> list[bytes]:
    """The same accusation re-signed under other timestamps: n distinct proofs."""
    decoded = FraudProof.from_bytes(proof)
    out = []
    for i in range(n):
        header = replace(decoded.header, proposer=key.address,
                         timestamp_ms=decoded.header.timestamp_ms + i)
        block = Block(header, ()).signed(key)
        out.append(replace(decoded, header=block.header, signature=block.signature).to_bytes())
    return out


def test_the_proofs_kept_unchecked_are_bounded(monkeypatch):
    _, net, _, bad, proof = _setup()
    p2p = net.nodes["n0"].p2p
    monkeypatch.setattr(fraud_gossip, "MAX_PENDING_PROOFS", 3)
    variants = _variants(bad, proof, keys_for(2, "kept")[0], 5)
    for variant in variants:
        with pytest.raises(Unverifiable):
            p2p.submit_fraud_proof(variant)
    kept = [FraudProof.from_bytes(v).block_hash for v in variants[-3:]]
    assert list(p2p._pending_proofs()) == kept


def test_one_peer_cannot_crowd_out_the_proofs_others_sent():
    _, net, _, bad, proof = _setup()
    p2p = net.nodes["n0"].p2p
    miner = keys_for(2, "kept")[0]
    honest, *flood = _variants(bad, proof, miner, 1 + 3 * fraud_gossip.MAX_PENDING_PER_PEER)
    with pytest.raises(Unverifiable):
        p2p.submit_fraud_proof(honest, source=Peer("honest-peer"))
    for variant in flood:
        with pytest.raises(Unverifiable):
            p2p.submit_fraud_proof(variant, source=Peer("flooder"))
    sources = [src for _, _, src in p2p._pending_proofs().values()]
    assert sources.count("flooder") == fraud_gossip.MAX_PENDING_PER_PEER
    assert sources.count("honest-peer") == 1


def test_a_proof_against_a_key_that_is_not_a_miner_is_not_kept():
    _, net, _, bad, proof = _setup()
    p2p = net.nodes["n0"].p2p
    (stranger_proof,) = _variants(bad, proof, keys_for(1, "not a miner")[0], 1)
    with pytest.raises(Unverifiable):
        p2p.submit_fraud_proof(stranger_proof)
    assert not p2p._pending_proofs()


@pytest.fixture(scope="module")
def judged():
    """A verifier holding the bad block's parent, and a valid proof against the block."""
    prover, net, honest, _, proof = _setup()
    for block in honest:
        _deliver(prover, net, block)
    return net.nodes["n0"].p2p, proof


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_hostile_proof_ends_as_a_documented_error(judged, data):
    """Random bytes, or a valid proof with bytes flipped, cut or appended: the node answers
    with `FraudProofError` (the sender is penalised) or `Unverifiable` (kept), or the proof
    still holds; never another exception."""
    p2p, proof = judged
    kind = data.draw(st.sampled_from(["random", "flip", "cut", "append"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=2048))
    elif kind == "flip":
        at = data.draw(st.integers(0, len(proof) - 1))
        blob = proof[:at] + bytes([proof[at] ^ data.draw(st.integers(1, 255))]) + proof[at + 1:]
    elif kind == "cut":
        blob = proof[:data.draw(st.integers(0, len(proof) - 1))]
    else:
        blob = proof + data.draw(st.binary(min_size=1, max_size=64))
    try:
        verdict = p2p.submit_fraud_proof(blob)
    except (FraudProofError, Unverifiable):
        return
    assert verdict["reason"]  # a proof that still holds: a verdict with its reason
