"""The content store: files by CID with pins and garbage collection, two interchangeable backends.

`ContentStore` is the storage abstraction the seed asks for (§4: "the application layer defines
a storage abstraction, to allow alternative storage implementations to be plugged in").
`LocalContentStore` (the default) keeps kubo-identical UnixFS blocks in SQLite through the
existing `BlobStore`; `storage.ipfs.IpfsContentStore` drives a real kubo. Both name a file by the
CIDv0 `ipfs add` would print, so a CID recorded on chain is valid whichever backend a node runs.

Files stream in and out in 256 KiB chunks: `add` consumes an iterator and `cat` yields chunks,
so memory stays bounded by one chunk plus one 48-byte link per chunk.

Pins carry a reason. ``staged`` pins are taken by `add` before the chain references the file
and expire after a grace period; the wallet's pinner turns them into ``chain`` pins when a
record naming the CID is included. `gc` removes expired staged pins, then every block no pin
reaches, so a blob whose transaction never made it (a crash in between) is collected.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from learnchain.storage.blobstore import BlobStore
from learnchain.storage.cid import (
    CHUNK_SIZE,
    BlobError,
    FileDag,
    cidv0_of_digest,
    digest_of_any_cid,
    leaf_parts,
    parse_dag_node,
)

STAGED = "staged"
DEFAULT_STAGED_TTL_MS = 10 * 60 * 1000
MAX_DAG_DEPTH = 8


class ContentError(BlobError):
    """Content that is missing, malformed or does not match its id."""


def iter_chunks(source: bytes | BinaryIO | Iterable[bytes]) -> Iterator[bytes | memoryview]:
    """Bytes, a binary file or an iterable of byte strings, as a stream of pieces."""
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)  # slices without copying
        for start in range(0, len(view), CHUNK_SIZE):
            yield view[start:start + CHUNK_SIZE]
    elif hasattr(source, "read"):
        while piece := source.read(CHUNK_SIZE):  # type: ignore[union-attr]
            yield piece
    else:
        yield from source  # type: ignore[misc]


@runtime_checkable
class ContentStore(Protocol):
    """What the wallet needs from storage; both backends implement it."""

    def add(self, source: bytes | BinaryIO | Iterable[bytes], *, pin: str = STAGED) -> str:
        """Store a file, pin it with `pin` as reason, return its CIDv0."""

    def cat(self, cid: str) -> Iterator[bytes]:
        """The file's bytes in chunks; raises ContentError when it is not here."""

    def has(self, cid: str) -> bool: ...

    def pin(self, cid: str, reason: str = "user") -> None: ...

    def unpin(self, cid: str, reason: str | None = None) -> None: ...

    def pins(self) -> dict[str, set[str]]: ...

    def gc(self, now_ms: int | None = None) -> int:
        """Drop expired staged pins and unreachable blocks; returns blocks removed."""


def read_all(store: ContentStore, cid: str, limit: int = 256 * 1024 * 1024) -> bytes:
    out = bytearray()
    for piece in store.cat(cid):
        out += piece
        if len(out) > limit:
            raise ContentError(f"{cid} is larger than {limit} bytes")
    return bytes(out)


class LocalContentStore:
    """UnixFS blocks in SQLite (one file, or in memory), pins in a table beside them."""

    def __init__(self, path: Path | str = ":memory:", *, staged_ttl_ms: int = DEFAULT_STAGED_TTL_MS,
                 clock: object = None) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.blocks = BlobStore(self.conn, table="content_blocks", cache_size=8)
        self.conn.execute("CREATE TABLE IF NOT EXISTS content_pins (cid TEXT NOT NULL, "
                          "reason TEXT NOT NULL, since_ms INTEGER NOT NULL, "
                          "PRIMARY KEY (cid, reason))")
        self.staged_ttl_ms = staged_ttl_ms
        self._clock = clock
        self.lock = threading.RLock()

    def _now(self) -> int:
        if self._clock is not None:
            return int(self._clock())  # type: ignore[operator]
        return int(time.time() * 1000)

    # --- blocks (what peers exchange) -----------------------------------------------------
    def get_block(self, digest: bytes) -> bytes | None:
        return self.blocks.get(digest)

    def put_block(self, digest: bytes, block: bytes) -> None:
        """Store a block a peer sent; refused unless it hashes to `digest`."""
        self.blocks.put_verified(digest, block)

    # --- files ------------------------------------------------------------------------------
    def add(self, source: bytes | BinaryIO | Iterable[bytes], *, pin: str = STAGED) -> str:
        return self.add_many([source], pin=pin)[0]

    def add_many(self, sources: Iterable[bytes | BinaryIO | Iterable[bytes]], *,
                 pin: str = STAGED) -> list[str]:
        """Store several files in one SQLite transaction: all or none of them, and one
        durable commit (one WAL sync for a file-backed store) for the lot. A client stores a
        batch of records this way before the one transaction that records them on chain."""
        cids = []
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                for source in sources:
                    cids.append(self._add_file(source))
                if pin:
                    now = self._now()
                    self.conn.executemany("INSERT OR IGNORE INTO content_pins VALUES (?, ?, ?)",
                                          [(cid, pin, now) for cid in cids])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return cids

    def _put_block(self, digest: bytes, block: bytes) -> None:
        self.conn.execute("INSERT OR IGNORE INTO content_blocks VALUES (?, ?)", (digest, block))

    def _add_file(self, source: bytes | BinaryIO | Iterable[bytes]) -> str:
        if isinstance(source, bytes | bytearray | memoryview) and len(source) <= CHUNK_SIZE:
            prefix, suffix = leaf_parts(len(source))  # one chunk: the file is its own leaf
            block = b"".join((prefix, source, suffix))
            digest = hashlib.sha256(block).digest()
            self._put_block(digest, block)
            return cidv0_of_digest(digest)
        dag = FileDag(emit=self._put_block)
        for piece in iter_chunks(source):
            dag.update(piece)
        return dag.finish()

    def _walk(self, digest: bytes, depth: int = 0) -> Iterator[bytes]:
        if depth > MAX_DAG_DEPTH:
            raise ContentError("file DAG is deeper than any file kubo builds")
        block = self.blocks.get(digest)
        if block is None:
            raise ContentError(f"block {cidv0_of_digest(digest)} is not in this store")
        node = parse_dag_node(block)
        if node.data:
            yield node.data
        for child in node.links:
            yield from self._walk(child, depth + 1)

    def cat(self, cid: str) -> Iterator[bytes]:
        return self._walk(digest_of_any_cid(cid))

    def missing(self, cid: str) -> list[bytes]:
        """Digests of the blocks under `cid` not held here (breadth-first, first level found)."""
        frontier, gone = [digest_of_any_cid(cid)], []
        while frontier:
            nxt = []
            for digest in frontier:
                block = self.blocks.get(digest)
                if block is None:
                    gone.append(digest)
                else:
                    nxt.extend(parse_dag_node(block).links)
            frontier = nxt
        return gone

    def has(self, cid: str) -> bool:
        try:
            return not self.missing(cid)
        except BlobError:
            return False

    def size(self, cid: str) -> int:
        return sum(len(piece) for piece in self.cat(cid))

    # --- pins and gc ------------------------------------------------------------------------
    def _pin(self, cid: str, reason: str) -> None:
        digest_of_any_cid(cid)
        self.conn.execute("INSERT OR IGNORE INTO content_pins VALUES (?, ?, ?)",
                          (cid, reason, self._now()))

    def pin(self, cid: str, reason: str = "user") -> None:
        with self.lock:
            self._pin(cid, reason)

    def unpin(self, cid: str, reason: str | None = None) -> None:
        with self.lock:
            if reason is None:
                self.conn.execute("DELETE FROM content_pins WHERE cid=?", (cid,))
            else:
                self.conn.execute("DELETE FROM content_pins WHERE cid=? AND reason=?",
                                  (cid, reason))

    def pins(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for cid, reason in self.conn.execute("SELECT cid, reason FROM content_pins"):
            out.setdefault(cid, set()).add(reason)
        return out

    def gc(self, now_ms: int | None = None) -> int:
        """Mark from every pin, sweep the rest. Expired staged pins are dropped first."""
        with self.lock:
            now = self._now() if now_ms is None else now_ms
            self.conn.execute("DELETE FROM content_pins WHERE reason=? AND since_ms<=?",
                              (STAGED, now - self.staged_ttl_ms))
            live: set[bytes] = set()
            frontier = [digest_of_any_cid(c) for c in self.pins()]
            while frontier:
                digest = frontier.pop()
                if digest in live:
                    continue
                live.add(digest)
                block = self.blocks.get(digest)
                if block is not None:
                    frontier.extend(parse_dag_node(block).links)
            dead = [bytes(row[0]) for row in self.conn.execute("SELECT hash FROM content_blocks")
                    if bytes(row[0]) not in live]
            for digest in dead:
                self.blocks.delete(digest)
            return len(dead)

    def close(self) -> None:
        self.conn.close()
