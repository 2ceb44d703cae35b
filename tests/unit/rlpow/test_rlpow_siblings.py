"""design=uncles with real nodes (``Node``): siblings reach the chain as uncles.

Two routes: a natural fork (two nodes propose at one height before seeing each other's block;
the loser is a side block that the next proposer finds in its store) and the sibling worker
(``rlpow_siblings``: every node keeps a candidate on the head and publishes it when a peer
wins the height). Nodes are in-process ``learnchain.testing`` nodes that exchange blocks and
their sidecars the way the peer layer does.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

import pytest

from learnchain.consensus.rlpow import RLPowEngine
from learnchain.consensus.rlpow_siblings import SiblingWorker, attach_siblings
from learnchain.consensus.rlpow_uncles import UncleInfo, uncle_blob
from learnchain.core.chain import AddStatus
from learnchain.core.encoding import sha256
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block
from learnchain.ml import dqn
from learnchain.sim.rlpow_chains import rlpow_genesis
from learnchain.testing import ManualClock, TestNode, dev_key, make_node

PARAMS = {"K": 2, "audit_steps": 2, "learning_starts": 4}
NAMES = ("ann", "bob", "cyd")


def network(design: str = "uncles") -> list[TestNode]:
    genesis = rlpow_genesis([dev_key(n) for n in NAMES], params=PARAMS, design=design)
    clock = ManualClock()
    nodes = [make_node(genesis, name, clock=clock) for name in NAMES]
    for i, node in enumerate(nodes):
        node.chain.engine.audit_salt = f"salt-{i}".encode()
    return nodes


def relay(src: TestNode, block: Block, to: list[TestNode]) -> None:
    """What the peer layer does with a block: its sidecar first, then the import."""
    for dst in to:
        if dst is not src:
            dst.chain.engine.accept_sidecar(src.chain.engine.sidecar(block))
            dst.node.import_block(block)


def gossip(nodes: list[TestNode]) -> None:
    """Every block a node makes (its own or a published sibling) reaches every other node."""
    for node in nodes:
        node.node.on_produced.append(lambda b, n=node: relay(n, b, nodes))


def engine(node: TestNode) -> RLPowEngine:
    eng = node.chain.engine
    assert isinstance(eng, RLPowEngine)
    return eng


def digest(block: Block) -> bytes:
    return sha256(uncle_blob(block))


def uncle_reward(block: Block) -> int:
    return block.header.engine_fields["mint"] * 7 // 8


def test_a_natural_fork_loser_is_the_next_blocks_uncle_on_every_node():
    """Ann and Bob propose at one height before seeing each other's block: Bob's block is a
    side block at Ann's node, and Ann's next block includes it as an uncle; all agree, and
    Bob (who never won a height) is paid the uncle reward on every node."""
    nodes = network()
    ann, bob, cyd = nodes
    for _ in range(5):  # past learning_starts: the fork's blocks carry audited work
        relay(ann, ann.mine()[0], nodes)
    ann.clock.advance(1000)
    a, b = ann.node.produce_block(), bob.node.produce_block()
    assert a is not None and b is not None and a.parent == b.parent
    assert b.header.engine_fields["k"] == PARAMS["K"]
    relay(ann, a, nodes)
    relay(bob, b, nodes)
    nxt = ann.mine()[0]
    assert nxt.header.engine_fields["uncles"] == [digest(b)]
    relay(ann, nxt, nodes)
    assert {n.chain.head_hash for n in nodes} == {nxt.hash}
    assert all(n.balance("bob") == uncle_reward(b) for n in nodes)
    assert engine(cyd).stats["audited_steps"] > 0


def test_sibling_workers_bring_every_nodes_work_to_the_chain():
    """Only Ann ever wins a height. Bob's and Cyd's workers keep a candidate on each head and
    publish it when Ann's block arrives: every block after the first has both as uncles, the
    shared history gets N transitions per height, and all nodes agree."""
    nodes = network()
    ann, _, cyd = nodes
    gossip(nodes)
    workers = [SiblingWorker(n.node) for n in nodes]
    published: dict[str, list[Block]] = {"bob": [], "cyd": []}
    blocks = []
    for _ in range(7):
        for w in workers:
            w.step()  # build on the head
        blocks.append(ann.mine()[0])
        for w, n in zip(workers, nodes, strict=True):
            sib = w.step()  # publish: a peer won the height
            if sib is not None:
                published[n.name].append(sib)
    assert workers[0].stats["published"] == 0  # Ann won every height herself
    assert len(published["bob"]) == len(published["cyd"]) == 7
    for prev, block in itertools.pairwise(blocks):
        assert block.parent == prev.hash
        expected = sorted(digest(s) for s in (*published["bob"], *published["cyd"])
                          if s.parent == prev.parent)
        assert block.header.engine_fields["uncles"] == expected
    assert {n.chain.head_hash for n in nodes} == {blocks[-1].hash}
    for name in ("bob", "cyd"):  # paid for the siblings that became uncles (all but the last)
        paid = sum(uncle_reward(s) for s in published[name][:-1])
        assert all(n.balance(name) == paid > 0 for n in nodes)
    head = cyd.chain.head
    assert len(engine(cyd)._buffer(None, head.height, head)) == 1 + 6 * 3


def test_a_sibling_that_started_elsewhere_is_not_published():
    """Bob's candidate was built before he knew Cyd's sibling; Ann's block includes it, so
    Bob's candidate did not start from Ann's state: no child of Ann's block could include it,
    and Bob keeps it to himself."""
    nodes = network()
    ann, bob, cyd = nodes
    for _ in range(5):
        relay(ann, ann.mine()[0], nodes)
    ann.clock.advance(1000)
    a, c = ann.node.produce_block(), cyd.node.produce_block()  # a natural fork at height 6
    assert a is not None and c is not None
    relay(ann, a, [bob])  # Bob sees only Ann's block for now
    worker = SiblingWorker(bob.node)
    worker.step()
    assert worker.held is not None and worker.held.header.engine_fields["uncles"] == []
    relay(cyd, c, [ann])
    winner = ann.mine()[0]  # includes Cyd's block
    assert winner.header.engine_fields["uncles"] == [digest(c)]
    relay(ann, winner, [bob])
    assert worker.step() is None
    assert worker.stats == {"built": 2, "published": 0, "not_same_start": 1}


def test_bad_siblings_from_a_peer_are_checked_once_and_never_included():
    """Bob floods Ann with siblings whose reward he invented (each signed, so each is a
    valid side block to store): Ann's proposal checks one of them, includes none, and every
    node accepts her block."""
    nodes = network()
    ann, bob, cyd = nodes
    for _ in range(5):
        relay(ann, ann.mine()[0], nodes)
    ann.clock.advance(1000)
    honest = bob.node.produce_block()
    assert honest is not None
    key = dev_key("bob")
    forged = []
    for i in range(5):  # a lower reward than Ann's block: stored, not adopted
        fields = {**honest.header.engine_fields, "r": honest.header.engine_fields["r"] - 1 - i}
        forged.append(Block(replace(honest.header, engine_fields=fields),
                            honest.transactions).signed(key))
    a = ann.node.produce_block()
    assert a is not None
    relay(ann, a, nodes)
    engine(ann).accept_sidecar(engine(bob).sidecar(honest))
    for block in forged:
        assert ann.node.import_block(block).status is AddStatus.STORED  # unjudged side block
    checked: list[bytes] = []
    eng = engine(ann)
    real_check = eng.check_uncle

    def counting(d, uh, sig, parent, cp):
        checked.append(d)
        return real_check(d, uh, sig, parent, cp)

    eng.check_uncle = counting  # type: ignore[method-assign]
    nxt = ann.mine()[0]
    assert len([d for d in checked if d in {digest(f) for f in forged}]) <= 1
    assert not {digest(f) for f in forged} & set(nxt.header.engine_fields["uncles"])
    relay(ann, nxt, [cyd])
    assert cyd.chain.head_hash == nxt.hash


def test_only_mining_nodes_of_the_uncles_design_get_a_worker():
    lineage = network("lineage")
    assert attach_siblings(lineage[0].node) is None
    with pytest.raises(InvalidBlock, match="design=uncles"):
        SiblingWorker(lineage[0].node)
    observer = make_node(rlpow_genesis([dev_key(n) for n in NAMES], params=PARAMS,
                                       design="uncles"), None)
    assert attach_siblings(observer.node) is None
    assert isinstance(attach_siblings(network()[0].node), SiblingWorker)


def test_a_cached_uncle_check_does_not_vouch_for_another_siblings_child():
    """Cyd's sibling S started from Ann's block B1's state and Ann has checked it as an uncle
    of B1. Dan's block B2 (same height, no uncles) started elsewhere; a child of B2 that lists
    S is refused by Ann exactly as by Bob, who never checked S (no split between nodes that
    had a check cached and nodes that had not)."""
    names = (*NAMES, "dan")
    genesis = rlpow_genesis([dev_key(n) for n in names], params=PARAMS, design="uncles")
    clock = ManualClock()
    nodes = [make_node(genesis, name, clock=clock) for name in names]
    ann, bob, cyd, dan = nodes
    for _ in range(5):
        relay(ann, ann.mine()[0], nodes)
    ann.clock.advance(1000)
    a6, b6 = ann.node.produce_block(), bob.node.produce_block()
    assert a6 is not None and b6 is not None
    relay(ann, a6, nodes)
    relay(bob, b6, [ann, cyd])  # Dan never sees Bob's block
    b1 = ann.mine()[0]
    sib, b2 = cyd.node.produce_block(), dan.node.produce_block()
    assert sib is not None and b2 is not None
    assert b1.header.engine_fields["uncles"] == sib.header.engine_fields["uncles"] == [digest(b6)]
    assert b2.header.engine_fields["uncles"] == [] and b2.header.engine_fields["theta"] != (
        b1.header.engine_fields["theta"])
    relay(cyd, sib, [ann])
    cp = ann.chain.consensus_params()
    assert [i.digest for i in engine(ann).select_uncles(b1.header, cp)] == [digest(sib)]

    # Dan lists S on B2 anyway (his engine is told S is checked; he does not import it).
    eng = engine(dan)
    eng.accept_sidecar(engine(cyd).sidecar(sib))
    d = eng.blobs.put(uncle_blob(sib))
    gp = eng.record(a6.hash)
    tr = dqn.Transition.from_outcome(eng.env, gp.state, sib.header.engine_fields["a"],
                                     eng.validate_transition(sib.header, gp))
    forged = eng._uncle_checked[d] = UncleInfo(d, sib.header, tr,
                                               tuple(sib.header.engine_fields["after"]))
    eng.select_uncles = lambda parent, cp: [forged]  # type: ignore[method-assign]
    dan.clock.advance(1000)
    candidate, _ = dan.chain.build_candidate([], dev_key("dan").address)
    sealed = eng.seal(candidate.header, dan.chain.consensus_params(), threading.Event())
    assert sealed is not None and sealed.engine_fields["uncles"] == [d]
    c2 = Block(sealed, ()).signed(dev_key("dan"))
    for verifier in (ann, bob):
        relay(dan, b2, [verifier])
        verifier.chain.engine.accept_sidecar(eng.sidecar(c2))
        with pytest.raises(InvalidBlock, match="did not start from the parent's learner state"):
            verifier.node.import_block(c2)
    assert ann.chain.head_hash == b1.hash
