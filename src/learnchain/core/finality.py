"""Finality checkpoints and split reports: the way out of a partition longer than the bound.

A node never reorganises more than `max_reorg_depth` blocks, so after a long partition each
side keeps its own valid chain and refuses the other's. That refusal is not misbehaviour, and
the node says so: it records a `Split` (API, CLI, log). The way out is a `Checkpoint`: a
(height, hash) signed by the governance controller (the `consensus` app's controller key, which
both sides share from before the split). A node that accepts it treats every branch without
that block as final-excluded and may reorganise past the bound onto the checkpointed branch.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learnchain.core.crypto import PrivateKey, recover_address
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import (
    BeyondFinality,
    EncodingError,
    InvalidCheckpoint,
    InvalidTransaction,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from learnchain.consensus.base import ConsensusParams
    from learnchain.core.genesis import GenesisConfig
    from learnchain.core.types import Block, BlockHeader
    from learnchain.storage.sqlite_store import SqliteStore

log = logging.getLogger("learnchain.chain")

CHECKPOINT_DOMAIN = b"learnchain-checkpoint/v1"
MAX_HEIGHT = (1 << 63) - 1


@dataclass(frozen=True)
class Checkpoint:
    """Block `hash` at `height` is final on chain `chain_id`, signed by the controller."""

    chain_id: int
    height: int
    hash: bytes
    signature: bytes = b""

    def digest(self) -> bytes:
        return hashlib.sha256(CHECKPOINT_DOMAIN + encode([self.chain_id, self.height,
                                                          self.hash])).digest()

    def signed(self, key: PrivateKey) -> Checkpoint:
        return Checkpoint(self.chain_id, self.height, self.hash, key.sign(self.digest()))

    def signer(self) -> bytes:
        try:
            return recover_address(self.digest(), self.signature)
        except InvalidTransaction as exc:
            raise InvalidCheckpoint(f"checkpoint signature: {exc}") from None

    def to_plain(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "height": self.height, "hash": self.hash,
                "signature": self.signature}

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "height": self.height,
                "hash": "0x" + self.hash.hex(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_plain(cls, plain: Any) -> Checkpoint:
        """Strictly typed input (from a peer, a file or the API); raises InvalidCheckpoint."""
        if not isinstance(plain, dict) or set(plain) != {"chain_id", "height", "hash",
                                                         "signature"}:
            raise InvalidCheckpoint("a checkpoint is {chain_id, height, hash, signature}")
        chain_id, height = plain["chain_id"], plain["height"]
        block_hash, signature = plain["hash"], plain["signature"]
        for name, value in (("chain_id", chain_id), ("height", height)):
            if not isinstance(value, int) or isinstance(value, bool) \
                    or not 0 <= value <= MAX_HEIGHT:
                raise InvalidCheckpoint(f"checkpoint {name} must be an integer in "
                                        f"[0, 2^63)")
        if not isinstance(block_hash, bytes) or len(block_hash) != 32:
            raise InvalidCheckpoint("checkpoint hash must be 32 bytes")
        if not isinstance(signature, bytes) or len(signature) != 65:
            raise InvalidCheckpoint("checkpoint signature must be 65 bytes")
        return cls(chain_id, height, block_hash, signature)

    @classmethod
    def from_json(cls, plain: Any) -> Checkpoint:
        if not isinstance(plain, dict):
            raise InvalidCheckpoint("a checkpoint is a JSON object")
        try:
            return cls.from_plain({**plain, "hash": _hex(plain.get("hash")),
                                   "signature": _hex(plain.get("signature"))})
        except ValueError:
            raise InvalidCheckpoint("checkpoint hash and signature must be 0x-hex") from None


def _hex(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not hex")
    return bytes.fromhex(value.removeprefix("0x"))


def validate_checkpoint(checkpoint: Checkpoint, chain_id: int, controller: bytes | None) -> None:
    """Pure rule: right chain, and signed by the governance controller in force."""
    if checkpoint.chain_id != chain_id:
        raise InvalidCheckpoint(f"checkpoint is for chain {checkpoint.chain_id}, not {chain_id}")
    if checkpoint.height < 1:
        raise InvalidCheckpoint("the genesis block needs no checkpoint")
    if controller is None:
        raise InvalidCheckpoint("this chain has no governance controller to sign checkpoints")
    if checkpoint.signer() != controller:
        raise InvalidCheckpoint(f"checkpoint is not signed by the governance controller "
                                f"0x{controller.hex()}")


@dataclass(frozen=True)
class Split:
    """A peer's branch this node refuses because it forked deeper than the finality bound."""

    fork_height: int
    their_hash: bytes
    their_height: int
    depth: int
    bound: int
    seen_ms: int

    def to_plain(self) -> list[Any]:
        return [self.fork_height, self.their_hash, self.their_height, self.depth, self.bound,
                self.seen_ms]

    @classmethod
    def from_bytes(cls, data: bytes) -> Split | None:
        try:
            return cls(*decode(data))
        except (EncodingError, TypeError):
            return None

    def to_json(self) -> dict[str, Any]:
        return {"fork_height": self.fork_height, "their_block": "0x" + self.their_hash.hex(),
                "their_height": self.their_height, "depth": self.depth,
                "finality_bound": self.bound, "seen_ms": self.seen_ms,
                "way_out": "a checkpoint signed by the governance controller "
                           "(learnchain finality checkpoint; docs/security.md)"}

    def describe(self) -> str:
        return (f"chain split: a peer's branch (block 0x{self.their_hash.hex()[:16]} at height "
                f"{self.their_height}) forked at height {self.fork_height}, {self.depth} blocks "
                f"below this node's head; the finality bound is {self.bound}. Neither side will "
                "switch on its own; the governance controller must sign a checkpoint "
                "(`learnchain finality checkpoint`)")


class FinalityRules:
    """The finality half of `Chain`: splits past the bound, and checkpoints that end them."""

    store: SqliteStore
    genesis_config: GenesisConfig
    head: BlockHeader
    lock: threading.RLock
    clock: Callable[[], int]
    checkpoint: Checkpoint | None
    split: Split | None

    def _load_header(self, block_hash: bytes) -> BlockHeader | None:
        raise NotImplementedError

    def consensus_params(self) -> ConsensusParams:
        raise NotImplementedError

    def _ancestor_hash(self, block: Block, height: int) -> bytes | None:
        if block.height == height:
            return block.hash
        cursor = self._load_header(block.parent)
        while cursor is not None and cursor.height > height:
            cursor = self._load_header(cursor.parent)
        return None if cursor is None else cursor.hash

    def _check_finality(self, block: Block, fork_height: int) -> tuple[bool, bool]:
        """(switch regardless of fork choice, may undo more than the bound) for a block whose
        branch leaves the canonical chain at `fork_height`; raises BeyondFinality (a split or
        a branch a checkpoint excludes: never a verdict on the sender)."""
        cp = self.checkpoint
        if cp is not None and fork_height < cp.height:
            ours = self.store.canonical_hash(cp.height) == cp.hash
            if ours:
                raise BeyondFinality(f"block is on a branch that excludes the checkpoint at "
                                     f"height {cp.height}")
            if block.height >= cp.height:
                if self._ancestor_hash(block, cp.height) != cp.hash:
                    raise BeyondFinality(f"block is on a branch that excludes the checkpoint "
                                         f"at height {cp.height}")
                return True, True
            return False, True  # may lead to the checkpoint, which our chain does not
        depth = self.head.height - fork_height
        bound = self.genesis_config.max_reorg_depth
        if depth > bound:
            self._record_split(block, fork_height, depth)
            raise BeyondFinality(f"switching to this branch would undo {depth} blocks; the "
                                 f"finality bound is {bound}")
        return False, False

    def _record_split(self, block: Block, fork_height: int, depth: int) -> None:
        split = Split(fork_height, block.hash, block.height, depth,
                      self.genesis_config.max_reorg_depth, self.clock())
        first = self.split is None or self.split.fork_height != fork_height
        self.split = split
        self.store.set_meta("split", encode(split.to_plain()))
        if first:
            log.warning(split.describe())

    def accept_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Adopt a controller-signed checkpoint; False when it is the one already held.

        Raises InvalidCheckpoint. Switching to the checkpointed branch happens as its blocks
        arrive (they may undo more than the finality bound).
        """
        with self.lock:
            validate_checkpoint(checkpoint, self.genesis_config.chain_id,
                                self.consensus_params().controller)
            if self.checkpoint == checkpoint:
                return False
            if self.checkpoint is not None and checkpoint.height < self.checkpoint.height:
                raise InvalidCheckpoint(f"a checkpoint at height {self.checkpoint.height} is "
                                        "already in force; checkpoints only move forward")
            self.checkpoint = checkpoint
            self.store.set_meta("checkpoint", encode(checkpoint.to_plain()))
            log.warning("checkpoint accepted: block 0x%s at height %d is final",
                        checkpoint.hash.hex()[:16], checkpoint.height)
            self._clear_split_if_resolved()
            return True

    def _clear_split_if_resolved(self) -> None:
        cp = self.checkpoint
        if self.split is not None and cp is not None \
                and self.store.canonical_hash(cp.height) == cp.hash:
            self.split = None
            self.store.delete_meta("split")
            log.warning("chain split resolved by the checkpoint at height %d", cp.height)
