"""The reading half of `Chain`: blocks, headers, receipts and transactions from the store.

Everything read back is checked against the hash it is stored under, so a damaged database
is named (`StoreError`, pointing at `learnchain chain verify`) instead of silently trusted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from learnchain.consensus.base import BlockMetrics
from learnchain.core.encoding import decode, sha256
from learnchain.core.errors import EncodingError, StoreError
from learnchain.core.types import Block, BlockHeader, Receipt
from learnchain.storage.sqlite_store import SqliteStore


class ChainReader:
    store: SqliteStore
    head: BlockHeader
    lock: threading.RLock

    @property
    def height(self) -> int:
        return self.head.height

    @property
    def head_hash(self) -> bytes:
        return self.head.hash

    def _load_block(self, block_hash: bytes) -> Block | None:
        stored = self.store.get_block(block_hash)
        if stored is None:
            return None
        try:
            block = Block.decode(stored.data)
        except EncodingError as exc:
            raise StoreError(f"stored block 0x{block_hash.hex()[:16]} does not decode ({exc}); "
                             "run `learnchain chain verify`") from None
        if block.hash != block_hash:
            raise StoreError(f"stored block 0x{block_hash.hex()[:16]} does not hash to its key; "
                             "run `learnchain chain verify`")
        return block

    def _load_header(self, block_hash: bytes) -> BlockHeader | None:
        """The header from its own column (no transactions to decode), checked against the
        block hash; a damaged column falls back to the block bytes, so an edit cannot make
        the node build on a header that is not the block's."""
        data = self.store.get_header(block_hash)
        if data is None:
            return None
        if sha256(data) == block_hash:
            with contextlib.suppress(EncodingError):
                return BlockHeader.from_plain(decode(data))
        block = self._load_block(block_hash)
        return None if block is None else block.header

    def get_header(self, block_hash: bytes) -> BlockHeader | None:
        with self.lock:
            return self._load_header(block_hash)

    def get_block(self, block_hash: bytes) -> Block | None:
        with self.lock:
            return self._load_block(block_hash)

    def block_at(self, height: int) -> Block | None:
        with self.lock:
            block_hash = self.store.canonical_hash(height)
            return None if block_hash is None else self._load_block(block_hash)

    def has_block(self, block_hash: bytes) -> bool:
        return self.store.get_block(block_hash) is not None

    def canonical_blocks(self, start: int = 0, end: int | None = None) -> Iterator[Block]:
        end = self.height if end is None else end
        for _, block_hash in self.store.canonical_range(start, end):
            block = self._load_block(block_hash)
            assert block is not None
            yield block

    def canonical_headers(self, start: int, end: int) -> list[BlockHeader]:
        headers = []
        for _, block_hash in self.store.canonical_range(start, end):
            header = self._load_header(block_hash)
            assert header is not None
            headers.append(header)
        return headers

    def receipts(self, block_hash: bytes) -> list[Receipt] | None:
        data = self.store.get_receipts(block_hash)
        return None if data is None else [Receipt.from_plain(p) for p in decode(data)]

    def find_transaction(self, tx_hash: bytes) -> tuple[Block, int, Receipt] | None:
        with self.lock:
            found = self.store.find_tx(tx_hash)
            if found is None:
                return None
            block = self._load_block(found[0])
            receipts = self.receipts(found[0])
            assert block is not None and receipts is not None
            return block, found[1], receipts[found[1]]

    def _metrics(self, block_hash: bytes) -> BlockMetrics:
        stored = self.store.get_block(block_hash)
        assert stored is not None
        return BlockMetrics.from_plain(decode(stored.metrics))
