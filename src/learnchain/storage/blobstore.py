"""Content-addressed blob store: CIDv1 (raw codec, sha2-256) over SQLite.

Blocks of the `rlpow` engine commit to network parameters and training proofs by their
SHA-256 digest; the bytes themselves travel beside the block (the engine's sidecar) and live
here. A blob's key is its digest, so a stored blob can never disagree with its id: `put`
hashes what it stores and `put_verified` refuses bytes that do not hash to the id a peer
claimed. Content ids are CIDv1 strings (`bafkrei…`): multibase prefix ``b`` followed by the
lower-case, unpadded base32 of ``0x01 0x55 0x12 0x20 ‖ digest`` (version 1, codec raw,
multihash sha2-256, length 32), so any IPFS tool names the same bytes with the same id.

The table lives in the chain's own SQLite connection (one file, one atomic unit) or in a
private in-memory database when no connection is given.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable

CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
"""CIDv1, multicodec raw (0x55), multihash sha2-256 (0x12) of 32 bytes (0x20)."""
DIGEST_SIZE = 32

_SCHEMA = "CREATE TABLE IF NOT EXISTS {table} (hash BLOB PRIMARY KEY, data BLOB NOT NULL)"


class BlobError(ValueError):
    """A blob that does not match its content id, or a malformed content id."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def cid_of_digest(digest: bytes) -> str:
    """The CIDv1 string naming the bytes whose SHA-256 is `digest`."""
    if len(digest) != DIGEST_SIZE:
        raise BlobError(f"a sha2-256 digest is {DIGEST_SIZE} bytes, got {len(digest)}")
    return _cid_string(bytes(digest))


@functools.lru_cache(maxsize=4096)  # block headers name the same digests at every check
def _cid_string(digest: bytes) -> str:
    return "b" + base64.b32encode(CID_PREFIX + digest).decode("ascii").lower().rstrip("=")


def cid_of(data: bytes) -> str:
    return cid_of_digest(sha256(data))


def cid_bytes_of(data: bytes | bytearray | memoryview) -> bytes:
    """The binary CIDv1 raw sha2-256 of `data` (what `cid_of` spells in base32)."""
    return CID_PREFIX + hashlib.sha256(data).digest()


def digest_of_cid(cid: str) -> bytes:
    """Parse a CIDv1 raw sha2-256 string back to its digest; anything else is refused."""
    if not isinstance(cid, str) or not cid.startswith("b") or cid != cid.lower():
        raise BlobError(f"not a base32 CIDv1: {cid!r}")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (ValueError, TypeError):
        raise BlobError(f"not a base32 CIDv1: {cid!r}") from None
    if len(raw) != len(CID_PREFIX) + DIGEST_SIZE or raw[:4] != CID_PREFIX:
        raise BlobError(f"{cid!r} is not a CIDv1 raw sha2-256 content id")
    if cid_of_digest(raw[4:]) != cid:
        raise BlobError(f"{cid!r} is not in canonical form")
    return raw[4:]


class BlobStore:
    """put/get/has by SHA-256 digest (or CID string); every stored blob is self-verifying.

    A small LRU of recently used blobs in memory avoids re-reading the same parameter blobs
    from SQLite (an engine reads each block's final parameters several times).
    """

    def __init__(self, conn: sqlite3.Connection | None = None, table: str = "rlpow_blobs",
                 cache_size: int = 256) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"bad table name {table!r}")
        self.conn = conn if conn is not None else sqlite3.connect(
            ":memory:", isolation_level=None, check_same_thread=False)
        self.table = table
        self.conn.execute(_SCHEMA.format(table=table))
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size

    @staticmethod
    def _key(ref: bytes | str) -> bytes:
        return digest_of_cid(ref) if isinstance(ref, str) else bytes(ref)

    def _remember(self, digest: bytes, data: bytes) -> None:
        self._cache[digest] = data
        self._cache.move_to_end(digest)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def put(self, data: bytes) -> bytes:
        """Store `data`; returns its digest (the key)."""
        digest = sha256(data)
        self.conn.execute(f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?)", (digest, data))
        self._remember(digest, data)
        return digest

    def put_many(self, blobs: Iterable[bytes]) -> list[bytes]:
        rows = [(sha256(b), b) for b in blobs]
        self.conn.executemany(f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?)", rows)
        return [d for d, _ in rows]

    def put_verified(self, ref: bytes | str, data: bytes) -> bytes:
        """Store bytes a peer sent under a claimed id; refuses them unless they hash to it."""
        digest = self._key(ref)
        if not isinstance(data, bytes | bytearray):
            raise BlobError(f"blob {cid_of_digest(digest)} is not bytes")
        data = bytes(data)
        if sha256(data) != digest:
            raise BlobError(f"blob does not hash to its content id {cid_of_digest(digest)}")
        self.conn.execute(f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?)", (digest, data))
        self._remember(digest, data)
        return digest

    def get(self, ref: bytes | str) -> bytes | None:
        digest = self._key(ref)
        data = self._cache.get(digest)
        if data is not None:
            self._cache.move_to_end(digest)
            return data
        row = self.conn.execute(f"SELECT data FROM {self.table} WHERE hash=?",
                                (digest,)).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        self._remember(digest, data)
        return data

    def has(self, ref: bytes | str) -> bool:
        digest = self._key(ref)
        if digest in self._cache:
            return True
        return self.conn.execute(f"SELECT 1 FROM {self.table} WHERE hash=?",
                                 (digest,)).fetchone() is not None

    def delete(self, ref: bytes | str) -> None:
        digest = self._key(ref)
        self._cache.pop(digest, None)
        self.conn.execute(f"DELETE FROM {self.table} WHERE hash=?", (digest,))

    def delete_many(self, refs: Iterable[bytes | str]) -> tuple[int, int]:
        """Delete the blobs named (those not stored are skipped); returns (count, bytes) freed.

        Used by pruning: the bytes of old parameter states go, their digests stay committed in
        block headers and manifests. SQLite reuses the freed pages, so the file stops growing
        rather than shrinking (``VACUUM`` would shrink it, at the cost of rewriting it)."""
        count = freed = 0
        for ref in refs:
            digest = self._key(ref)
            self._cache.pop(digest, None)
            row = self.conn.execute(f"SELECT length(data) FROM {self.table} WHERE hash=?",
                                    (digest,)).fetchone()
            if row is None:
                continue
            self.conn.execute(f"DELETE FROM {self.table} WHERE hash=?", (digest,))
            count, freed = count + 1, freed + int(row[0])
        return count, freed

    def total_bytes(self) -> int:
        """Bytes of blob data stored (the figure pruning keeps bounded)."""
        row = self.conn.execute(f"SELECT COALESCE(SUM(length(data)), 0) FROM {self.table}")
        return int(row.fetchone()[0])

    def __len__(self) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])
