"""design=uncles: every node's candidate work enters the shared learner, checked like a block."""

from __future__ import annotations

from dataclasses import replace

import pytest

from learnchain.consensus.rlpow import Manifest, RLPowEngine
from learnchain.consensus.rlpow_uncles import UncleInfo, uncle_blob
from learnchain.core.errors import ConfigError, InvalidBlock
from learnchain.core.types import Block
from learnchain.ml import dqn
from learnchain.ml.multi import merge_states
from learnchain.sim.rlpow_chains import LocalChain, keys_for, local_chain, rlpow_genesis
from learnchain.storage.blobstore import cid_of_digest
from learnchain.testing import ManualClock

PARAMS = {"K": 2, "audit_steps": 2, "learning_starts": 6}


def pair(n: int = 3) -> tuple[LocalChain, LocalChain, list]:
    keys = keys_for(n, "uncles")
    genesis = rlpow_genesis(keys, params=PARAMS, fork_choice="longest", design="uncles")
    clock = ManualClock()
    prover, verifier = local_chain(genesis, keys, clock=clock), local_chain(genesis, keys,
                                                                              clock=clock)
    verifier.engine.audit_salt = b"verifier"
    return prover, verifier, keys


def relay(src: LocalChain, dst: LocalChain, block: Block) -> None:
    dst.engine.accept_sidecar(src.engine.sidecar(block))
    dst.chain.add_block(block)


def race(local: LocalChain, keys: list, winner: int) -> list[Block]:
    """Every key builds a candidate on the head; `winner`'s is imported, the rest offered."""
    cands = [local.propose(k, 1000 if i == 0 else 0) for i, k in enumerate(keys)]
    local.chain.add_block(cands[winner])
    for i, c in enumerate(cands):
        if i != winner:
            local.engine.offer_uncle(c)
    return cands


def test_every_candidate_enters_the_shared_history_and_a_second_node_agrees():
    prover, verifier, keys = pair()
    for h in range(8):
        race(prover, keys, h % 3)
        relay(prover, verifier, prover.chain.get_block(prover.chain.head_hash))
    head = verifier.chain.head
    assert verifier.chain.head_hash == prover.chain.head_hash
    assert len(head.engine_fields["uncles"]) == 2
    eng = verifier.engine
    assert len(eng._buffer(None, 8, head)) == 1 + 7 * 3  # N transitions per height
    assert eng.stats["audited_steps"] > 0  # the uncles' and the blocks' proofs were audited
    # the start every block trains from is the mean of its parent's and its uncles' θ_after
    rec = eng.record(head.hash)
    parent = verifier.chain.get_header(head.parent)
    states = [dqn.LearnerState(*[eng.blobs.get(d) for d in parent.engine_fields["after"]])]
    for d in head.engine_fields["uncles"]:
        uh = Block.decode(eng.blobs.get(d)).header
        states.append(dqn.LearnerState(*[eng.blobs.get(x) for x in uh.engine_fields["after"]]))
    assert rec.start is not None and rec.start.params == dqn.params_hash(
        merge_states(states).params)
    assert head.engine_fields["theta"] == rec.start.params


def test_uncle_proposers_are_paid_a_share_of_their_uncles_mint():
    prover, _, keys = pair()
    for _ in range(4):
        race(prover, keys, 0)  # key 0 always wins; keys 1 and 2 only ever produce uncles
    bank = [prover.chain.query("bank", "balance", {"address": k.address}) for k in keys]
    assert bank[1] > 0 and bank[2] > 0 and bank[0] > bank[1]
    head = prover.chain.head
    uncle_mints = [Block.decode(prover.engine.blobs.get(d)).header.engine_fields["mint"]
                   for d in head.engine_fields["uncles"]]
    assert [a for _, a in prover.engine.extra_rewards(head, prover.chain.consensus_params())
            ] == [m * 7 // 8 for m in uncle_mints]


def test_a_height_without_uncles_continues_the_single_learner_exactly():
    state = dqn.LearnerState(b"p" * 0 + dqn.init_params(dqn.NetSpec(4, 2, (8,)), b"x"),
                             dqn.init_opt_bytes(dqn.init_params(dqn.NetSpec(4, 2, (8,)), b"x"),
                                                dqn.DQNConfig(hidden=(8,))),
                             dqn.init_params(dqn.NetSpec(4, 2, (8,)), b"x"))
    assert merge_states([state]) == state
    assert merge_states([state, state]) == state  # the mean of equal values is exact


def _forge(key, block: Block, **fields) -> Block:
    header = replace(block.header, engine_fields={**block.header.engine_fields, **fields})
    return Block(header, ()).signed(key)


def _inject(local: LocalChain, uncle: Block, honest: Block) -> None:
    """A malicious proposer: lists `uncle` without checking it (its own engine trusts it)."""
    eng = local.engine
    data = uncle_blob(uncle)
    d = eng.blobs.put(data)
    tr = eng.record(honest.parent).transition  # placeholder, only the prover's view
    assert tr is not None
    eng._uncle_checked[d] = UncleInfo(d, uncle.header, tr,
                                      tuple(uncle.header.engine_fields["after"]))
    eng._uncle_pool.setdefault(honest.parent, {})[d] = data


def _setup(k_wins: int = 5):
    prover, verifier, keys = pair()
    for _ in range(k_wins):
        race(prover, keys, 0)
        relay(prover, verifier, prover.chain.get_block(prover.chain.head_hash))
    return prover, verifier, keys


def _child_with(prover, verifier, keys, forge) -> None:
    """Race a height, forge a loser into an uncle, build the child that lists it, relay."""
    cands = [prover.propose(k, 1000 if i == 0 else 0) for i, k in enumerate(keys)]
    prover.chain.add_block(cands[0])
    relay(prover, verifier, cands[0])
    bad = forge(cands)
    prover.engine._uncle_pool.pop(cands[0].parent, None)
    _inject(prover, bad, cands[1])
    forged = prover.engine._uncle_checked[dqn.params_hash(uncle_blob(bad))]
    prover.engine.select_uncles = lambda parent, cp: [forged]  # lists it unchecked
    child = prover.propose(keys[0])
    assert uncle_blob(bad) and child.header.engine_fields["uncles"]
    verifier.engine.accept_sidecar(prover.engine.sidecar(child))
    return child


@pytest.mark.parametrize(("forge", "message"), [
    (lambda keys, c: _forge(keys[1], c[1], r=c[1].header.engine_fields["r"] + 10**9),
     "reward does not replay"),
    (lambda keys, c: Block(replace(c[1].header, parent=c[0].hash), ()).signed(keys[1]),
     "sibling of the parent"),
    (lambda keys, c: _forge(keys[1], c[1], theta=c[1].header.engine_fields["after"][0],
                            theta_cid=cid_of_digest(c[1].header.engine_fields["after"][0])),
     "did not start from the parent's learner state"),
    (lambda keys, c: Block(c[1].header, (), c[2].signature), "signature"),
])
def test_a_bad_uncle_is_refused_like_a_bad_block(forge, message):
    prover, verifier, keys = _setup()
    child = _child_with(prover, verifier, keys, lambda c: forge(keys, c))
    with pytest.raises(InvalidBlock, match=message):
        verifier.chain.add_block(child)


def test_an_uncle_that_copies_the_winners_work_is_caught_by_the_audit():
    """Claiming an uncle reward with someone else's proof: the steps replay with the
    uncle's own minibatch coins and transition, so they do not reproduce."""
    prover, verifier, keys = _setup()

    def copied(c: list[Block]) -> Block:
        won = c[0].header.engine_fields
        return _forge(keys[1], c[1], work=won["work"], after=won["after"])

    child = _child_with(prover, verifier, keys, copied)
    with pytest.raises(InvalidBlock, match="uncle rejected: training steps do not reproduce"):
        verifier.chain.add_block(child)


def test_an_uncle_whose_proof_does_not_end_at_its_after_is_refused():
    prover, verifier, keys = _setup()

    def lazy(c: list[Block]) -> Block:
        uf = c[1].header.engine_fields
        m = Manifest.from_bytes(prover.engine.blobs.get(uf["work"]))
        fake = Manifest(m.step0, m.start, tuple(m.start for _ in m.steps), m.compute)
        return _forge(keys[1], c[1], work=prover.engine.blobs.put(fake.to_bytes()))

    child = _child_with(prover, verifier, keys, lazy)
    with pytest.raises(InvalidBlock, match="does not end at the committed"):
        verifier.chain.add_block(child)


def test_two_uncles_of_one_proposer_are_refused():
    """The same identity's work counted twice (a re-timed copy of its candidate)."""
    prover, verifier, keys = _setup()
    cands = [prover.propose(k, 1000 if i == 0 else 0) for i, k in enumerate(keys)]
    prover.chain.add_block(cands[0])
    relay(prover, verifier, cands[0])
    again = Block(replace(cands[1].header, timestamp_ms=cands[1].header.timestamp_ms + 1),
                  ()).signed(keys[1])
    for b in (cands[1], again):
        _inject(prover, b, cands[1])
    mine = {dqn.params_hash(uncle_blob(b)) for b in (cands[1], again)}  # sha256 of the blob
    infos = sorted((i for i in prover.engine._uncle_checked.values() if i.digest in mine),
                   key=lambda i: i.digest)
    prover.engine.select_uncles = lambda parent, cp: infos  # a proposer that lists both
    child = prover.propose(keys[0])
    assert len(child.header.engine_fields["uncles"]) == 2
    verifier.engine.accept_sidecar(prover.engine.sidecar(child))
    with pytest.raises(InvalidBlock, match="already has work at this height"):
        verifier.chain.add_block(child)


def test_the_design_is_a_genesis_choice_and_needs_shared_replay():
    with pytest.raises(ConfigError, match="design must be one of"):
        RLPowEngine({"design": "gossip"})
    with pytest.raises(ConfigError, match="shared history"):
        RLPowEngine({"design": "uncles", "replay": "own"})
    assert RLPowEngine({}).design == "lineage"
