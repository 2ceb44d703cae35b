"""The block tree: import, fork choice, reorgs, orphans, and the state at the head.

Blocks are checked in two stages. Cheap stateless checks (size, roots of the body, proposer
signature, the engine's header check, time bound) run before anything is stored. Full checks
(consensus parameters at the parent, every transaction, state and receipt roots) run when a
block joins the canonical chain. A block that fails them is removed with its descendants; the
old head stays, and nothing partial is ever stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from learnchain.apps.base import App, BlockInfo
from learnchain.consensus.base import BlockMetrics, ConsensusEngine, ConsensusParams, fork_rule
from learnchain.core.bounds import BlockBudget
from learnchain.core.chain_params import GovernedParams, _governs
from learnchain.core.chain_reader import ChainReader
from learnchain.core.encoding import decode, encode, encode_list_of_encoded
from learnchain.core.errors import (
    BeyondFinality,
    DataUnavailable,
    EncodingError,
    FutureBlock,
    InvalidBlock,
    InvalidTransaction,
    StoreError,
)
from learnchain.core.execution import (
    ExecutionResult,
    Executor,
    SignatureCache,
    recover_senders,
    recover_senders_lazy,
)
from learnchain.core.finality import Checkpoint, FinalityRules, Split
from learnchain.core.genesis import GenesisConfig
from learnchain.core.merkle import EMPTY_ROOT, merkle_root
from learnchain.core.state import Journal, StateView, WorldState, state_root
from learnchain.core.types import (
    ZERO_HASH,
    Block,
    BlockHeader,
    Transaction,
    receipts_root,
)
from learnchain.storage.sqlite_store import SqliteStore

log = logging.getLogger("learnchain.chain")

ZERO_ADDRESS = bytes(20)
MAX_ORPHANS = 512
MAX_ORPHAN_BYTES = 32 * 1024 * 1024
MAX_SIDE_BLOCKS = 4096
MAX_SIDE_BYTES = 256 * 1024 * 1024
MAX_INVALID_REMEMBERED = 10_000


class AddStatus(StrEnum):
    NEW_HEAD = "new-head"
    STORED = "stored"
    ORPHAN = "orphan"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class AddResult:
    status: AddStatus
    block_hash: bytes
    reorg_depth: int = 0
    connected: tuple[bytes, ...] = ()
    disconnected: tuple[Block, ...] = ()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Chain(ChainReader, GovernedParams, FinalityRules):
    """One chain's block tree and head state, persisted in a SqliteStore."""

    def __init__(self, store: SqliteStore, genesis: GenesisConfig, apps: dict[str, App],
                 engine: ConsensusEngine, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.store = store
        self.genesis_config = genesis
        self.engine = engine
        self.executor = Executor(genesis.chain_id, apps, engine)
        self.fork_key = fork_rule(genesis.fork_choice)
        self.clock = clock
        self.lock = threading.RLock()
        self.sig_cache = SignatureCache()
        self.orphans: OrderedDict[bytes, Block] = OrderedDict()
        self.orphan_budget = BlockBudget(MAX_ORPHANS, MAX_ORPHAN_BYTES)
        self.side = BlockBudget(MAX_SIDE_BLOCKS, MAX_SIDE_BYTES)
        self._params_at: OrderedDict[bytes, ConsensusParams | None] = OrderedDict()
        self._fork_of: dict[bytes, int] = {}  # side block → fork height, until the next reorg
        self.invalid: OrderedDict[bytes, str] = OrderedDict()
        self.listeners: list[Callable[[Block], None]] = []
        self._prefetched: tuple[bytes, Iterator[bytes | None]] | None = None
        engine.attach(self)
        self.genesis_block, genesis_writes = self._make_genesis()
        stored_genesis = store.get_meta("genesis")
        if stored_genesis is None:
            self._init_store(genesis_writes)
        elif stored_genesis != self.genesis_block.hash:
            raise StoreError("the store in this data directory belongs to another chain "
                             f"(genesis 0x{stored_genesis.hex()[:16]}…); use a new --datadir")
        self._resume()

    # ----- set-up and restart ------------------------------------------------------------

    def _make_genesis(self) -> tuple[Block, dict[str, bytes | None]]:
        g = self.genesis_config
        info = BlockInfo(g.chain_id, 0, g.timestamp_ms, ZERO_HASH, ZERO_ADDRESS)
        writes = self.executor.genesis_writes(g.apps, info)
        header = BlockHeader(g.chain_id, 0, ZERO_HASH, g.timestamp_ms, ZERO_ADDRESS, EMPTY_ROOT,
                             state_root(ZERO_HASH, writes), EMPTY_ROOT, self.engine.name,
                             {"config": g.hash})
        return Block(header), writes

    def _init_store(self, writes: dict[str, bytes | None]) -> None:
        block = self.genesis_block
        state = WorldState()
        undo = state.apply(writes)
        with self.store.transaction():
            self.store.put_block(block.hash, block.parent, 0, block.header.encoded,
                                 block.encoded, encode(BlockMetrics(0, 0, 0, 0).to_plain()))
            self.store.put_journal(block.hash, Journal(dict(writes), undo).to_bytes())
            self.store.put_receipts(block.hash, encode([]))
            self.store.write_state(writes)
            self.store.set_canonical(0, block.hash)
            self._write_head_meta(block.hash, state.checksum)
            self.store.set_meta("genesis", block.hash)

    def _write_head_meta(self, head: bytes, checksum: int) -> None:
        self.store.set_meta("head", head)
        self.store.set_meta("checksum", checksum.to_bytes(32, "big"))

    def _resume(self) -> None:
        """Load the head state and re-verify the head against what the store says."""
        head_hash = self.store.get_meta("head")
        if head_hash is None:
            raise StoreError("the store has no head; it was not initialised by learnchain")
        self.state = WorldState(self.store.load_state())
        stored = self.store.get_meta("checksum")
        if stored is None or int.from_bytes(stored, "big") != self.state.checksum:
            raise StoreError("the stored state does not match its checksum; the database was "
                             "changed outside learnchain. Run `learnchain chain verify` and "
                             "re-sync into a new data directory")
        head = self._load_block(head_hash)
        if head is None or self.store.canonical_hash(head.height) != head_hash:
            raise StoreError("the stored head is not on the stored canonical chain")
        if head.height > 0:
            self._check_stateless(head, check_time=False)
        self._repair_header(head)
        self.head = head.header
        try:
            self.head_metrics = self._metrics(head_hash)
            parent = self.store.get_block(head.parent) if head.height > 0 else None
            expected = self.head_metrics if parent is None else BlockMetrics.from_plain(
                decode(parent.metrics)).child(self.engine.work(head.header),
                                              self.engine.fork_reward(head.header))
        except (EncodingError, TypeError, ValueError):
            expected = None
        if expected is None or expected != self.head_metrics:
            raise StoreError("the stored fork-choice metrics of the head do not follow from its "
                             "parent's; the database was changed outside learnchain. Run "
                             "`learnchain chain verify` and re-sync into a new data directory")
        for block_hash, height, size in self.store.side_blocks():
            self.side.add(block_hash, height, size)
        stored_checkpoint = self.store.get_meta("checkpoint")
        self.checkpoint = (None if stored_checkpoint is None
                           else Checkpoint.from_plain(decode(stored_checkpoint)))
        stored_split = self.store.get_meta("split")
        self.split = None if stored_split is None else Split.from_bytes(stored_split)

    def _repair_header(self, block: Block) -> None:
        """The header column is derived from the block bytes (which hash to the block's key):
        if someone edited it, write it back from the bytes instead of building on it."""
        if self.store.get_header(block.hash) != block.header.encoded:
            log.warning("stored header of block 0x%s differs from its bytes; rewritten from "
                        "the block (run `learnchain chain verify` to check the rest)",
                        block.hash.hex()[:16])
            with self.store.transaction():
                self.store.set_header(block.hash, block.header.encoded)

    # ----- import ------------------------------------------------------------------------

    def add_block(self, block: Block) -> AddResult:
        """Import a block from anywhere (peer, producer, file). Raises InvalidBlock."""
        with self.lock:
            result = self._add_one(block)
            if result.status in (AddStatus.NEW_HEAD, AddStatus.STORED):
                self._adopt_orphans(block.hash)
        if result.status is AddStatus.NEW_HEAD:
            for listener in self.listeners:
                listener(block)
        return result

    def _add_one(self, block: Block) -> AddResult:
        block_hash = block.hash
        if block_hash in self.invalid:
            raise InvalidBlock(f"block was already rejected: {self.invalid[block_hash]}")
        if self.has_block(block_hash):
            return AddResult(AddStatus.DUPLICATE, block_hash)
        self._check_stateless(block, check_time=False, prefetch=True)
        if block.parent in self.invalid:
            self._remember_invalid(block_hash, "its parent is invalid")
            raise InvalidBlock("block builds on an invalid parent")
        parent = self.store.get_block(block.parent)
        if parent is None:
            # No parent, so no parameters at the parent: the head's are the best bound. An
            # orphan outside it is not kept (governance may have changed on the way to it),
            # and not judged: it is judged when it comes again with its parent.
            try:
                self._check_governed(block, self.consensus_params())
            except InvalidBlock:
                return AddResult(AddStatus.ORPHAN, block_hash)
            self._check_time(block)
            self._add_orphan(block)
            return AddResult(AddStatus.ORPHAN, block_hash)
        parent_header = self._load_header(block.parent)
        assert parent_header is not None
        self._check_against_parent(block.header, parent_header)
        governing = self._params_for_child_of(parent_header)
        if governing is not None:  # exact: a verdict, remembered so descendants fail fast
            try:
                self._check_governed(block, governing)
            except InvalidBlock as exc:
                self._remember_invalid(block_hash, str(exc))
                raise
        self._check_time(block)
        fork_height = self._fork_height(parent_header)
        forced, deep_ok = self._check_finality(block, fork_height)
        metrics = BlockMetrics.from_plain(decode(parent.metrics)).child(
            self.engine.work(block.header), self.engine.fork_reward(block.header))
        if not forced and self.fork_key(metrics) <= self.fork_key(self.head_metrics):
            with self.store.transaction():
                self.store.put_block(block_hash, block.parent, block.height,
                                     block.header.encoded, block.encoded,
                                     encode(metrics.to_plain()))
            self.side.add(block_hash, block.height, len(block.encoded))
            if len(self._fork_of) < 2 * MAX_SIDE_BLOCKS:
                self._fork_of[block_hash] = fork_height
            self._remember_params(block_hash, None if _governs(block) else governing)
            self._prune_side()
            return AddResult(AddStatus.STORED, block_hash)
        return self._reorg_to(block, metrics, allow_deep=deep_ok)

    def _check_stateless(self, block: Block, *, check_time: bool,
                         prefetch: bool = False) -> None:
        header = block.header
        g = self.genesis_config
        if header.chain_id != g.chain_id:
            raise InvalidBlock(f"wrong chain id {header.chain_id}; this chain is {g.chain_id}")
        if header.engine != self.engine.name:
            raise InvalidBlock(f"block is for engine {header.engine!r}; this chain runs "
                               f"{self.engine.name!r}")
        if header.height == 0:
            raise InvalidBlock("a second genesis block cannot be imported")
        block.verify_signature()
        self.engine.check_header(header)
        if check_time:
            self._check_time(block)
        if block.computed_tx_root() != header.tx_root:
            raise InvalidBlock("wrong tx root: the header does not commit to these transactions")
        if (prefetch and header.parent == self.head.hash
                and self.engine.can_propose(header.proposer, self.consensus_params())):
            # Likely the next head, signed by an active miner and committing to these
            # transactions (so no one else can make this node recover signatures): start
            # recovering its senders on the worker processes now, so they run while this
            # process loads the parent, checks the rules and executes (see execute_for).
            self._prefetched = (block.hash, recover_senders_lazy(block.transactions,
                                                                 self.sig_cache))

    def _check_time(self, block: Block) -> None:
        limit = self.genesis_config.max_future_ms
        if block.header.timestamp_ms > self.clock() + limit:
            raise FutureBlock(f"timestamp is more than {limit} ms in the future")

    def _check_governed(self, block: Block, cp: ConsensusParams) -> None:
        """Declared work and proposer against governance, before anything is stored: a key
        that is not an active miner, or a header declaring less work than governance requires,
        must not cost this node disk, memory or relay bandwidth."""
        self.engine.check_governed(block.header, cp)

    def _fork_height(self, parent: BlockHeader) -> int:
        """Height of the nearest canonical ancestor of (or at) `parent` (remembered per side
        block, so a long side branch costs one step per block, not one walk per block)."""
        cursor = parent
        while self.store.canonical_hash(cursor.height) != cursor.hash:
            known = self._fork_of.get(cursor.hash)
            if known is not None:
                return known
            above = self._load_header(cursor.parent)
            if above is None:
                raise InvalidBlock("branch does not reach a stored ancestor")
            cursor = above
        return cursor.height

    def _check_against_parent(self, header: BlockHeader, parent: BlockHeader) -> None:
        if header.height != parent.height + 1:
            raise InvalidBlock(f"height {header.height} does not follow parent height "
                               f"{parent.height}")
        if header.timestamp_ms < parent.timestamp_ms:
            raise InvalidBlock("timestamp is earlier than the parent's")

    def _add_orphan(self, block: Block) -> None:
        self.orphans[block.hash] = block
        self.orphan_budget.add(block.hash, block.height, len(block.encoded))
        while self.orphan_budget.over():
            oldest, _ = self.orphans.popitem(last=False)
            self.orphan_budget.discard(oldest)

    def _prune_side(self) -> None:
        """Drop side blocks that can never become canonical (below the finality bound, unless
        a checkpoint still has to be reached), then the oldest while over the caps."""
        floor = self.head.height - self.genesis_config.max_reorg_depth
        cp = self.checkpoint
        doomed = cp is not None and self.store.canonical_hash(cp.height) != cp.hash
        stale = [] if doomed else self.side.at_or_below(floor)
        while self.side.over():
            stale.append(self.side.oldest())
            self.side.discard(stale[-1])
        if not stale:
            return
        with self.store.transaction():
            stack = list(stale)
            while stack:
                current = stack.pop()  # side blocks and their children are never canonical
                self.side.discard(current)
                stack.extend(self.store.children(current))
                self.store.delete_side_block(current)

    def _adopt_orphans(self, parent_hash: bytes) -> None:
        ready = [parent_hash]
        while ready:
            current = ready.pop()
            children = [b for b in self.orphans.values() if b.parent == current]
            for child in children:
                del self.orphans[child.hash]
                self.orphan_budget.discard(child.hash)
                try:
                    self._add_one(child)
                    ready.append(child.hash)
                except InvalidBlock:
                    pass

    def _remember_invalid(self, block_hash: bytes, reason: str) -> None:
        self.invalid[block_hash] = reason
        while len(self.invalid) > MAX_INVALID_REMEMBERED:
            self.invalid.popitem(last=False)

    def missing_parents(self) -> list[bytes]:
        """Parents that orphans wait for, so the network layer can fetch them."""
        return sorted({b.parent for b in self.orphans.values()} - set(self.orphans))

    # ----- reorg and connect -------------------------------------------------------------

    def _branch_to(self, block: Block) -> tuple[list[Block], int]:
        """Blocks from the fork point (exclusive) to `block`, and the fork point's height."""
        branch = [block]
        cursor = block.parent
        while self.store.canonical_hash(branch[-1].height - 1) != cursor:
            parent = self._load_block(cursor)
            if parent is None:
                raise InvalidBlock("branch does not reach a stored ancestor")
            branch.append(parent)
            cursor = parent.parent
        branch.reverse()
        return branch, branch[0].height - 1

    def _reorg_to(self, block: Block, metrics: BlockMetrics, *,
                  allow_deep: bool = False) -> AddResult:
        branch, fork_height = self._branch_to(block)
        depth = self.head.height - fork_height
        if depth > self.genesis_config.max_reorg_depth and not allow_deep:
            raise BeyondFinality(f"switching to this branch would undo {depth} blocks; the "
                                 f"finality bound is {self.genesis_config.max_reorg_depth}")
        old_head, old_metrics = self.head, self.head_metrics
        undone: list[tuple[Block, Journal]] = []
        applied: list[Journal] = []
        try:
            with self.store.transaction():
                self.store.put_block(block.hash, block.parent, block.height,
                                     block.header.encoded, block.encoded,
                                     encode(metrics.to_plain()))
                for height in range(self.head.height, fork_height, -1):
                    undone.append(self._disconnect(height))
                for branch_block in branch:
                    applied.append(self._connect(branch_block))
                self.head = block.header
                self.head_metrics = metrics
                self._write_head_meta(block.hash, self.state.checksum)
        except (InvalidBlock, InvalidTransaction, EncodingError) as exc:
            for journal in reversed(applied):
                self.state.apply(journal.undo)
            for _, journal in reversed(undone):
                self.state.apply(journal.writes)
            self.head, self.head_metrics = old_head, old_metrics
            bad = branch[min(len(applied), len(branch) - 1)]
            self._discard_from(bad.hash, f"block 0x{bad.hash.hex()[:16]} at height "
                               f"{bad.height}: {exc}",
                               remember=not isinstance(exc, DataUnavailable))
            if isinstance(exc, DataUnavailable):
                raise DataUnavailable(str(exc), exc.digests) from None
            raise InvalidBlock(str(exc)) from None
        except BaseException:
            for journal in reversed(applied):
                self.state.apply(journal.undo)
            for _, journal in reversed(undone):
                self.state.apply(journal.writes)
            self.head, self.head_metrics = old_head, old_metrics
            raise
        if depth:
            self._fork_of.clear()
        for branch_block in branch:
            self.side.discard(branch_block.hash)
        for undone_block, _ in undone:
            self.side.add(undone_block.hash, undone_block.height, len(undone_block.encoded))
        if allow_deep and depth > self.genesis_config.max_reorg_depth:
            log.warning("reorganised %d blocks past the finality bound onto the checkpointed "
                        "branch", depth)
        self._clear_split_if_resolved()
        self._prune_side()
        return AddResult(AddStatus.NEW_HEAD, block.hash, depth, tuple(b.hash for b in branch),
                         tuple(b for b, _ in undone))

    def invalidate(self, block_hash: bytes, reason: str) -> int:
        """Reject a block proven invalid after it was accepted (an rlpow fraud proof): roll
        the canonical chain back below it, forget it and its descendants, remember the
        verdict, then move to the best remaining side branch. Returns the canonical blocks
        undone. A block not stored is only remembered, so it is refused if it comes."""
        with self.lock:
            header = self._load_header(block_hash)
            undone: list[Block] = []
            if header is not None and self.store.canonical_hash(header.height) == block_hash:
                parent = self._load_header(header.parent)
                assert parent is not None
                with self.store.transaction():
                    for height in range(self.head.height, header.height - 1, -1):
                        undone.append(self._disconnect(height)[0])
                    self.head = parent
                    self.head_metrics = self._metrics(parent.hash)
                    self._write_head_meta(parent.hash, self.state.checksum)
                self._fork_of.clear()
            if header is None:
                self._remember_invalid(block_hash, reason)
            else:
                self._discard_from(block_hash, reason)
            best: tuple[tuple[int, ...], bytes] | None = None
            for side_hash in list(self.side.entries):
                if side_hash in self.invalid or not self.has_block(side_hash):
                    continue
                key = self.fork_key(self._metrics(side_hash))
                if key > self.fork_key(self.head_metrics) and (best is None or key > best[0]):
                    best = (key, side_hash)
            if best is not None:
                side = self._load_block(best[1])
                assert side is not None
                try:
                    self._reorg_to(side, self._metrics(side.hash), allow_deep=True)
                except InvalidBlock as exc:
                    log.info("after invalidating 0x%s: side branch refused: %s",
                             block_hash.hex()[:16], exc)
        return len(undone)

    def _discard_from(self, bad_hash: bytes, reason: str, *, remember: bool = True) -> None:
        """Forget an invalid block and everything built on it (only drop them, unjudged, when
        `remember` is False: their data was missing, so they may come back with it)."""
        with self.store.transaction():
            stack = [bad_hash]
            while stack:
                current = stack.pop()
                if remember:
                    self._remember_invalid(current, reason)
                self.side.discard(current)
                stack.extend(self.store.children(current))
                self.store.delete_block(current)

    def _disconnect(self, height: int) -> tuple[Block, Journal]:
        block_hash = self.store.canonical_hash(height)
        assert block_hash is not None
        block = self._load_block(block_hash)
        data = self.store.get_journal(block_hash)
        assert block is not None and data is not None
        journal = Journal.from_bytes(data)
        self.state.apply(journal.undo)
        self.store.write_state(journal.undo)
        self.store.unindex_txs([tx.hash for tx in block.transactions])
        self.store.drop_canonical_above(height - 1)
        return block, journal

    def _connect(self, block: Block) -> Journal:
        parent = self._load_header(block.parent)
        assert parent is not None
        result = self.execute_for(block, parent)
        journal = Journal(result.writes, self.state.apply(result.writes))
        self.store.put_journal(block.hash, journal.to_bytes())
        self.store.put_receipts(block.hash,
                                encode_list_of_encoded([r.encoded for r in result.receipts]))
        self.store.write_state(result.writes)
        self.store.set_canonical(block.height, block.hash)
        self.store.index_txs(block.hash, [tx.hash for tx in block.transactions])
        return journal

    def execute_for(self, block: Block, parent: BlockHeader) -> ExecutionResult:
        """Fully validate `block` on the current state (which must be its parent's)."""
        header = block.header
        cp = self.consensus_params()
        self._remember_params(parent.hash, cp)
        if not self.engine.can_propose(header.proposer, cp):
            raise InvalidBlock(f"proposer 0x{header.proposer.hex()} is not an active miner")
        self.engine.verify(block, parent, cp)
        prefetched, self._prefetched = self._prefetched, None
        senders = (prefetched[1] if prefetched is not None and prefetched[0] == block.hash
                   else recover_senders_lazy(block.transactions, self.sig_cache))
        info = BlockInfo(header.chain_id, header.height, header.timestamp_ms, header.parent,
                         header.proposer)
        try:
            result = self.executor.execute(self.state, info, block.transactions, senders,
                                           strict=True, reward=self.engine.reward(header, cp),
                                           extra_mints=self.engine.extra_rewards(header, cp))
        except InvalidTransaction as exc:
            raise InvalidBlock(str(exc)) from None
        if state_root(parent.state_root, result.writes) != header.state_root:
            raise InvalidBlock("wrong state root: executing the block gives a different state")
        if receipts_root(result.receipts) != header.receipts_root:
            raise InvalidBlock("wrong receipts root: executing the block gives other receipts")
        return result

    # ----- building ----------------------------------------------------------------------

    def build_candidate(self, txs: list[Transaction], proposer: bytes,
                        timestamp_ms: int | None = None) -> tuple[Block, ExecutionResult]:
        """An unsealed, unsigned block on the current head with the valid subset of `txs`."""
        with self.lock:
            parent = self.head
            ts = max(parent.timestamp_ms, self.clock() if timestamp_ms is None else timestamp_ms)
            cp = self.consensus_params()
            stub = BlockHeader(parent.chain_id, parent.height + 1, parent.hash, ts, proposer,
                               EMPTY_ROOT, ZERO_HASH, EMPTY_ROOT, self.engine.name)
            stub = self.engine.prepare(stub, cp)
            info = BlockInfo(stub.chain_id, stub.height, ts, parent.hash, proposer)
            senders = recover_senders(txs, self.sig_cache)
            result = self.executor.execute(self.state, info, txs, senders, strict=False,
                                           reward=self.engine.reward(stub, cp),
                                           extra_mints=self.engine.extra_rewards(stub, cp))
            header = BlockHeader(
                stub.chain_id, stub.height, stub.parent, ts, proposer,
                merkle_root([tx.hash for tx in result.included]),
                state_root(parent.state_root, result.writes), receipts_root(result.receipts),
                self.engine.name, stub.engine_fields)
            return Block(header, tuple(result.included)), result

    def query(self, app: str, method: str, args: dict[str, Any]) -> Any:
        with self.lock:
            target = self.executor.apps.get(app)
            if target is None:
                raise KeyError(f"unknown app {app!r}")
            return target.query(StateView(self.state, app, writable=False), method, args)
