"""Signature recovery in worker processes.

coincurve holds the GIL while it works, so threads cannot overlap signature checks with
transaction execution; worker processes can. This module imports only what recovery needs, so
a spawned worker starts quickly.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

import coincurve
from Crypto.Hash import keccak

_pool: ProcessPoolExecutor | None = None


def recover_batch(pairs: list[tuple[bytes, bytes]]) -> list[bytes | None]:
    """Addresses for (digest, signature) pairs; None where a signature does not recover."""
    out: list[bytes | None] = []
    for digest, signature in pairs:
        try:
            public = coincurve.PublicKey.from_signature_and_message(signature, digest,
                                                                    hasher=None)
        except Exception:
            out.append(None)
            continue
        raw = public.format(compressed=False)[1:]
        out.append(keccak.new(digest_bits=256, data=raw).digest()[-20:])
    return out


def workers_wanted() -> int:
    configured = os.environ.get("LEARNCHAIN_SIG_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return 2 if (os.cpu_count() or 1) >= 2 else 0


def submit(pairs: list[tuple[bytes, bytes]]) -> Future[list[bytes | None]] | None:
    """Queue a batch on the worker pool; None when recovery should run in-process."""
    global _pool
    if _pool is None:
        count = workers_wanted()
        if count == 0:
            return None
        _pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    return _pool.submit(recover_batch, pairs)
