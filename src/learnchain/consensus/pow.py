"""Governed proof-of-work: registered miners, disjoint nonce ranges, difficulty by governance.

Miner i of s searches only nonces in [i·λ, (i+1)·λ) with λ = ⌊2^r/s⌋, so no two miners ever
duplicate work and a block's nonce shows who was entitled to find it. When a range is exhausted
the miner bumps `extra` in the header (which nothing executes on) and searches its range again.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from dataclasses import replace
from typing import Any

from learnchain.consensus.base import ConsensusEngine, ConsensusParams
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import SEAL_SIZE, Block, BlockHeader

CHUNK = 1 << 14
_pack_nonce = struct.Struct(">Q").pack


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return 256 - value.bit_length()


def target_bytes(difficulty: int) -> bytes | None:
    """Digests strictly below this meet the difficulty; None means every digest does."""
    return None if difficulty == 0 else (1 << (256 - difficulty)).to_bytes(32, "big")


def nonce_range(miner_index: int, miners: int, nonce_bits: int) -> range:
    span = (1 << nonce_bits) // miners
    return range(miner_index * span, (miner_index + 1) * span)


def search_nonce(prefix: bytes, nonces: range, difficulty: int,
                 stop: threading.Event | None = None) -> int | None:
    """First nonce in `nonces` whose header hash meets the difficulty (midstate hashing)."""
    target = target_bytes(difficulty)
    if target is None:
        return nonces.start if len(nonces) else None
    base = hashlib.sha256(prefix)
    copy = base.copy
    for start in range(nonces.start, nonces.stop, CHUNK):
        if stop is not None and stop.is_set():
            return None
        for nonce in range(start, min(start + CHUNK, nonces.stop)):
            h = copy()
            h.update(_pack_nonce(nonce))
            if h.digest() < target:
                return nonce
    return None


class GovernedPow(ConsensusEngine):
    name = "pow"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def default_params(self) -> dict[str, Any]:
        # Assumption 2 of the whitepaper (§6.2): governed miners are resources of the consortium
        # and are not rewarded, so a genesis that says nothing mints nothing.  A reward stays
        # configurable (consensus.params.block_reward) for chains that want one.
        return {"difficulty": 12, "nonce_bits": 32, "block_reward": 0}

    def validate_params(self, params: dict[str, Any]) -> None:
        for name, low, high in (("difficulty", 0, 255), ("nonce_bits", 1, 64),
                                ("block_reward", 0, 10**30)):
            value = params.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"consensus parameter '{name}' must be an integer in "
                                 f"[{low}, {high}], got {value!r}")

    def check_header(self, header: BlockHeader) -> None:
        fields = header.engine_fields
        difficulty = fields.get("difficulty")
        if not isinstance(difficulty, int) or not 0 <= difficulty <= 255:
            raise InvalidBlock("pow header must declare an integer difficulty in [0, 255]")
        if set(fields) != {"difficulty", "extra"} or not isinstance(fields["extra"], int):
            raise InvalidBlock("pow header fields must be exactly {difficulty, extra}")
        if leading_zero_bits(header.hash) < difficulty:
            raise InvalidBlock(f"bad proof of work: the header hash has fewer than {difficulty} "
                               "leading zero bits")

    def verify(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        self.check_governed(block.header, cp)

    def check_governed(self, header: BlockHeader, cp: ConsensusParams) -> None:
        if header.proposer not in cp.miners:
            raise InvalidBlock(f"proposer 0x{header.proposer.hex()} is not an active miner")
        required = cp.params["difficulty"]
        if header.engine_fields["difficulty"] != required:
            raise InvalidBlock(f"block declares difficulty {header.engine_fields['difficulty']}; "
                               f"governance requires {required}")
        index = cp.miners.index(header.proposer)
        nonce = int.from_bytes(header.seal, "big")
        allowed = nonce_range(index, len(cp.miners), cp.params["nonce_bits"])
        if nonce not in allowed:
            raise InvalidBlock(f"nonce {nonce} is outside miner {index}'s range "
                               f"[{allowed.start}, {allowed.stop})")

    def prepare(self, header: BlockHeader, cp: ConsensusParams) -> BlockHeader:
        return replace(header, engine_fields={"difficulty": cp.params["difficulty"], "extra": 0})

    def seal(self, header: BlockHeader, cp: ConsensusParams,
             stop: threading.Event) -> BlockHeader | None:
        if header.proposer not in cp.miners:
            raise InvalidBlock("this node's key is not an active miner; ask the controller to "
                               "add it with consensus.set_miners")
        nonces = nonce_range(cp.miners.index(header.proposer), len(cp.miners),
                             cp.params["nonce_bits"])
        difficulty = header.engine_fields["difficulty"]
        while not stop.is_set():
            nonce = search_nonce(header.seal_prefix(), nonces, difficulty, stop)
            if nonce is not None:
                return replace(header, seal=_pack_nonce(nonce))
            fields = header.engine_fields
            header = replace(header, engine_fields={**fields, "extra": fields["extra"] + 1},
                             seal=bytes(SEAL_SIZE))
        return None

    def reward(self, header: BlockHeader, cp: ConsensusParams) -> int:
        return int(cp.params["block_reward"])

    def work(self, header: BlockHeader) -> int:
        return 1 << int(header.engine_fields.get("difficulty", 0))
