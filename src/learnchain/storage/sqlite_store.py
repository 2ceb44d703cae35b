"""SQLite (WAL) store for blocks, receipts, state and journals.

Every change the chain makes for one block, or for one whole reorg, is written in a single
SQLite transaction, so a crash at any instant leaves the store at the last complete head; there
is no second file that could disagree with the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from learnchain.core.errors import StoreError

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    hash BLOB PRIMARY KEY, parent BLOB NOT NULL, height INTEGER NOT NULL,
    header BLOB NOT NULL, data BLOB NOT NULL, metrics BLOB NOT NULL, invalid TEXT);
CREATE INDEX IF NOT EXISTS blocks_parent ON blocks(parent);
CREATE TABLE IF NOT EXISTS canon (height INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (hash BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journals (hash BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txindex (tx BLOB PRIMARY KEY, block BLOB NOT NULL, idx INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


@dataclass(frozen=True)
class StoredBlock:
    hash: bytes
    parent: bytes
    height: int
    data: bytes
    metrics: bytes
    invalid: str | None


class SqliteStore:
    """Thin, explicit persistence; the chain decides what to write and when."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}; if the file is not a "
                             "learnchain store, point --datadir elsewhere") from None
        version = self.get_meta("schema")
        if version is None:
            self.set_meta("schema", SCHEMA_VERSION.to_bytes(2, "big"))
        elif int.from_bytes(version, "big") != SCHEMA_VERSION:
            raise StoreError(f"store schema {int.from_bytes(version, 'big')} is not "
                             f"{SCHEMA_VERSION}; re-sync into a new data directory")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: all of it is committed, or none of it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def get_meta(self, key: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta_items(self, prefix: str) -> list[tuple[str, bytes]]:
        rows = self.conn.execute("SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? "
                                 "ORDER BY key", (len(prefix), prefix))
        return [(key, bytes(value)) for key, value in rows]

    def put_block(self, block_hash: bytes, parent: bytes, height: int, header: bytes,
                  data: bytes, metrics: bytes) -> None:
        self.conn.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?, ?, NULL)",
                          (block_hash, parent, height, header, data, metrics))

    def get_header(self, block_hash: bytes) -> bytes | None:
        """Just the header's canonical bytes: most lookups need no transactions."""
        row = self.conn.execute("SELECT header FROM blocks WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_header(self, block_hash: bytes, header: bytes) -> None:
        """Rewrite a header column from the block's own bytes (repair after outside edits)."""
        self.conn.execute("UPDATE blocks SET header=? WHERE hash=?", (header, block_hash))

    def mark_invalid(self, block_hash: bytes, reason: str) -> None:
        self.conn.execute("UPDATE blocks SET invalid=? WHERE hash=?", (reason, block_hash))

    def get_block(self, block_hash: bytes) -> StoredBlock | None:
        row = self.conn.execute("SELECT hash, parent, height, data, metrics, invalid FROM blocks "
                                "WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else StoredBlock(bytes(row[0]), bytes(row[1]), row[2],
                                                    bytes(row[3]), bytes(row[4]), row[5])

    def delete_block(self, block_hash: bytes) -> None:
        self.conn.execute("DELETE FROM blocks WHERE hash=?", (block_hash,))

    def children(self, block_hash: bytes) -> list[bytes]:
        rows = self.conn.execute("SELECT hash FROM blocks WHERE parent=?", (block_hash,))
        return [bytes(r[0]) for r in rows]

    def canonical_hash(self, height: int) -> bytes | None:
        row = self.conn.execute("SELECT hash FROM canon WHERE height=?", (height,)).fetchone()
        return None if row is None else bytes(row[0])

    def canonical_range(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = self.conn.execute("SELECT height, hash FROM canon WHERE height BETWEEN ? AND ? "
                                 "ORDER BY height", (start, end))
        return [(r[0], bytes(r[1])) for r in rows]

    def set_canonical(self, height: int, block_hash: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO canon VALUES (?, ?)", (height, block_hash))

    def drop_canonical_above(self, height: int) -> None:
        self.conn.execute("DELETE FROM canon WHERE height > ?", (height,))

    def put_receipts(self, block_hash: bytes, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO receipts VALUES (?, ?)", (block_hash, data))

    def get_receipts(self, block_hash: bytes) -> bytes | None:
        row = self.conn.execute("SELECT data FROM receipts WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_journal(self, block_hash: bytes, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO journals VALUES (?, ?)", (block_hash, data))

    def get_journal(self, block_hash: bytes) -> bytes | None:
        row = self.conn.execute("SELECT data FROM journals WHERE hash=?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def index_txs(self, block_hash: bytes, tx_hashes: list[bytes]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO txindex VALUES (?, ?, ?)",
                              [(h, block_hash, i) for i, h in enumerate(tx_hashes)])

    def unindex_txs(self, tx_hashes: list[bytes]) -> None:
        self.conn.executemany("DELETE FROM txindex WHERE tx=?", [(h,) for h in tx_hashes])

    def find_tx(self, tx_hash: bytes) -> tuple[bytes, int] | None:
        row = self.conn.execute("SELECT block, idx FROM txindex WHERE tx=?", (tx_hash,)).fetchone()
        return None if row is None else (bytes(row[0]), row[1])

    def write_state(self, writes: Mapping[str, bytes | None]) -> None:
        puts = [(k, v) for k, v in writes.items() if v is not None]
        dels = [(k,) for k, v in writes.items() if v is None]
        if puts:
            self.conn.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", puts)
        if dels:
            self.conn.executemany("DELETE FROM state WHERE key=?", dels)

    def load_state(self) -> dict[str, bytes]:
        return {k: bytes(v) for k, v in self.conn.execute("SELECT key, value FROM state")}

    # ----- blocks off the canonical chain (bounded by the chain) -------------------------

    def side_blocks(self) -> list[tuple[bytes, int, int]]:
        """(hash, height, size) of every stored block that is not canonical, oldest first."""
        rows = self.conn.execute(
            "SELECT hash, height, length(data) FROM blocks WHERE hash NOT IN "
            "(SELECT hash FROM canon) ORDER BY rowid")
        return [(bytes(r[0]), r[1], r[2]) for r in rows]

    def delete_side_block(self, block_hash: bytes) -> None:
        """Forget a non-canonical block with what it left behind when it was canonical."""
        for table in ("blocks", "journals", "receipts"):
            self.conn.execute(f"DELETE FROM {table} WHERE hash=?", (block_hash,))

    def delete_meta(self, key: str) -> None:
        self.conn.execute("DELETE FROM meta WHERE key=?", (key,))
