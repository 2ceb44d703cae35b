"""Finding 1: zero-work side blocks from any key were stored forever and relayed.

Narrative: a node made by `learnchain init` mines two real blocks. An attacker with a fresh
key (not a miner) connects over an open peer list and pushes 30 side blocks of about 100 kB
each that declare difficulty 0 and build on genesis. Before the fix every one of them was
stored and relayed to the victim's other peers. Now the victim checks declared work and the
proposer against governance before storing anything, stores and relays none of them, and
bans the sender.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from learnchain.core.crypto import PrivateKey, load_keystore
from learnchain.core.errors import InvalidBlock
from learnchain.core.genesis import GenesisConfig
from learnchain.core.merkle import EMPTY_ROOT, merkle_root
from learnchain.core.types import Block, BlockHeader, Transaction
from learnchain.scaffold import DEV_PASSWORD, init_datadir
from learnchain.sim.network import LinkModel, SimNetwork
from learnchain.testing import dev_genesis, make_node


def junk_block(genesis: GenesisConfig, key: PrivateKey, parent: bytes, height: int,
               timestamp_ms: int, *, payload: int = 50_000) -> Block:
    txs = tuple(Transaction(genesis.chain_id, key.address, height * 10 + i, "bank", "transfer",
                            {"memo": bytes([i]) * payload}).signed(key) for i in range(2))
    header = BlockHeader(genesis.chain_id, height, parent, timestamp_ms, key.address,
                         merkle_root([tx.hash for tx in txs]), bytes(32), EMPTY_ROOT, "pow",
                         {"difficulty": 0, "extra": 0})
    return Block(header, txs).signed(key)


def test_a_fresh_key_cannot_make_an_init_node_store_or_relay_zero_work_side_blocks(tmp_path):
    init = init_datadir(tmp_path / "victim", light_kdf=True)
    genesis = init.genesis
    victim_key = load_keystore(tmp_path / "victim/keys/node.json", DEV_PASSWORD)
    attacker, bystander = PrivateKey.generate(), PrivateKey.generate()
    net = SimNetwork(genesis, [victim_key, attacker, bystander],
                     link=LinkModel(median_ms=5, sigma=0.1))
    victim, evil, other = net.nodes["n0"], net.nodes["n1"], net.nodes["n2"]
    net.connect("n1", "n0")
    net.connect("n2", "n0")
    net.run(1)
    assert len(victim.p2p.ready_peers()) == 2

    # The victim mines two real blocks (difficulty 14 from `learnchain init`).
    for _ in range(2):
        net.scheduler.now_ms += 1000
        assert victim.node.produce_block() is not None
    net.run(1)
    assert other.chain.height == 2

    # The attacker pushes 30 zero-work side blocks of ~100 kB built on genesis.
    link = evil.p2p.ready_peers()[0]
    parent, sent = victim.chain.genesis_block.hash, []
    for height in range(1, 31):
        block = junk_block(genesis, attacker, parent, height, genesis.timestamp_ms + height)
        evil.p2p.send(link, "block", {"hash": block.hash, "block": block.encoded})
        sent.append(block)
        parent = block.hash
    net.run(2)

    stored = [b for b in sent if victim.chain.has_block(b.hash)]
    relayed = [b for b in sent if other.chain.has_block(b.hash)
               or b.hash in other.chain.orphans]
    assert stored == [], f"{len(stored)} zero-work blocks from a non-miner were stored"
    assert relayed == [], f"{len(relayed)} were relayed to the victim's other peers"
    assert len(victim.chain.side) == 0 and not victim.chain.orphans
    assert attacker.address in victim.p2p.banned, "the sender must be penalised and banned"
    assert victim.chain.height == 2 and [p.addr for p in victim.p2p.ready_peers()] == ["n2"]


def two_miners(**kw):
    genesis = dev_genesis(miners=["m1", "m2"], members=["m1"], controller="m1", difficulty=6,
                          **kw)
    return make_node(genesis, "m1"), make_node(genesis, "m2")


def test_a_registered_miner_declaring_less_work_than_governance_is_refused_before_storage():
    a, b = two_miners()
    a.mine(2)
    candidate, _ = b.chain.build_candidate([], b.node.key.address)
    cheap = replace(candidate.header,
                    engine_fields={**candidate.header.engine_fields, "difficulty": 0})
    sealed = b.chain.engine.seal(cheap, b.chain.consensus_params(), threading.Event())
    block = Block(sealed).signed(b.node.key)
    with pytest.raises(InvalidBlock, match="governance requires 6"):
        a.chain.add_block(block)
    assert not a.chain.has_block(block.hash) and len(a.chain.side) == 0


def test_side_blocks_are_pruned_below_the_finality_bound_and_capped_by_count():
    a, b = two_miners(max_reorg_depth=3)
    a.mine()
    side = b.mine(1)
    assert a.chain.add_block(side[0]).status.value == "stored"
    assert side[0].hash in a.chain.side
    a.mine(3)  # head 4: the side block at height 1 can never become canonical again
    assert side[0].hash not in a.chain.side and not a.chain.has_block(side[0].hash)

    a.chain.side.max_count = 2
    base = a.chain.head.parent
    forks = []
    for i in range(3):  # three competitors of a's head, each as heavy as it: side blocks
        node = make_node(a.chain.genesis_config, "m2")
        for block in a.chain.canonical_blocks(1, a.chain.height - 1):
            node.chain.add_block(block)
        node.clock.now_ms = a.clock.now_ms + i * 7
        (fork,) = node.mine()
        assert fork.parent == base
        assert a.chain.add_block(fork).status.value == "stored"
        forks.append(fork)
    assert list(a.chain.side.entries) == [f.hash for f in forks[1:]], "oldest goes first"
    assert not a.chain.has_block(forks[0].hash)
    assert len(a.chain.side) == 2


def test_orphans_are_capped_by_bytes_as_well_as_count():
    a, b = two_miners()
    b.mine(1)
    blocks = [b.mine(1)[0] for _ in range(6)]
    a.chain.orphan_budget.max_bytes = 3 * len(blocks[0].encoded)
    for block in blocks:
        assert a.chain.add_block(block).status.value == "orphan"
    assert len(a.chain.orphans) == 3 and a.chain.orphan_budget.bytes <= 3 * len(
        blocks[0].encoded)
    assert list(a.chain.orphans) == [blk.hash for blk in blocks[-3:]]


def test_a_side_branch_that_changes_governance_is_checked_at_connection_not_refused():
    """The fork point's parameters bound a side branch only until the branch itself carries a
    `consensus` transaction; from there its blocks are judged in full when it wins."""
    a, b = two_miners()
    a.mine(5)  # work 5·2^6: b's branch stays a side branch for three blocks
    b.send("m1", "consensus", "set_params", {"params": {"difficulty": 7}})
    branch = b.mine(4)
    assert [blk.header.engine_fields["difficulty"] for blk in branch] == [6, 7, 7, 7]
    statuses = [a.chain.add_block(blk).status.value for blk in branch]
    assert statuses == ["stored", "stored", "stored", "new-head"]
    assert a.chain.head_hash == branch[-1].hash
    assert a.chain.consensus_params().params["difficulty"] == 7


def test_after_a_restart_side_blocks_are_still_checked_against_governance(tmp_path):
    """Parameters at canonical ancestors come from the journals, so a restart (empty caches)
    checks side blocks exactly: difficulty 6 is right on genesis, wrong after block 1."""
    genesis = dev_genesis(miners=["m1", "m2"], members=["m1"], controller="m1", difficulty=6)
    path = str(tmp_path / "chain.sqlite")
    first = make_node(genesis, "m1", database=path)
    first.send("m1", "consensus", "set_params", {"params": {"difficulty": 7}})
    canonical = first.mine(3)
    first.chain.store.close()
    restarted = make_node(genesis, "m1", database=path)

    on_genesis = make_node(genesis, "m2")
    (side,) = on_genesis.mine()
    assert restarted.chain.add_block(side).status.value == "stored"

    late = make_node(genesis, "m2")
    late.chain.add_block(canonical[0])
    candidate, _ = late.chain.build_candidate([], late.node.key.address)
    stale = replace(candidate.header, engine_fields={"difficulty": 6, "extra": 0})
    sealed = late.chain.engine.seal(stale, late.chain.consensus_params(), threading.Event())
    with pytest.raises(InvalidBlock, match="governance requires 7"):
        restarted.chain.add_block(Block(sealed).signed(late.node.key))


def test_an_orphan_outside_the_heads_governance_is_neither_kept_nor_judged():
    a, _ = two_miners()
    intruder = PrivateKey.generate()
    block = junk_block(a.chain.genesis_config, intruder, bytes(32), 5,
                       a.chain.genesis_config.timestamp_ms + 5, payload=10)
    assert a.chain.add_block(block).status.value == "orphan"
    assert not a.chain.orphans and block.hash not in a.chain.invalid
