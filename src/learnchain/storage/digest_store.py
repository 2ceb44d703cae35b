"""The content store beside a chain: inputs and results that apps name by digest.

Apps keep only a 32-byte SHA-256 digest in state (a task's input, a worker's result); the bytes
live here, in the chain's own SQLite file (table `content_blobs`), and travel over the node
API (`/v1/content`). Anyone fetching bytes checks them against the digest, so a node serving
the store needs no trust. Access goes through the chain's lock because the API threads share
the chain's SQLite connection with block import.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from learnchain.storage.blobstore import BlobError, BlobStore, cid_of_digest, sha256

__all__ = ["BlobError", "DigestStore", "cid_of_digest", "digest_store", "sha256"]

TABLE = "content_blobs"
MAX_CONTENT_SIZE = 16 * 1024 * 1024


class DigestStore:
    """put/get by SHA-256 digest, thread-safe; refuses oversized blobs."""

    def __init__(self, blobs: BlobStore | None = None,
                 lock: threading.RLock | None = None) -> None:
        self.blobs = blobs if blobs is not None else BlobStore(table=TABLE)
        self.lock = lock if lock is not None else threading.RLock()

    def put(self, data: bytes) -> bytes:
        if len(data) > MAX_CONTENT_SIZE:
            raise BlobError(f"content is {len(data)} bytes; the limit is {MAX_CONTENT_SIZE}")
        with self.lock:
            return self.blobs.put(bytes(data))

    def get(self, digest: bytes | str) -> bytes | None:
        with self.lock:
            return self.blobs.get(digest)

    def has(self, digest: bytes | str) -> bool:
        with self.lock:
            return self.blobs.has(digest)


_STORES: weakref.WeakKeyDictionary[Any, DigestStore] = weakref.WeakKeyDictionary()


def digest_store(chain: Any) -> DigestStore:
    """The one content store of a chain (created on first use in its SQLite file)."""
    store = _STORES.get(chain)
    if store is None:
        with chain.lock:
            store = DigestStore(BlobStore(chain.store.conn, table=TABLE), chain.lock)
        _STORES[chain] = store
    return store
