"""Where block import spends its time: CPU microseconds per transaction, by stage.

Runs the blocks of `bench_import.py` (1,000 fee-paying transfers per block) and measures each
stage in CPU time of the process doing it, so a machine shared with other jobs distorts the
split less than wall time would:

- decode: `Block.decode` (CBOR, plain-type walk, canonical check, transaction hashes);
- recovery: the signature workers' job (`sigworker.recover_encoded_batch`: low-s check, digest,
  secp256k1 recovery, Keccak address) in one process;
- the rest of import with senders already known (the mempool cache's case), split by timing
  wrappers into stateless checks, app execution, fees, transaction rules, roots and SQLite.

During a cold import the recovery runs in worker processes next to everything else, so the
main process's share bounds the import rate on two cores.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coincurve

sys.path.insert(0, str(Path(__file__).parent))
import bench_import
from learnchain.core import chain as chain_module
from learnchain.core import execution, sigworker
from learnchain.core.types import Block
from learnchain.storage import sqlite_store
from learnchain.testing import make_node

spent: dict[str, float] = defaultdict(float)


def timed_as(stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            spent[stage] += time.process_time() - start
    return wrapper


def instrument() -> None:
    """Wrap the stages (outermost first; nested stages are subtracted from their parents)."""
    ex = execution.Executor
    ex._run = timed_as("app calls (bank.transfer, receipts)", ex._run)
    execution.take_fee = timed_as("fees (rule, debit)", execution.take_fee)
    execution.validate_fee = timed_as("fees (rule, debit)", execution.validate_fee)
    execution.validate_transaction = timed_as("tx rules (chain id, signer, nonce)",
                                              execution.validate_transaction)
    execution.account_nonce = timed_as("tx rules (chain id, signer, nonce)",
                                       execution.account_nonce)
    chain_module.state_root = timed_as("state and receipts roots", chain_module.state_root)
    chain_module.receipts_root = timed_as("state and receipts roots", chain_module.receipts_root)
    Block.computed_tx_root = timed_as("stateless checks (tx root, block signature, PoW)",
                                      Block.computed_tx_root)
    Block.verify_signature = timed_as("stateless checks (tx root, block signature, PoW)",
                                      Block.verify_signature)
    store = sqlite_store.SqliteStore
    for name in ("put_block", "put_journal", "put_receipts", "write_state", "set_canonical",
                 "index_txs", "set_meta", "get_block", "get_header", "canonical_hash"):
        setattr(store, name, timed_as("SQLite (writes, reads, commit)", getattr(store, name)))
    store.transaction = _timed_transaction(store.transaction)


def _timed_transaction(func: Callable[..., Any]) -> Callable[..., Any]:
    from contextlib import contextmanager

    @contextmanager
    def wrapper(self: Any) -> Any:
        start = time.process_time()
        self.conn.execute("BEGIN IMMEDIATE")
        spent["SQLite (writes, reads, commit)"] += time.process_time() - start
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        start = time.process_time()
        self.conn.execute("COMMIT")
        spent["SQLite (writes, reads, commit)"] += time.process_time() - start
    return wrapper


def cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def raw_verify_cpu(n: int) -> float:
    """CPU seconds per signature of bench_import's baseline (single-core coincurve verify)."""
    key = coincurve.PrivateKey()
    digests = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    sigs = [key.sign(d, hasher=None) for d in digests]
    public = key.public_key
    return min(cpu(lambda: [public.verify(s, d, hasher=None)
                            for s, d in zip(sigs, digests, strict=True)]) for _ in range(3)) / n


def main() -> None:
    genesis, blocks = bench_import.build_blocks()
    encoded = [b.encoded for b in blocks]
    n = sum(len(b.transactions) for b in blocks)
    decode = min(cpu(lambda: [Block.decode(d) for d in encoded]) for _ in range(3))
    txs = [tx.encoded for b in blocks for tx in b.transactions]
    recovery = min(cpu(lambda: sigworker.recover_encoded_batch(txs)) for _ in range(3))
    totals = []
    for _ in range(3):
        importer = make_node(genesis, clock=None)
        importer.clock.now_ms = 2**62
        decoded = [Block.decode(d) for d in encoded]
        for block in decoded:
            for tx in block.transactions:
                importer.chain.sig_cache.put(tx.hash, tx.sender)
        totals.append(cpu(lambda imp=importer, bs=decoded: [imp.chain.add_block(b)
                                                             for b in bs]))
    rest = min(totals)
    spent.clear()
    instrument()
    importer = make_node(genesis, clock=None)
    importer.clock.now_ms = 2**62
    decoded = [Block.decode(d) for d in encoded]
    for block in decoded:
        for tx in block.transactions:
            importer.chain.sig_cache.put(tx.hash, tx.sender)
    instrumented = cpu(lambda: [importer.chain.add_block(b) for b in decoded])
    scale = rest / instrumented  # remove the wrappers' own cost proportionally
    rows = [("decode", decode), ("signature recovery (worker job)", recovery)]
    rows += [(stage, seconds * scale) for stage, seconds in sorted(spent.items())]
    rows.append(("other execution (overlays, nonces, journal, events)",
                 rest - sum(spent.values()) * scale))
    total = sum(s for _, s in rows)
    print(f"CPU per transaction over {n} fee-paying transfers ({len(blocks)} blocks):")
    for stage, seconds in rows:
        print(f"  {stage:55s} {seconds / n * 1e6:7.1f} us  {100 * seconds / total:5.1f} %")
    print(f"  {'total':55s} {total / n * 1e6:7.1f} us")
    main_process = total - recovery
    raw = raw_verify_cpu(n)
    print(f"main process (everything but recovery): {main_process / n * 1e6:.1f} us/tx; "
          f"workers: {recovery / n * 1e6:.1f} us/tx; raw coincurve verify: {raw * 1e6:.1f} us/sig")
    bound = raw / max(main_process / n, total / n / 2)
    print(f"CPU-time ceiling of bench_import's ratio on 2 idle cores: {bound:.2f} "
          "(raw verify / max(main process, all work / 2 cores))")


if __name__ == "__main__":
    main()
