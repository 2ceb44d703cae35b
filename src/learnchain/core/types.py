"""Transactions, block headers, blocks and receipts, with their canonical forms.

A header is encoded as a fixed-order list whose last element is the 8-byte `seal`. Because the
seal has a fixed width and sits last, a miner hashes a constant prefix once and only the seal
per attempt (the SHA-256 midstate trick) without changing what the header hash means.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from learnchain.core.crypto import (
    ADDRESS_SIZE,
    HIGH_S_MESSAGE,
    PrivateKey,
    is_high_s,
    recover_address,
)
from learnchain.core.encoding import array_header, decode, encode, sha256
from learnchain.core.errors import EncodingError, InvalidBlock, InvalidTransaction
from learnchain.core.merkle import merkle_root

HASH_SIZE = 32
SEAL_SIZE = 8
ZERO_HASH = bytes(HASH_SIZE)
MAX_TX_SIZE = 128 * 1024
MAX_BLOCK_SIZE = 4 * 1024 * 1024
MAX_NAME = 64
_ARRAY_OF_SEVEN = b"\x87"
TX_FIELDS = 8
MAX_FEE = 2**64 - 1
_SIGNATURE_ENCODED_SIZE = 2 + 65


class cached_property:
    """functools.cached_property without the per-instance-class lock Python 3.11 takes on
    every first access (measurable when thousands of transactions are hashed per block).
    Values are computed from frozen fields, so a race only computes the same value twice."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value
        return value


def _require(cond: bool, exc: type[Exception], message: str) -> None:
    if not cond:
        raise exc(message)


@dataclass(frozen=True)
class Transaction:
    """A signed call of one app method.

    Encoded as the list [chain_id, sender, nonce, fee, app, method, args, signature]; the
    signature covers the first seven (see `signing_digest`). `fee` is the total the sender
    pays the block's proposer, charged even when the app call fails; it must be at least the
    chain's `fee_per_byte` times the length of this encoding (`minimum_fee`). It is the last
    dataclass field only so that positional construction of fee-less transactions still works.
    """

    chain_id: int
    sender: bytes
    nonce: int
    app: str
    method: str
    args: dict[str, Any]
    signature: bytes = b""
    fee: int = 0

    def unsigned_fields(self) -> list[Any]:
        return [self.chain_id, self.sender, self.nonce, self.fee, self.app, self.method,
                self.args]

    @cached_property
    def signing_digest(self) -> bytes:
        encoded = self.__dict__.get("encoded")
        if encoded is not None:
            # The signed list is the first seven of the eight encoded fields: reuse their bytes.
            tail = (_SIGNATURE_ENCODED_SIZE if len(self.signature) == 65
                    else len(encode(self.signature)))
            unsigned = _ARRAY_OF_SEVEN + encoded[1 : len(encoded) - tail]
        else:
            unsigned = encode(self.unsigned_fields())
        return sha256(b"learnchain-tx" + unsigned)

    def to_plain(self) -> list[Any]:
        return [*self.unsigned_fields(), self.signature]

    @property
    def size(self) -> int:
        """Length of the canonical encoding in bytes: what the per-byte fee is charged on."""
        return len(self.encoded)

    def with_minimum_fee(self, fee_per_byte: int) -> Transaction:
        """This (unsigned) transaction with the smallest fee the rule allows once signed."""
        return replace(self, fee=minimum_fee(self, fee_per_byte))

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_plain())

    @cached_property
    def hash(self) -> bytes:
        return sha256(self.encoded)

    def signed(self, key: PrivateKey) -> Transaction:
        if key.address != self.sender:
            raise InvalidTransaction("the signing key does not belong to the transaction's sender")
        return replace(self, signature=key.sign(self.signing_digest))

    def recover_signer(self) -> bytes:
        return recover_address(self.signing_digest, self.signature)

    @classmethod
    def from_plain(cls, plain: Any) -> Transaction:
        if not isinstance(plain, list) or len(plain) != TX_FIELDS:
            raise EncodingError("a transaction is a list of 8 fields [chain_id, sender, nonce, "
                                "fee, app, method, args, signature]")
        chain_id, sender, nonce, fee, app, method, args, signature = plain
        if (type(chain_id) is int and chain_id >= 0 and type(sender) is bytes
                and len(sender) == ADDRESS_SIZE and type(nonce) is int and 0 <= nonce < 2**64
                and type(fee) is int and 0 <= fee <= MAX_FEE and type(app) is str
                and 0 < len(app) <= MAX_NAME and type(method) is str
                and 0 < len(method) <= MAX_NAME and type(args) is dict
                and type(signature) is bytes and not is_high_s(signature)):
            # The common, valid case: one combined test, and the frozen dataclass's per-field
            # __setattr__ skipped (block import decodes thousands of these per block).
            tx = cls.__new__(cls)
            tx.__dict__.update(chain_id=chain_id, sender=sender, nonce=nonce, app=app,
                               method=method, args=args, signature=signature, fee=fee)
            return tx
        checks = [
            (isinstance(chain_id, int) and not isinstance(chain_id, bool) and chain_id >= 0,
             "chain_id must be a non-negative int"),
            (isinstance(sender, bytes) and len(sender) == ADDRESS_SIZE, "sender must be 20 bytes"),
            (isinstance(nonce, int) and not isinstance(nonce, bool) and 0 <= nonce < 2**64,
             "nonce must be an int in [0, 2^64)"),
            (isinstance(fee, int) and not isinstance(fee, bool) and 0 <= fee <= MAX_FEE,
             "fee must be an int in [0, 2^64)"),
            (isinstance(app, str) and 0 < len(app) <= MAX_NAME,
             "app must be a short non-empty str"),
            (isinstance(method, str) and 0 < len(method) <= MAX_NAME,
             "method must be a short non-empty str"),
            (isinstance(args, dict), "args must be a map"),
            (isinstance(signature, bytes), "signature must be bytes"),
        ]
        for ok, message in checks:
            _require(ok, EncodingError, f"transaction: {message}")
        _require(not is_high_s(signature), EncodingError, f"transaction: {HIGH_S_MESSAGE}")
        return cls(chain_id, sender, nonce, app, method, args, signature, fee)

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        _require(len(data) <= MAX_TX_SIZE, EncodingError,
                 f"transaction is {len(data)} bytes; the limit is {MAX_TX_SIZE}")
        tx = cls.from_plain(decode(data))
        tx.__dict__["encoded"] = bytes(data)
        return tx


def minimum_fee(tx: Transaction, fee_per_byte: int) -> int:
    """The least fee `tx` may carry: fee_per_byte × its encoded size with a 65-byte signature.

    The size depends on the fee's own encoding (a larger integer takes more bytes), so the fee
    is raised until it covers the size it produces; this converges within a few steps.
    """
    if fee_per_byte <= 0:
        return 0
    fee = 0
    while True:
        size = len(encode([tx.chain_id, tx.sender, tx.nonce, fee, tx.app, tx.method, tx.args,
                           bytes(65)]))
        needed = fee_per_byte * size
        if fee >= needed:
            return fee
        fee = needed


@dataclass(frozen=True)
class BlockHeader:
    chain_id: int
    height: int
    parent: bytes
    timestamp_ms: int
    proposer: bytes
    tx_root: bytes
    state_root: bytes
    receipts_root: bytes
    engine: str
    engine_fields: dict[str, Any] = field(default_factory=dict)
    seal: bytes = bytes(SEAL_SIZE)

    def to_plain(self) -> list[Any]:
        return [self.chain_id, self.height, self.parent, self.timestamp_ms, self.proposer,
                self.tx_root, self.state_root, self.receipts_root, self.engine,
                self.engine_fields, self.seal]

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_plain())

    @cached_property
    def hash(self) -> bytes:
        return sha256(self.encoded)

    def seal_prefix(self) -> bytes:
        """Encoding of the header up to (not including) the seal's 8 bytes."""
        data = self.encoded
        return data[: len(data) - SEAL_SIZE]

    @classmethod
    def from_plain(cls, plain: Any) -> BlockHeader:
        if not isinstance(plain, list) or len(plain) != 11:
            raise EncodingError("a block header is a list of 11 fields")
        (chain_id, height, parent, ts, proposer, tx_root, state_root, receipts_root, engine,
         engine_fields, seal) = plain
        ints = (chain_id, height, ts)
        _require(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints),
                 EncodingError, "header: chain_id, height and timestamp must be non-negative ints")
        for name, value in (("parent", parent), ("tx_root", tx_root),
                            ("state_root", state_root), ("receipts_root", receipts_root)):
            _require(isinstance(value, bytes) and len(value) == HASH_SIZE, EncodingError,
                     f"header: {name} must be {HASH_SIZE} bytes")
        _require(isinstance(proposer, bytes) and len(proposer) == ADDRESS_SIZE, EncodingError,
                 "header: proposer must be 20 bytes")
        _require(isinstance(engine, str) and 0 < len(engine) <= MAX_NAME, EncodingError,
                 "header: engine must be a short str")
        _require(isinstance(engine_fields, dict), EncodingError,
                 "header: engine_fields must be a map")
        _require(isinstance(seal, bytes) and len(seal) == SEAL_SIZE, EncodingError,
                 f"header: seal must be {SEAL_SIZE} bytes")
        return cls(chain_id, height, parent, ts, proposer, tx_root, state_root, receipts_root,
                   engine, engine_fields, seal)


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...] = ()
    signature: bytes = b""

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def parent(self) -> bytes:
        return self.header.parent

    def to_plain(self) -> list[Any]:
        return [self.header.to_plain(), [tx.to_plain() for tx in self.transactions],
                self.signature]

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_plain())

    def signed(self, key: PrivateKey) -> Block:
        if key.address != self.header.proposer:
            raise InvalidBlock("the signing key does not belong to the block's proposer")
        return replace(self, signature=key.sign(self.hash))

    def verify_signature(self) -> None:
        try:
            signer = recover_address(self.hash, self.signature)
        except InvalidTransaction as exc:
            raise InvalidBlock(f"block signature: {exc}") from None
        if signer != self.header.proposer:
            raise InvalidBlock("block signature is not the proposer's")

    def computed_tx_root(self) -> bytes:
        return merkle_root([tx.hash for tx in self.transactions])

    @classmethod
    def decode(cls, data: bytes) -> Block:
        _require(len(data) <= MAX_BLOCK_SIZE, EncodingError,
                 f"block is {len(data)} bytes; the limit is {MAX_BLOCK_SIZE}")
        plain = decode(data, max_size=MAX_BLOCK_SIZE, strict=False)
        if not isinstance(plain, list) or len(plain) != 3 or not isinstance(plain[1], list):
            raise EncodingError("a block is a list [header, transactions, signature]")
        header = BlockHeader.from_plain(plain[0])
        txs = tuple(Transaction.from_plain(p) for p in plain[1])
        for tx, tx_plain in zip(txs, plain[1], strict=True):
            # `decode` already checked every value is plain: re-encode without a second walk.
            tx.__dict__["encoded"] = encode(tx_plain, trusted=True)
        _require(isinstance(plain[2], bytes), EncodingError, "block signature must be bytes")
        _require(not is_high_s(plain[2]), EncodingError, f"block: {HIGH_S_MESSAGE}")
        # Canonical form, checked from the parts' own encodings (each is needed for its hash
        # anyway) instead of re-encoding the whole block once more.
        canonical = b"".join([array_header(3), header.encoded, array_header(len(txs)),
                              *(tx.encoded for tx in txs), encode(plain[2])])
        if canonical != data:
            raise EncodingError("bytes are valid CBOR but not the canonical encoding of a block")
        block = cls(header, txs, plain[2])
        block.__dict__["encoded"] = bytes(data)
        return block


@dataclass(frozen=True)
class Receipt:
    tx_hash: bytes
    success: bool
    error: str | None = None
    result: Any = None
    events: tuple[dict[str, Any], ...] = ()

    def to_plain(self) -> list[Any]:
        return [self.tx_hash, self.success, self.error, self.result, list(self.events)]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> Receipt:
        tx_hash, success, error, result, events = plain
        return cls(tx_hash, success, error, result, tuple(events))

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_plain())

    @cached_property
    def hash(self) -> bytes:
        return sha256(self.encoded)


def receipts_root(receipts: list[Receipt]) -> bytes:
    return merkle_root([r.hash for r in receipts])
