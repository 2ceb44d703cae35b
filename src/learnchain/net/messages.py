"""Validation of every peer message at the edge, into one error type (`ProtocolError`).

Handlers behind this module see only checked, typed values: integers in range (SQLite holds
64-bit signed integers), hashes of the right length, lists no longer than the protocol allows.
Nothing a peer sends is converted with `int()`/`bytes()` (a 19-byte `status` whose `head` is a
large integer once made `bytes(head)` allocate 300 MB), and nothing reaches SQLite unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from learnchain.core.errors import EncodingError
from learnchain.core.types import MAX_BLOCK_SIZE, MAX_TX_SIZE, BlockHeader
from learnchain.net.protocol import (
    MAX_BLOBS_PER_REQUEST,
    MAX_BLOCKS_PER_REPLY,
    MAX_HEADERS_PER_REPLY,
    MAX_MESSAGE_SIZE,
    ProtocolError,
)
from learnchain.storage.blobstore import BlobError, digest_of_cid

MAX_INT = (1 << 63) - 1
"""Largest height, sequence number or count a peer may send (SQLite's INTEGER range)."""
MAX_LOCATOR = 64
MAX_ADDRS = 64
MAX_ADDR_LEN = 256
HASH_SIZE = 32
NODE_ID_SIZE = 20
NONCE_SIZE = 16
SIGNATURE_SIZE = 65
MAX_PUBLIC_KEY = 65


def need_int(body: dict[str, Any], key: str, *, low: int = 0, high: int = MAX_INT,
             default: int | None = None) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(f"'{key}' must be an integer in [{low}, {high}]")
    return value


def need_bytes(body: dict[str, Any], key: str, *, size: int | None = None,
               max_size: int = MAX_MESSAGE_SIZE, optional: bool = False) -> bytes | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, bytes):
        raise ProtocolError(f"'{key}' must be bytes")
    if size is not None and len(value) != size:
        raise ProtocolError(f"'{key}' must be {size} bytes")
    if len(value) > max_size:
        raise ProtocolError(f"'{key}' exceeds {max_size} bytes")
    return value


def need_hash(body: dict[str, Any], key: str, *, optional: bool = False) -> bytes | None:
    return need_bytes(body, key, size=HASH_SIZE, optional=optional)


def need_str(body: dict[str, Any], key: str, *, max_len: int = MAX_ADDR_LEN) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise ProtocolError(f"'{key}' must be a non-empty string of at most {max_len} chars")
    return value


def need_list(body: dict[str, Any], key: str, max_items: int, *,
              default: list[Any] | None = None) -> list[Any]:
    value = body.get(key, default)
    if not isinstance(value, list):
        raise ProtocolError(f"'{key}' must be a list")
    if len(value) > max_items:
        raise ProtocolError(f"'{key}' has {len(value)} items; the limit is {max_items}")
    return value


def hashes(body: dict[str, Any], key: str, max_items: int, *,
           default: list[Any] | None = None) -> list[bytes]:
    items = need_list(body, key, max_items, default=default)
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in items):
        raise ProtocolError(f"'{key}' must hold {HASH_SIZE}-byte hashes")
    return items


def cids(body: dict[str, Any], key: str) -> list[bytes]:
    """Content ids as digests (the strict CID parser rejects every non-canonical form)."""
    out = []
    for cid in need_list(body, key, MAX_BLOBS_PER_REQUEST, default=[]):
        try:
            out.append(digest_of_cid(cid))
        except BlobError as exc:
            raise ProtocolError(str(exc)) from None
    return out


def blob_map(body: dict[str, Any], key: str = "blobs") -> dict[str, bytes]:
    value = body.get(key, {})
    if not isinstance(value, dict) or len(value) > MAX_BLOBS_PER_REQUEST:
        raise ProtocolError(f"'{key}' must be a map of at most {MAX_BLOBS_PER_REQUEST} blobs")
    if not all(isinstance(k, str) and isinstance(v, bytes) for k, v in value.items()):
        raise ProtocolError(f"'{key}' must map content ids to bytes")
    return value


def header_of(plain: Any) -> BlockHeader:
    try:
        header = BlockHeader.from_plain(plain)
    except EncodingError as exc:
        raise ProtocolError(str(exc)) from None
    if header.height > MAX_INT or header.timestamp_ms > MAX_INT or header.chain_id > MAX_INT:
        raise ProtocolError("header integers must be below 2^63")
    return header


# ----- one validator per session message kind -----------------------------------------


@dataclass(frozen=True)
class Status:
    height: int
    head: bytes


def validate_status(body: dict[str, Any]) -> Status:
    return Status(need_int(body, "height"), need_hash(body, "head") or b"")


@dataclass(frozen=True)
class TxMsg:
    hash: bytes | None
    tx: bytes


def validate_tx(body: dict[str, Any]) -> TxMsg:
    return TxMsg(need_hash(body, "hash", optional=True),
                 need_bytes(body, "tx", max_size=MAX_TX_SIZE) or b"")


@dataclass(frozen=True)
class BlockMsg:
    hash: bytes | None
    block: bytes
    blobs: dict[str, bytes]


def validate_block(body: dict[str, Any]) -> BlockMsg:
    return BlockMsg(need_hash(body, "hash", optional=True),
                    need_bytes(body, "block", max_size=MAX_BLOCK_SIZE) or b"", blob_map(body))


@dataclass(frozen=True)
class GetHeaders:
    start: int
    locator: list[bytes]
    max: int


def validate_get_headers(body: dict[str, Any]) -> GetHeaders:
    return GetHeaders(need_int(body, "start", default=1),
                      hashes(body, "locator", MAX_LOCATOR, default=[]),
                      min(need_int(body, "max", default=MAX_HEADERS_PER_REPLY),
                          MAX_HEADERS_PER_REPLY))


@dataclass(frozen=True)
class Headers:
    headers: list[BlockHeader]
    height: int
    head: bytes


def validate_headers(body: dict[str, Any]) -> Headers:
    plain = need_list(body, "headers", MAX_HEADERS_PER_REPLY)
    return Headers([header_of(p) for p in plain], need_int(body, "height"),
                   need_hash(body, "head") or b"")


@dataclass(frozen=True)
class GetBlocks:
    hashes: list[bytes]


def validate_get_blocks(body: dict[str, Any]) -> GetBlocks:
    return GetBlocks(hashes(body, "hashes", MAX_BLOCKS_PER_REPLY))


@dataclass(frozen=True)
class Blocks:
    blocks: list[bytes]
    blobs: dict[str, bytes]


def validate_blocks(body: dict[str, Any]) -> Blocks:
    blocks = need_list(body, "blocks", MAX_BLOCKS_PER_REPLY)
    if not all(isinstance(b, bytes) and len(b) <= MAX_BLOCK_SIZE for b in blocks):
        raise ProtocolError(f"'blocks' must hold encoded blocks of at most {MAX_BLOCK_SIZE} "
                            "bytes")
    return Blocks(blocks, blob_map(body))


@dataclass(frozen=True)
class GetBlobs:
    digests: list[bytes]


def validate_get_blobs(body: dict[str, Any]) -> GetBlobs:
    return GetBlobs(cids(body, "cids"))


@dataclass(frozen=True)
class Blobs:
    blobs: dict[str, bytes]
    missing: list[bytes]


def validate_blobs(body: dict[str, Any]) -> Blobs:
    return Blobs(blob_map(body), cids(body, "missing"))


@dataclass(frozen=True)
class Empty:
    pass


def validate_get_peers(body: dict[str, Any]) -> Empty:
    return Empty()


@dataclass(frozen=True)
class Peers:
    addrs: list[str]


def validate_peers(body: dict[str, Any]) -> Peers:
    addrs = need_list(body, "addrs", MAX_ADDRS)
    if not all(isinstance(a, str) and 0 < len(a) <= MAX_ADDR_LEN for a in addrs):
        raise ProtocolError(f"'addrs' must hold addresses of at most {MAX_ADDR_LEN} chars")
    return Peers(addrs)


@dataclass(frozen=True)
class CheckpointMsg:
    checkpoint: Any


def validate_checkpoint_msg(body: dict[str, Any]) -> CheckpointMsg:
    from learnchain.core.errors import InvalidCheckpoint
    from learnchain.core.finality import Checkpoint

    try:
        return CheckpointMsg(Checkpoint.from_plain(body.get("checkpoint")))
    except InvalidCheckpoint as exc:
        raise ProtocolError(str(exc)) from None


@dataclass(frozen=True)
class FraudMsg:
    proof: bytes


def validate_fraud(body: dict[str, Any]) -> FraudMsg:
    """An rlpow fraud proof (consensus/rlpow_fraud.py), opaque here: the engine decodes it."""
    from learnchain.consensus.rlpow_fraud import MAX_PROOF_BYTES

    proof = need_bytes(body, "proof", max_size=MAX_PROOF_BYTES)
    assert proof is not None
    return FraudMsg(proof)


VALIDATORS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "status": validate_status, "tx": validate_tx, "block": validate_block,
    "get_headers": validate_get_headers, "headers": validate_headers,
    "get_blocks": validate_get_blocks, "blocks": validate_blocks,
    "get_blobs": validate_get_blobs, "blobs": validate_blobs,
    "get_peers": validate_get_peers, "peers": validate_peers,
    "checkpoint": validate_checkpoint_msg, "fraud": validate_fraud,
}


# ----- handshake and envelope ----------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    public: bytes
    addr: str
    nonce: bytes
    height: int


def validate_hello(body: dict[str, Any]) -> Hello:
    return Hello(need_bytes(body, "pub", max_size=MAX_PUBLIC_KEY) or b"", need_str(body, "addr"),
                 need_bytes(body, "nonce", size=NONCE_SIZE) or b"",
                 need_int(body, "height", default=0))


@dataclass(frozen=True)
class Challenge:
    public: bytes
    nonce: bytes
    signature: bytes


def validate_challenge(body: dict[str, Any]) -> Challenge:
    return Challenge(need_bytes(body, "pub", max_size=MAX_PUBLIC_KEY) or b"",
                     need_bytes(body, "nonce", size=NONCE_SIZE) or b"",
                     need_bytes(body, "sig", size=SIGNATURE_SIZE) or b"")


@dataclass(frozen=True)
class Auth:
    node: bytes
    signature: bytes


def validate_auth(body: dict[str, Any]) -> Auth:
    return Auth(need_bytes(body, "node", size=NODE_ID_SIZE) or b"",
                need_bytes(body, "sig", size=SIGNATURE_SIZE) or b"")
