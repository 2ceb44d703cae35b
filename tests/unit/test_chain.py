"""The block tree: fork choice, reorgs with state rollback, orphans, finality, restart."""

import sqlite3
import threading
import time
from dataclasses import replace

import pytest

from learnchain.consensus.pow import GovernedPow, nonce_range
from learnchain.core.chain import AddStatus
from learnchain.core.errors import BeyondFinality, InvalidBlock, StoreError
from learnchain.core.types import Block
from learnchain.core.verify import verify_store
from learnchain.testing import ManualClock, dev_genesis, dev_key, make_node

BOB = dev_key("bob").address


def two_miners(**kw):
    genesis = dev_genesis(miners=["m1", "m2"], members=["m1"], controller="m1",
                          funded={"alice": 1000}, **kw)
    return make_node(genesis, "m1"), make_node(genesis, "m2")


def test_longer_branch_wins_and_state_follows_it():
    a, b = two_miners()
    a.send("alice", "bank", "transfer", {"to": BOB, "amount": 10})
    a_blocks = a.mine(2)
    b.send("alice", "bank", "transfer", {"to": BOB, "amount": 99})
    b_blocks = b.mine(3)
    assert a.balance("bob") == 10
    results = [a.chain.add_block(blk) for blk in b_blocks]
    assert [r.status for r in results] == [AddStatus.STORED, AddStatus.STORED,
                                           AddStatus.NEW_HEAD]
    assert results[-1].reorg_depth == 2
    assert a.chain.head_hash == b.chain.head_hash
    assert a.chain.state.data == b.chain.state.data
    assert a.balance("bob") == 99 and a.balance("m1") == 0 and a.balance("m2") == 150
    assert a.chain.find_transaction(a_blocks[0].transactions[0].hash) is None
    assert a.chain.find_transaction(b_blocks[0].transactions[0].hash) is not None


def test_equal_work_keeps_the_first_seen_head():
    a, b = two_miners()
    (a1,) = a.mine()
    (b1,) = b.mine()
    assert a.chain.add_block(b1).status is AddStatus.STORED
    assert a.chain.head_hash == a1.hash


def test_orphans_wait_for_their_parent_then_connect():
    a, b = two_miners()
    blocks = b.mine(4)
    for blk in reversed(blocks[1:]):
        assert a.chain.add_block(blk).status is AddStatus.ORPHAN
    assert a.chain.missing_parents() == [blocks[0].hash]
    a.chain.add_block(blocks[0])
    assert a.chain.head_hash == blocks[-1].hash and not a.chain.orphans


def test_reorgs_beyond_the_finality_bound_are_refused():
    a, b = two_miners(max_reorg_depth=2)
    a.mine(3)
    branch = b.mine(5)
    # The branch forks at genesis, 3 blocks below a's head: refused before it is even stored
    # (it could never become canonical), as a split rather than as an invalid block.
    with pytest.raises(BeyondFinality, match="would undo 3 blocks; the finality bound is 2"):
        a.chain.add_block(branch[0])
    assert a.chain.height == 3 and not a.chain.has_block(branch[0].hash)
    assert a.chain.split is not None and a.chain.split.depth == 3
    assert branch[0].hash not in a.chain.invalid


def forge(tn, mutate_header=None, key_name=None, txs=None):
    """A block built honestly on the node's head, then altered and re-signed."""
    candidate, _ = tn.chain.build_candidate(txs or [], dev_key(key_name or tn.name).address)
    header = candidate.header
    if mutate_header:
        header = mutate_header(header)
    params = tn.chain.consensus_params()
    if header.proposer in params.miners:
        header = tn.chain.engine.seal(header, params, threading.Event())
    return Block(header, candidate.transactions).signed(dev_key(key_name or tn.name))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: replace(h, state_root=b"\x01" * 32), "wrong state root"),
        (lambda h: replace(h, receipts_root=b"\x01" * 32), "wrong receipts root"),
        (lambda h: replace(h, tx_root=b"\x01" * 32), "wrong tx root"),
        (lambda h: replace(h, chain_id=7), "wrong chain id"),
        (lambda h: replace(h, timestamp_ms=h.timestamp_ms + 60_000), "in the future"),
        (lambda h: replace(h, engine_fields={"difficulty": 1, "extra": 0}),
         "governance requires 0"),
        (lambda h: replace(h, height=5), "does not follow parent height"),
    ],
)
def test_invalid_blocks_are_rejected_and_nothing_is_stored(mutate, message):
    a, _ = two_miners()
    a.mine()
    before = (a.chain.head_hash, dict(a.chain.state.data))
    bad = forge(a, mutate)
    with pytest.raises(InvalidBlock, match=message):
        a.chain.add_block(bad)
    assert not a.chain.has_block(bad.hash)
    assert (a.chain.head_hash, a.chain.state.data) == before


def test_unregistered_proposer_and_foreign_signature_are_rejected():
    a, _ = two_miners()
    intruder = forge(a, key_name="mallory")
    with pytest.raises(InvalidBlock, match="is not an active miner"):
        a.chain.add_block(intruder)
    honest = forge(a)
    resigned = Block(honest.header, honest.transactions, dev_key("mallory").sign(honest.hash))
    with pytest.raises(InvalidBlock, match="not the proposer's"):
        a.chain.add_block(resigned)


def test_bad_proof_of_work_is_rejected():
    genesis = dev_genesis(difficulty=10)
    tn = make_node(genesis)
    good = forge(tn)
    assert GovernedPow().check_header(good.header) is None
    nonce = int.from_bytes(good.header.seal, "big")
    for other in range(nonce + 1, nonce + 200):
        broken = replace(good.header, seal=other.to_bytes(8, "big"))
        try:
            GovernedPow().check_header(broken)
        except InvalidBlock:
            break
    bad = Block(broken, good.transactions).signed(dev_key("miner"))
    with pytest.raises(InvalidBlock, match="bad proof of work"):
        tn.chain.add_block(bad)


def test_miners_search_disjoint_nonce_ranges():
    a, b = two_miners()
    (blk,) = b.mine()
    assert int.from_bytes(blk.header.seal, "big") in nonce_range(1, 2, 32)
    stolen = forge(a, lambda h: h, key_name="m1")
    outside = replace(stolen.header, seal=nonce_range(1, 2, 32).start.to_bytes(8, "big"))
    with pytest.raises(InvalidBlock, match="outside miner 0's range"):
        a.chain.add_block(Block(outside, ()).signed(dev_key("m1")))


def test_a_block_with_a_gapped_nonce_transaction_is_invalid():
    a, _ = two_miners()
    gapped = a.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1}, nonce=3)
    candidate, result = a.chain.build_candidate([gapped], dev_key("m1").address)
    assert result.rejected and "gapped" in result.rejected[0][1]
    header = replace(candidate.header, tx_root=Block(candidate.header, (gapped,))
                     .computed_tx_root())
    block = Block(header, (gapped,)).signed(dev_key("m1"))
    with pytest.raises(InvalidBlock, match="gapped"):
        a.chain.add_block(block)


def test_invalid_block_on_a_side_branch_keeps_the_old_head():
    a, b = two_miners()
    a.mine()
    b1 = b.mine()[0]
    b2 = forge(b, lambda h: replace(h, state_root=b"\x02" * 32))
    assert a.chain.add_block(b1).status is AddStatus.STORED
    state_before = dict(a.chain.state.data)
    with pytest.raises(InvalidBlock, match="wrong state root"):
        a.chain.add_block(b2)
    assert a.chain.height == 1 and a.chain.state.data == state_before
    assert a.chain.has_block(b1.hash) and not a.chain.has_block(b2.hash)
    with pytest.raises(InvalidBlock, match="already rejected"):
        a.chain.add_block(b2)


def test_sealing_stops_when_a_better_head_arrives():
    tn = make_node(dev_genesis(difficulty=40))
    candidate, _ = tn.chain.build_candidate([], dev_key("miner").address)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert tn.chain.engine.seal(candidate.header, tn.chain.consensus_params(), stop) is None
    assert time.monotonic() - started < 5


def test_restart_resumes_at_the_stored_head(tmp_path):
    db = tmp_path / "chain.sqlite"
    genesis = dev_genesis(funded={"alice": 500})
    tn = make_node(genesis, database=str(db))
    tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    tn.mine(5)
    head, state = tn.chain.head_hash, dict(tn.chain.state.data)
    tn.chain.store.close()
    again = make_node(genesis, database=str(db), clock=ManualClock(tn.clock.now_ms))
    assert again.chain.head_hash == head and again.chain.state.data == state
    again.mine(2)
    assert again.chain.height == 7
    assert verify_store(db, genesis).ok


def test_a_crash_while_writing_a_block_leaves_the_last_complete_block(tmp_path):
    db = tmp_path / "chain.sqlite"
    genesis = dev_genesis(funded={"alice": 500})
    tn = make_node(genesis, database=str(db))
    tn.mine(3)
    head = tn.chain.head_hash
    tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})

    def crash(*_args):
        raise KeyboardInterrupt("power cut")

    tn.chain.store.index_txs = crash
    with pytest.raises(KeyboardInterrupt):
        tn.mine()
    assert tn.chain.head_hash == head
    tn.chain.store.close()
    again = make_node(genesis, database=str(db), clock=ManualClock(tn.clock.now_ms))
    assert again.chain.head_hash == head and again.balance("bob") == 0
    assert verify_store(db, genesis).ok


def test_verify_names_the_first_tampered_block(tmp_path):
    db = tmp_path / "chain.sqlite"
    genesis = dev_genesis(funded={"alice": 500})
    tn = make_node(genesis, database=str(db))
    for _ in range(5):
        tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
        tn.mine()
    target = tn.chain.block_at(3)
    tx = target.transactions[0]
    forged_tx = replace(tx, args={**tx.args, "amount": 500})
    forged = Block(target.header, (forged_tx,), target.signature)
    tn.chain.store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE blocks SET data=? WHERE hash=?", (forged.encoded, target.hash))
    report = verify_store(db, genesis)
    assert not report.ok and report.first_bad_height == 3
    assert "tx root" in report.reason


def test_a_store_from_another_chain_or_edited_state_is_refused(tmp_path):
    db = tmp_path / "chain.sqlite"
    tn = make_node(dev_genesis(funded={"alice": 1}), database=str(db))
    tn.mine()
    tn.chain.store.close()
    with pytest.raises(StoreError, match="another chain"):
        make_node(dev_genesis(funded={"alice": 2}), database=str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE state SET value=X'05' WHERE key LIKE 'bank/bal/%'")
    with pytest.raises(StoreError, match="checksum"):
        make_node(dev_genesis(funded={"alice": 1}), database=str(db))
