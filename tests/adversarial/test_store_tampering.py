"""`chain verify` checks every record the node stores and names the first one edited.

Each test edits one stored column with sqlite3 (as anyone with the data directory could) and
expects verify to name that record; an edited head header must not stop block production.
"""

import sqlite3
from pathlib import Path

import pytest

from learnchain.core.encoding import encode
from learnchain.core.errors import StoreError
from learnchain.core.verify import verify_store
from learnchain.testing import ManualClock, dev_genesis, dev_key, make_node

BOB = dev_key("bob").address
GENESIS = dev_genesis(funded={"alice": 10_000}, miners=("miner", "rival"),
                      members=("miner", "rival"), fee_per_byte=1)


@pytest.fixture
def store(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A chain of 6 blocks with transfers, plus a competing block 3 stored as a side block."""
    db = tmp_path / "chain.sqlite"
    tn = make_node(GENESIS, database=str(db))
    rival = make_node(GENESIS, "rival", clock=tn.clock)
    for _ in range(2):
        tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
        block = tn.mine()[0]
        rival.node.import_block(block)
    tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    tn.mine()
    (side,) = rival.mine()
    assert tn.node.import_block(side).status == "stored"  # equal work: the first seen stays
    for _ in range(3):
        tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
        tn.mine()
    chain = tn.chain
    canonical = {h: b.hash for h, b in enumerate(chain.canonical_blocks())}
    side_hashes = [bytes(r[0]) for r in chain.store.conn.execute("SELECT hash FROM blocks")
                   if bytes(r[0]) not in canonical.values()]
    assert chain.height == 6 and len(side_hashes) == 1
    info = {"b3": canonical[3], "head": chain.head_hash, "side": side_hashes[0],
            "tx3": chain.block_at(3).transactions[0].hash}
    chain.store.close()
    assert verify_store(db, GENESIS).ok
    return db, info


def edit(db: Path, sql: str, *params) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute(sql, params).rowcount == 1


def expect(db: Path, record: str, height: int | None = None):
    report = verify_store(db, GENESIS)
    assert not report.ok, report
    assert report.record is not None and report.record.startswith(record), report
    if height is not None:
        assert report.first_bad_height == height
    return report


def test_edited_header_column_is_named(store):
    db, info = store
    edit(db, "UPDATE blocks SET header=? WHERE hash=?", b"\x80", info["b3"])
    expect(db, f"blocks 0x{info['b3'].hex()[:16]}… header", 3)


def test_edited_parent_column_is_named(store):
    db, info = store
    edit(db, "UPDATE blocks SET parent=? WHERE hash=?", bytes(32), info["b3"])
    expect(db, f"blocks 0x{info['b3'].hex()[:16]}… parent/height", 3)


def test_edited_fork_choice_metrics_are_named(store):
    db, info = store
    edit(db, "UPDATE blocks SET metrics=? WHERE hash=?", encode([3, 10**6, 0, 0]), info["b3"])
    expect(db, f"blocks 0x{info['b3'].hex()[:16]}… metrics", 3)


def test_edited_side_block_metrics_are_named(store):
    db, info = store
    edit(db, "UPDATE blocks SET metrics=? WHERE hash=?", encode([3, 10**6, 0, 0]),
         info["side"])
    expect(db, f"blocks 0x{info['side'].hex()[:16]}… metrics")


def test_edited_side_block_header_is_named(store):
    db, info = store
    edit(db, "UPDATE blocks SET header=? WHERE hash=?", b"\x80", info["side"])
    expect(db, f"blocks 0x{info['side'].hex()[:16]}… header")


def test_edited_receipts_are_named(store):
    db, info = store
    edit(db, "UPDATE receipts SET data=? WHERE hash=?", encode([]), info["b3"])
    expect(db, f"receipts 0x{info['b3'].hex()[:16]}…", 3)


def test_edited_reorg_journal_is_named(store):
    db, info = store
    edit(db, "UPDATE journals SET data=? WHERE hash=?",
         encode({"writes": {}, "undo": {}}), info["b3"])
    expect(db, f"journals 0x{info['b3'].hex()[:16]}…", 3)


def test_edited_transaction_index_is_named(store):
    db, info = store
    edit(db, "UPDATE txindex SET idx=7 WHERE tx=?", info["tx3"])
    expect(db, f"txindex 0x{info['tx3'].hex()[:16]}…", 3)


def test_a_stray_transaction_index_row_is_named(store):
    db, info = store
    edit(db, "INSERT INTO txindex VALUES (?, ?, 0)", b"\x11" * 32, info["b3"])
    expect(db, "txindex 0x1111111111111111…")


def test_edited_canonical_index_is_named(store):
    db, info = store
    edit(db, "UPDATE canon SET hash=? WHERE height=3", info["side"])
    expect(db, "canon 3", 3)


def test_edited_head_is_named(store):
    db, info = store
    edit(db, "UPDATE meta SET value=? WHERE key='head'", info["b3"])
    expect(db, "meta head")


def test_edited_checksum_and_state_are_named(store):
    db, _ = store
    with sqlite3.connect(db) as conn:
        key = conn.execute("SELECT key FROM state WHERE key LIKE 'bank/bal/%' "
                           "ORDER BY key LIMIT 1").fetchone()[0]
    edit(db, "UPDATE state SET value=? WHERE key=?", encode(10**9), key)
    expect(db, f"state {key}")
    edit(db, "UPDATE meta SET value=? WHERE key='checksum'", bytes(32))
    expect(db, "meta checksum")


def test_an_edited_head_header_does_not_stop_block_production(store):
    db, info = store
    edit(db, "UPDATE blocks SET header=? WHERE hash=?", b"\x80", info["head"])
    expect(db, f"blocks 0x{info['head'].hex()[:16]}… header", 6)
    tn = make_node(GENESIS, database=str(db), clock=ManualClock(2**41))
    assert tn.chain.head_hash == info["head"]
    tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    (block,) = tn.mine()
    assert block.height == 7 and tn.chain.head_hash == block.hash
    tn.chain.store.close()
    assert verify_store(db, GENESIS).ok  # the column was rewritten from the block's bytes


def test_an_edited_header_below_the_head_is_not_built_on(store):
    db, info = store
    with sqlite3.connect(db) as conn:
        parent = conn.execute("SELECT parent FROM blocks WHERE hash=?",
                              (info["head"],)).fetchone()[0]
    edit(db, "UPDATE blocks SET header=? WHERE hash=?", b"\x80", parent)
    tn = make_node(GENESIS, database=str(db), clock=ManualClock(2**41))
    assert tn.chain.get_header(parent).hash == parent  # read from the block's own bytes
    assert tn.mine()[0].height == 7


def test_edited_head_metrics_are_refused_at_open_with_the_way_out(store):
    db, info = store
    edit(db, "UPDATE blocks SET metrics=? WHERE hash=?", encode([6, 10**6, 0, 0]),
         info["head"])
    with pytest.raises(StoreError, match=r"fork-choice metrics of the head.*chain verify"):
        make_node(GENESIS, database=str(db))
