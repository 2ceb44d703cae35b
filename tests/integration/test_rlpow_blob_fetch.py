"""Off-chain blobs fetched on demand: a verifier needs only what its own audits read.

A block whose blobs exceed the inline limit travels with its manifest and θ_before; each peer
asks for the learner states of the steps it chose to replay. Narratives run real nodes over
the simulated network.
"""

from __future__ import annotations

import pytest

from learnchain.net import p2p
from learnchain.sim.network import LinkModel, SimNetwork
from learnchain.sim.rlpow_chains import keys_for, local_chain, rlpow_genesis
from learnchain.storage.blobstore import cid_of_digest
from learnchain.testing import ManualClock

PARAMS = {"K": 6, "audit_steps": 1, "learning_starts": 3}


def test_a_verifier_needs_the_manifest_and_theta_then_only_its_audited_states():
    keys = keys_for(2, "fetch-unit")
    genesis = rlpow_genesis(keys, params=PARAMS)
    clock = ManualClock()
    prover, verifier = (local_chain(genesis, keys, clock=clock) for _ in range(2))
    for h in range(4):
        block = prover.produce(keys[h % 2])
        verifier.engine.accept_sidecar(prover.engine.sidecar(block))
        verifier.chain.add_block(block)
    block = prover.produce(keys[0])
    full = prover.engine.sidecar(block)
    essentials = prover.engine.sidecar(block, limit=1)
    fields = block.header.engine_fields
    assert set(essentials) == {cid_of_digest(fields["work"]), cid_of_digest(fields["theta"])}
    assert len(full) > len(essentials) + 3

    assert verifier.engine.missing_blobs(block) == [fields["work"]]  # θ is its last θ_after
    verifier.engine.accept_sidecar(essentials)
    audit = verifier.engine.missing_blobs(block)
    assert 1 <= len(audit) <= 3, "one audited step reads at most params, optimiser, target"
    assert all(cid_of_digest(d) in full for d in audit)
    verifier.engine.accept_sidecar({cid_of_digest(d): full[cid_of_digest(d)] for d in audit})
    assert verifier.engine.missing_blobs(block) == []
    verifier.chain.add_block(block)
    assert verifier.chain.head_hash == block.hash
    assert prover.engine.missing_blobs(block) == [], "a proposer holds its own work"


def _network(n: int, params: dict, seed: int = 2) -> SimNetwork:
    keys = keys_for(n, f"fetch-{seed}")
    return SimNetwork(rlpow_genesis(keys, params=params), keys, seed=seed,
                      link=LinkModel(median_ms=20, sigma=0.1))


def test_gossiped_blocks_above_the_inline_limit_fetch_what_each_peer_audits(monkeypatch):
    monkeypatch.setattr(p2p, "INLINE_SIDECAR_BYTES", 1)
    net = _network(3, PARAMS)
    net.connect_all()
    net.run(2)
    names = list(net.nodes)
    for i in range(9):
        net.at(3 + i, net.nodes[names[i % 3]].node.produce_block)
    net.run(15)
    net.settle(10)
    assert net.converged() and {n.chain.height for n in net.nodes.values()} == {9}
    for sim in net.nodes.values():
        assert sim.p2p.stats.blobs_fetched > 0
        assert sim.chain.engine.stats["audited_steps"] > 0
        assert sim.p2p.stats.blobs_unavailable == 0 and not sim.p2p.awaiting
    by_address = {sim.key.address: sim for sim in net.nodes.values()}
    for sim in net.nodes.values():
        named = held = 0
        for h in range(1, 10):
            block = sim.chain.block_at(h)
            if block.header.proposer == sim.key.address:
                continue
            full = by_address[block.header.proposer].chain.engine.sidecar(block)
            named += len(full)
            held += sum(sim.chain.engine.blobs.has(cid) for cid in full)
        assert held < named, "a peer fetches the states it audits, not every step's"


@pytest.mark.timeout(240)
def test_a_block_whose_blobs_exceed_a_frame_syncs_to_a_late_node():
    """K = 160 steps of CartPole learner state is about 9 MB, over the 8 MiB frame limit."""
    net = _network(2, {"K": 160, "audit_steps": 1, "learning_starts": 2})
    producer = net.nodes["n0"]
    for i in range(3):
        net.at(1 + i, producer.node.produce_block)
    net.run(5)
    head = producer.chain.head
    assert head.height == 3 and head.engine_fields["k"] == 160
    assert sum(len(b) for b in producer.chain.engine.sidecar(producer.chain.block_at(3))
               .values()) > 8 * 1024 * 1024
    net.connect("n1", "n0")
    net.settle(30)
    late = net.nodes["n1"]
    assert late.chain.head_hash == head.hash
    assert late.chain.engine.stats["audited_steps"] >= 2
    assert late.p2p.stats.blobs_fetched > 0


def test_blobs_no_peer_holds_drop_the_block_unjudged_until_a_holder_connects(monkeypatch):
    monkeypatch.setattr(p2p, "INLINE_SIDECAR_BYTES", 1)
    net = _network(3, PARAMS, seed=5)
    for name, sim in net.nodes.items():  # fixed audit choices: a reproducible narrative
        sim.chain.engine.audit_salt = name.encode()
    net.connect("n0", "n1")
    net.run(2)
    for i in range(5):
        net.at(3 + i, net.nodes["n0"].node.produce_block)
    net.run(10)
    assert net.nodes["n1"].chain.height == 5
    net.partition(["n0"], ["n1", "n2"])
    net.connect("n2", "n1")
    net.settle(20)
    late = net.nodes["n2"]
    # n1 holds only the states of the steps it audited; n2 audits others (its own salt).
    assert late.chain.height < 5 and late.p2p.stats.blobs_unavailable > 0
    assert not late.chain.invalid, "unavailable data is not a verdict on the block"
    net.heal()
    net.connect("n2", "n0")
    net.settle(30)
    assert late.chain.head_hash == net.nodes["n0"].chain.head_hash


def test_a_peer_serving_corrupted_blobs_is_banned_and_an_honest_one_completes_the_sync(
        monkeypatch):
    monkeypatch.setattr(p2p, "INLINE_SIDECAR_BYTES", 1)
    net = _network(3, PARAMS, seed=7)
    liar = net.nodes["n1"]
    honest_blob = liar.chain.engine.blob
    monkeypatch.setattr(liar.chain.engine, "blob",
                        lambda digest: None if (b := honest_blob(digest)) is None
                        else bytes([b[0] ^ 1]) + b[1:])
    net.connect("n0", "n1")
    net.run(2)
    for i in range(6):
        net.at(3 + i, net.nodes["n0"].node.produce_block)
    net.run(10)
    assert liar.chain.height == 6, "the liar itself verified the blocks it got from n0"
    late = net.nodes["n2"]
    net.connect("n2", "n1")
    net.settle(20)
    assert late.chain.height < 6 and not late.chain.invalid
    assert late.p2p.stats.penalties > 0
    assert "n1" not in late.p2p.peers and liar.key.address in late.p2p.banned
    net.connect("n2", "n0")
    net.settle(30)
    assert late.chain.head_hash == net.nodes["n0"].chain.head_hash


def test_a_fetch_plan_that_misses_blobs_recovers_from_what_the_refusal_names(monkeypatch):
    """If a node plans its fetch wrongly (e.g. the audit count changed by governance since the
    block), verification refuses the block as DataUnavailable naming the blobs; the node
    remembers no verdict, fetches exactly those, and imports the block at the next sync."""
    monkeypatch.setattr(p2p, "INLINE_SIDECAR_BYTES", 1)
    net = _network(2, PARAMS, seed=9)
    planner = net.nodes["n1"].chain.engine
    first_phase_only = planner.missing_blobs
    monkeypatch.setattr(planner, "missing_blobs",
                        lambda block: [d for d in first_phase_only(block)
                                       if d in (block.header.engine_fields["work"],
                                                block.header.engine_fields["theta"])])
    net.connect("n0", "n1")
    net.run(2)
    for i in range(6):
        net.at(3 + i, net.nodes["n0"].node.produce_block)
    net.run(10)
    net.settle(60)
    n1 = net.nodes["n1"]
    assert n1.chain.head_hash == net.nodes["n0"].chain.head_hash
    assert not n1.chain.invalid and n1.p2p.refetch, "refusals were recorded, not verdicts"
    assert n1.chain.engine.stats["audited_steps"] > 0
