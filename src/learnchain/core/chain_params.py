"""The governed-parameters half of `Chain`: which consensus parameters a child of any known
block is checked with, before that child is executed (the cheap gate of a block's import)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from learnchain.consensus.base import ConsensusParams
from learnchain.core.state import Journal, WorldState
from learnchain.core.types import Block, BlockHeader

if TYPE_CHECKING:
    from learnchain.core.execution import Executor
    from learnchain.core.genesis import GenesisConfig
    from learnchain.storage.sqlite_store import SqliteStore

PARAMS_CACHE = 4096


def _governs(block: Block) -> bool:
    """Whether `block` may change the consensus parameters its descendants are checked with."""
    return any(tx.app == "consensus" for tx in block.transactions)


class GovernedParams:
    store: SqliteStore
    head: BlockHeader
    state: WorldState
    executor: Executor
    genesis_config: GenesisConfig
    _params_at: OrderedDict[bytes, ConsensusParams | None]

    def consensus_params(self) -> ConsensusParams:
        return self.executor.consensus_params(self.state)

    def _load_block(self, block_hash: bytes) -> Block | None:
        raise NotImplementedError

    def _load_header(self, block_hash: bytes) -> BlockHeader | None:
        raise NotImplementedError

    def _params_for_child_of(self, parent: BlockHeader) -> ConsensusParams | None:
        """Consensus parameters in force for a child of `parent`, or None when they cannot be
        known without executing a side branch that itself changes governance (the full check
        at connection then decides). Exact for the head and every canonical block within the
        finality bound (journals are rolled back over the consensus app's keys only); a side
        block inherits its fork point's parameters unless its branch carries a `consensus`
        transaction."""
        if parent.hash == self.head.hash:
            return self.consensus_params()
        if parent.hash in self._params_at:
            return self._params_at[parent.hash]
        side: list[Block] = []
        cursor: BlockHeader | None = parent
        while cursor is not None and self.store.canonical_hash(cursor.height) != cursor.hash:
            if cursor.hash in self._params_at:
                break
            block = self._load_block(cursor.hash)
            assert block is not None
            side.append(block)
            cursor = self._load_header(cursor.parent)
        if cursor is None:
            return None
        if cursor.hash in self._params_at:
            governing = self._params_at[cursor.hash]
        elif self.head.height - cursor.height > self.genesis_config.max_reorg_depth:
            return self.consensus_params()  # past finality: refused by the finality check
        else:
            governing = self._canonical_params(cursor.height)
            self._remember_params(cursor.hash, governing)
        for block in reversed(side):
            governing = None if governing is None or _governs(block) else governing
            self._remember_params(block.hash, governing)
        return governing

    def _canonical_params(self, height: int) -> ConsensusParams:
        """Consensus parameters after the canonical block at `height`: the head's, with the
        consensus app's writes of the blocks above rolled back from their journals."""
        prefix = "consensus/"
        view = {k: v for k, v in self.state.data.items() if k.startswith(prefix)}
        for h in range(self.head.height, height, -1):
            block_hash = self.store.canonical_hash(h)
            data = None if block_hash is None else self.store.get_journal(block_hash)
            if data is None:
                break
            for key, value in Journal.from_bytes(data).undo.items():
                if key.startswith(prefix):
                    if value is None:
                        view.pop(key, None)
                    else:
                        view[key] = value
        return self.executor.consensus_params(WorldState(view))

    def _remember_params(self, block_hash: bytes, cp: ConsensusParams | None) -> None:
        self._params_at[block_hash] = cp
        self._params_at.move_to_end(block_hash)
        if len(self._params_at) > PARAMS_CACHE:
            self._params_at.popitem(last=False)
