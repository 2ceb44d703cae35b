"""Re-validate a stored chain from genesis, as a new node would, and name the first bad block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from learnchain.apps.registry import build_apps
from learnchain.consensus.registry import build_engine
from learnchain.core.chain import AddStatus, Chain
from learnchain.core.errors import EncodingError, InvalidBlock, LearnchainError
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.storage.sqlite_store import SqliteStore


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    height: int
    first_bad_height: int | None = None
    reason: str | None = None


def verify_store(database: Path | str, genesis: GenesisConfig,
                 progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    stored = SqliteStore(database)
    try:
        return _verify(stored, genesis, progress)
    finally:
        stored.close()


def _verify(stored: SqliteStore, genesis: GenesisConfig,
            progress: Callable[[int, int], None] | None) -> VerifyReport:
    engine = build_engine(genesis.engine, genesis.engine_config)
    replay = Chain(SqliteStore(":memory:"), genesis, build_apps(genesis.extra_apps, engine),
                   engine, clock=lambda: 2**62)
    if stored.get_meta("genesis") != replay.genesis_block.hash:
        return VerifyReport(False, 0, 0, "genesis differs from genesis.json")
    head = stored.get_meta("head")
    head_block = stored.get_block(head) if head else None
    top = head_block.height if head_block else 0
    height = 0
    for height, block_hash in stored.canonical_range(1, top):
        row = stored.get_block(block_hash)
        try:
            if row is None:
                raise InvalidBlock("canonical block missing from the store")
            block = Block.decode(row.data)
            if block.hash != block_hash:
                raise InvalidBlock("stored bytes do not hash to the recorded block hash")
            result = replay.add_block(block)
            if result.status is not AddStatus.NEW_HEAD:
                raise InvalidBlock(f"block does not extend the replayed chain ({result.status})")
        except (InvalidBlock, EncodingError, LearnchainError) as exc:
            return VerifyReport(False, height - 1, height, str(exc))
        if progress is not None:
            progress(height, top)
    if head is not None and replay.head_hash != head:
        return VerifyReport(False, height, height + 1, "stored head is not the canonical tip")
    if replay.state.data != stored.load_state():
        return VerifyReport(False, height, None, "stored state differs from the replayed state")
    return VerifyReport(True, height)
