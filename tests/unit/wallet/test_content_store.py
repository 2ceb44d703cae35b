"""The local content store: streaming add/cat, pins with reasons, gc of unpinned and expired."""

from __future__ import annotations

import io

import pytest

from learnchain.storage.cid import CHUNK_SIZE, file_cid
from learnchain.storage.content import STAGED, ContentError, LocalContentStore, read_all
from learnchain.testing import ManualClock


def test_add_cat_round_trip_and_cid_matches_kubo_layout() -> None:
    store = LocalContentStore()
    data = bytes(range(256)) * (CHUNK_SIZE // 64)  # 4 chunks
    cid = store.add(io.BytesIO(data))
    assert cid == file_cid(data)
    pieces = list(store.cat(cid))
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= CHUNK_SIZE


def test_gc_collects_what_no_pin_reaches_and_expired_staging() -> None:
    clock = ManualClock(now_ms=1_000_000)
    store = LocalContentStore(staged_ttl_ms=60_000, clock=clock)
    kept = store.add(b"a" * (CHUNK_SIZE + 10), pin="chain")
    staged = store.add(b"staged blob")
    loose = store.add(b"nothing pins this", pin="")
    assert store.gc() == 1 and not store.has(loose)
    assert store.has(staged) and store.pins()[staged] == {STAGED}
    clock.advance(60_001)
    store.gc()
    assert not store.has(staged) and store.has(kept)
    store.unpin(kept)
    assert store.gc() == 3  # two leaves and the root
    with pytest.raises(ContentError):
        read_all(store, kept)


def test_shared_blocks_survive_while_one_file_is_pinned() -> None:
    store = LocalContentStore()
    chunk = b"z" * CHUNK_SIZE
    first = store.add(chunk * 2, pin="user")
    second = store.add(chunk * 3, pin="user")
    store.unpin(first)
    store.gc()
    assert read_all(store, second) == chunk * 3


def test_put_block_refuses_bytes_that_do_not_match() -> None:
    store = LocalContentStore()
    with pytest.raises(ValueError):
        store.put_block(b"\x00" * 32, b"not the preimage")


def test_a_batch_is_stored_all_or_nothing() -> None:
    """`add_many` is one SQLite transaction: a failure mid-batch leaves no block and no pin of
    the batch behind (nothing half-written survives), and a good batch is all there."""
    store = LocalContentStore()

    def failing() -> object:
        yield b"x" * 10
        raise OSError("disk went away")

    with pytest.raises(OSError):
        store.add_many([b"first file", b"y" * (CHUNK_SIZE + 1), failing()])
    assert store.pins() == {} and len(store.blocks) == 0
    files = [b"first file", b"y" * (CHUNK_SIZE + 1), bytearray(b"z" * 300)]
    cids = store.add_many(files)
    assert cids == [file_cid(f) for f in files]
    assert [read_all(store, c) for c in cids] == [bytes(f) for f in files]
    assert set(store.pins()) == set(cids)
