"""Restart: time to reopen a 10,000-block store and resume, as a ratio to importing it."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import timed
from learnchain.core.types import Block
from learnchain.testing import ManualClock, dev_genesis, dev_key, make_node

BLOCKS = 10_000


def main() -> None:
    genesis = dev_genesis(funded={"alice": 10**9})
    producer = make_node(genesis)
    bob = dev_key("bob").address
    blocks = []
    for i in range(BLOCKS):
        if i % 10 == 0:
            producer.send("alice", "bank", "transfer", {"to": bob, "amount": 1})
        blocks.extend(producer.mine())
    encoded = [b.encoded for b in blocks]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "chain.sqlite")
        importer = make_node(genesis, database=db, clock=ManualClock(2**62))
        import_s = timed(lambda: [importer.chain.add_block(Block.decode(d)) for d in encoded])
        head = importer.chain.head_hash
        importer.chain.store.close()
        reopened: list = []
        reopen_s = timed(lambda: reopened.append(make_node(genesis, database=db,
                                                           clock=ManualClock(2**62))))
        assert reopened[0].chain.head_hash == head
    print(f"import {BLOCKS} blocks into SQLite: {import_s:.2f} s "
          f"({BLOCKS / import_s:,.0f} blocks/s)")
    print(f"reopen and resume (load state, checksum, re-verify head): {reopen_s * 1000:.1f} ms")
    print(f"ratio reopen / import = {reopen_s / import_s:.4f} (smaller is better)")


if __name__ == "__main__":
    main()
