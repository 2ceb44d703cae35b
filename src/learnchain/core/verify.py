"""Check everything a node stores, as a new node would rebuild it, and name the first bad record.

The canonical chain is replayed from genesis into a fresh in-memory chain; every record the
node keeps is then compared with what the replay derived, in chain order: for each block its
row (stored bytes, header column, parent and height columns, fork-choice metrics), receipts,
reorg journal and transaction-index entries; then the canonical index, the transaction index
as a whole, the head, the state checksum and the state itself. Stored side blocks (not on the
canonical chain) are checked for everything derivable without executing them: bytes that hash
to their key, header and columns that agree with the bytes, and metrics that follow from their
parent's. Their receipts and journals, left from a time they were canonical, are re-derived
(and overwritten) if they ever become canonical again, so no reader trusts them before that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from learnchain.apps.registry import build_apps
from learnchain.consensus.base import BlockMetrics
from learnchain.consensus.registry import build_engine
from learnchain.core.chain import AddStatus, Chain
from learnchain.core.encoding import decode, sha256
from learnchain.core.errors import EncodingError, InvalidBlock, LearnchainError
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block, BlockHeader
from learnchain.storage.sqlite_store import SqliteStore


@dataclass(frozen=True)
class VerifyReport:
    """`record` names the first bad record as "<table> <key>" (e.g. "receipts 0x12ab…")."""

    ok: bool
    height: int
    first_bad_height: int | None = None
    reason: str | None = None
    record: str | None = None


class _Bad(Exception):
    def __init__(self, record: str, reason: str, height: int | None) -> None:
        super().__init__(reason)
        self.record, self.reason, self.height = record, reason, height


def _short(value: bytes) -> str:
    return "0x" + value.hex()[:16] + "…"


def verify_store(database: Path | str, genesis: GenesisConfig,
                 progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    stored = SqliteStore(database)
    try:
        # One read transaction: a snapshot, so a node writing the datadir meanwhile (the
        # README runs `chain verify` beside a mining node) cannot move the head mid-check.
        stored.conn.execute("BEGIN")
        try:
            return _verify(stored, genesis, progress)
        finally:
            stored.conn.execute("ROLLBACK")
    finally:
        stored.close()


def _verify(stored: SqliteStore, genesis: GenesisConfig,
            progress: Callable[[int, int], None] | None) -> VerifyReport:
    engine = build_engine(genesis.engine, genesis.engine_config)
    replay = Chain(SqliteStore(":memory:"), genesis, build_apps(genesis.extra_apps, engine),
                   engine, clock=lambda: 2**62)
    if stored.get_meta("genesis") != replay.genesis_block.hash:
        return VerifyReport(False, 0, 0, "genesis differs from genesis.json", "meta genesis")
    checked = 0
    try:
        top = _stored_top(stored)
        genesis_hash = replay.genesis_block.hash
        if stored.canonical_hash(0) != genesis_hash:
            raise _Bad("canon 0", "does not index the genesis block", 0)
        _decode_row(stored, genesis_hash, 0)
        _check_head_and_canon(stored, top)
        _check_records(stored, replay, genesis_hash, 0)
        for checked, block_hash in stored.canonical_range(1, top):
            if checked != replay.height + 1:
                raise _Bad(f"canon {replay.height + 1}", "canonical index entry missing",
                           replay.height + 1)
            _replay_block(stored, replay, checked, block_hash)
            _check_records(stored, replay, block_hash, checked)
            if progress is not None:
                progress(checked, top)
        _check_indexes(stored, replay)
        _check_head_and_state(stored, replay)
        _check_side_blocks(stored, replay)
    except _Bad as bad:
        height = checked if bad.height is None else bad.height
        return VerifyReport(False, max(0, height - 1), bad.height, f"{bad.record}: {bad.reason}",
                            bad.record)
    return VerifyReport(True, checked)


def _stored_top(stored: SqliteStore) -> int:
    """Height of the last canonical index entry (not of the head: the head is checked later)."""
    row = stored.conn.execute("SELECT MAX(height) FROM canon").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _decode_row(stored: SqliteStore, block_hash: bytes, height: int | None) -> Block:
    """The stored block under `block_hash`, with its row's columns checked against its bytes."""
    row = stored.get_block(block_hash)
    record = f"blocks {_short(block_hash)}"
    if row is None:
        raise _Bad(record, "block missing from the store", height)
    try:
        block = Block.decode(row.data)
    except EncodingError as exc:
        raise _Bad(f"{record} data", f"stored bytes do not decode: {exc}", height) from None
    if block.hash != block_hash:
        raise _Bad(f"{record} data", "stored bytes do not hash to the recorded block hash",
                   height)
    header = stored.get_header(block_hash)
    if header != block.header.encoded:
        raise _Bad(f"{record} header", "header column differs from the block's own header",
                   height)
    if row.parent != block.parent or row.height != block.height:
        raise _Bad(f"{record} parent/height", "parent or height column differs from the block",
                   height)
    return block


def _check_head_and_canon(stored: SqliteStore, top: int) -> None:
    """The head is the top canonical entry, and each entry is the parent of the next (walked
    down from the head through header columns checked against their hashes)."""
    head = stored.get_meta("head")
    if head is None or stored.canonical_hash(top) != head:
        raise _Bad("meta head", f"is not the block the canonical index has at its top "
                   f"(height {top})", top)
    cursor = head
    for height in range(top, 0, -1):
        if stored.canonical_hash(height) != cursor:
            raise _Bad(f"canon {height}", "is not the ancestor of the head at this height",
                       height)
        data = stored.get_header(cursor)
        header = None
        if data is not None and sha256(data) == cursor:
            try:
                header = BlockHeader.from_plain(decode(data))
            except EncodingError:
                header = None
        if header is None:
            header = _decode_row(stored, cursor, height).header
        cursor = header.parent


def _replay_block(stored: SqliteStore, replay: Chain, height: int, block_hash: bytes) -> None:
    block = _decode_row(stored, block_hash, height)
    if block.height != height:
        raise _Bad(f"canon {height}", f"indexes a block of height {block.height}", height)
    try:
        result = replay.add_block(block)
    except (InvalidBlock, LearnchainError) as exc:
        raise _Bad(f"blocks {_short(block_hash)}", str(exc), height) from None
    if result.status is not AddStatus.NEW_HEAD:
        raise _Bad(f"blocks {_short(block_hash)}",
                   f"block does not extend the replayed chain ({result.status})", height)


def _check_records(stored: SqliteStore, replay: Chain, block_hash: bytes, height: int) -> None:
    """The derived records of one canonical block: metrics, receipts, journal, tx index."""
    mine, theirs = replay.store.get_block(block_hash), stored.get_block(block_hash)
    assert mine is not None
    if theirs is None:
        raise _Bad(f"blocks {_short(block_hash)}", "block missing from the store", height)
    if theirs.metrics != mine.metrics:
        raise _Bad(f"blocks {_short(block_hash)} metrics",
                   "fork-choice metrics differ from those derived from the chain", height)
    for table, get in (("receipts", SqliteStore.get_receipts),
                       ("journals", SqliteStore.get_journal)):
        if get(stored, block_hash) != get(replay.store, block_hash):
            raise _Bad(f"{table} {_short(block_hash)}",
                       f"stored {table} differ from the replayed ones", height)
    block = replay.get_block(block_hash)
    assert block is not None
    for index, tx in enumerate(block.transactions):
        if stored.find_tx(tx.hash) != (block_hash, index):
            raise _Bad(f"txindex {_short(tx.hash)}",
                       f"does not point at transaction {index} of its block", height)


def _rows(store: SqliteStore, sql: str) -> Iterator[tuple[object, ...]]:
    yield from store.conn.execute(sql)


def _check_indexes(stored: SqliteStore, replay: Chain) -> None:
    """Entries the replay did not derive: canonical heights above the tip, stray tx index rows."""
    top = replay.height
    for height, block_hash in stored.canonical_range(top + 1, 2**62):
        raise _Bad(f"canon {height}", f"indexes {_short(block_hash)} above the replayed tip "
                   f"at height {top}", height)
    derived = replay.store.conn.execute("SELECT COUNT(*) FROM txindex").fetchone()[0]
    count = stored.conn.execute("SELECT COUNT(*) FROM txindex").fetchone()[0]
    if count != derived:
        for tx_hash, block_hash, index in _rows(stored, "SELECT tx, block, idx FROM txindex "
                                                        "ORDER BY tx"):
            if replay.store.find_tx(bytes(tx_hash)) != (bytes(block_hash), index):
                raise _Bad(f"txindex {_short(bytes(tx_hash))}",
                           "no canonical transaction has this hash", None)


def _check_head_and_state(stored: SqliteStore, replay: Chain) -> None:
    head = stored.get_meta("head")
    if head != replay.head_hash:
        raise _Bad("meta head", "stored head is not the canonical tip", replay.height + 1)
    if stored.get_meta("checksum") != replay.store.get_meta("checksum"):
        raise _Bad("meta checksum", "stored state checksum differs from the replayed state's",
                   None)
    mine, theirs = replay.state.data, stored.load_state()
    if mine != theirs:
        key = min(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise _Bad(f"state {key}", "stored state differs from the replayed state", None)


def _check_side_blocks(stored: SqliteStore, replay: Chain) -> None:
    canonical = {bytes(h) for (h,) in _rows(stored, "SELECT hash FROM canon")}
    side = [(int(height), bytes(h)) for h, height in
            _rows(stored, "SELECT hash, height FROM blocks ORDER BY height, hash")
            if bytes(h) not in canonical]
    for height, block_hash in side:
        block = _decode_row(stored, block_hash, height)
        parent = stored.get_block(block.parent)
        if parent is None:
            raise _Bad(f"blocks {_short(block_hash)}", "side block without a stored parent",
                       height)
        row = stored.get_block(block_hash)
        assert row is not None
        try:
            expected = _metrics(parent.metrics).child(replay.engine.work(block.header),
                                                      replay.engine.fork_reward(block.header))
            ok = _metrics(row.metrics) == expected
        except (LearnchainError, ValueError, TypeError):
            ok = False
        if not ok:
            raise _Bad(f"blocks {_short(block_hash)} metrics",
                       "fork-choice metrics do not follow from the parent's", height)


def _metrics(data: bytes) -> BlockMetrics:
    plain = decode(data)
    if not (isinstance(plain, list) and len(plain) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in plain)):
        raise ValueError("metrics are a list of 4 integers")
    return BlockMetrics.from_plain(plain)
