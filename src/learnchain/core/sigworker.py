"""Signature recovery in worker processes.

coincurve holds the GIL while it works, so threads cannot overlap signature checks with
transaction execution; worker processes can. Workers are forked, not spawned: a spawned worker
would re-run the user's main script, with whatever side effects it has. A worker only runs
`recover_encoded_batch`, whose modules the parent imported before forking. If the pool breaks
for any reason, callers fall back to in-process recovery (`disable`), so a block is never
rejected or lost because of a worker.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from learnchain.core.crypto import recover_address_or_none

_pool: ProcessPoolExecutor | None = None


def recover_batch(pairs: list[tuple[bytes, bytes]]) -> list[bytes | None]:
    """Addresses for (digest, 65-byte signature) pairs; None where a signature does not
    recover or has a high s (the malleable twin, refused as by EIP-2)."""
    return [recover_address_or_none(digest, signature) for digest, signature in pairs]


TX_DOMAIN = b"learnchain-tx"


def recover_encoded_batch(encoded_txs: list[bytes]) -> list[bytes | None]:
    """Signers of canonical transaction encodings with 65-byte signatures.

    The signed bytes are the first seven of the eight fields (see
    `Transaction.signing_digest`), so the worker derives each digest itself and the importing
    process does no hashing.
    """
    pairs = []
    for data in encoded_txs:
        unsigned = b"\x87" + data[1:len(data) - 67]
        digest = hashlib.sha256(TX_DOMAIN + unsigned).digest()
        pairs.append((digest, data[len(data) - 65:]))
    return recover_batch(pairs)


def workers_wanted() -> int:
    """One worker on any machine with a second core (LEARNCHAIN_SIG_WORKERS overrides).

    Recovery costs about half of what executing a transfer costs the importing process
    (docs/benchmarks.md), so one worker keeps ahead of it; a second only competes with the
    importing process for the cores (a 2-core machine ran 0.48 with one, 0.41 with two).
    """
    configured = os.environ.get("LEARNCHAIN_SIG_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return 1 if (os.cpu_count() or 1) >= 2 else 0


def submit(encoded_txs: list[bytes]) -> Future[list[bytes | None]] | None:
    """Queue a batch on the worker pool; None when recovery should run in-process."""
    global _pool
    if _pool is None:
        count = workers_wanted()
        if count == 0:
            return None
        _pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"))
    try:
        return _pool.submit(recover_encoded_batch, encoded_txs)
    except Exception:
        disable()
        return None


def disable() -> None:
    """Stop using worker processes in this process (after a failure, or on request)."""
    global _pool
    os.environ["LEARNCHAIN_SIG_WORKERS"] = "0"
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
