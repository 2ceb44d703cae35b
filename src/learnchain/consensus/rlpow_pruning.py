"""Pruning for rlpow nodes: keep the learner states that verification and sync need.

Every rlpow block commits to about 57 KB of learner state per training step (θ, Adam moments,
target network) and a node stores what it receives inline, so an unpruned 4-node devnet grew
by gigabytes in minutes (issue #20). What a node actually needs later:

* to verify or build the next block on any branch inside the reorg window: each proposer's
  latest learner state on that branch (``θ_before`` and the training start), and for audits
  the states the block's own manifest names;
* to serve peers that sync: the same, for the blocks they still verify in full.

So with a window of ``keep_blocks`` heights, a sweep keeps

* every blob named by a block (canonical or side) above ``head − keep_blocks``
  (its θ_before, θ_after triple and manifest states), and
* each proposer's learner state as of the canonical block at ``head − keep_blocks``
  (the lineage a block or fork inside the window starts from), and the coin-derived
  initial states,

and deletes the other parameter blobs of blocks that left the window, and stray blobs that no
stored block names (the work of this node's sealed blocks that lost the race for a height,
sidecars of blocks never imported: in a 2-node devnet most of the bytes) once they are a full
sweep period old (newer ones may belong to a block still being imported). Headers keep the
hashes (``theta``, ``after``, ``work``) and every stored block's proof manifest is kept (a few
hundred bytes a block), so the commitments stay on record; the bytes of old states go.

A node syncing from pruned peers cannot replay old audits: blocks more than the window below
the best linked headers a peer showed are accepted with every check that reads no parameter
blob (``RLPowEngine.verify``'s light path: oracle replay, mint, lineage by hash, the manifest's
commitments), and blocks inside the window in full. This trusts that a chain whose last
``keep_blocks`` blocks verify in full is not a forgery below them, a weak-subjectivity
assumption like a checkpoint's; ``[storage] light_sync = false`` refuses it (sync then needs
an archival peer, ``archive_work = true``). See docs/consensus-rlpow.md §7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnchain.core.encoding import decode
from learnchain.core.errors import ConfigError, EncodingError, InvalidBlock
from learnchain.core.types import BlockHeader


@dataclass
class PruneStats:
    """What the sweeps so far removed, and the height below which blobs were considered."""

    sweeps: int = 0
    deleted_blobs: int = 0
    freed_bytes: int = 0
    pruned_to: int = 0


class BlobPruner:
    """Deletes old rlpow parameter blobs as the head advances (one sweep every ``every``).

    Attach it to a chain (``attach``); each new head past the window by ``every`` blocks
    triggers a sweep under the chain lock (blob writes share the chain's SQLite connection).
    """

    def __init__(self, engine: Any, keep_blocks: int = 256, every: int | None = None) -> None:
        if keep_blocks < 1:
            raise ConfigError("rlpow pruning: keep_blocks must be at least 1")
        self.engine = engine
        self.keep_blocks = keep_blocks
        self.every = every if every is not None else max(1, keep_blocks // 4)
        self.stats = PruneStats()
        self._refs: dict[bytes, frozenset[bytes]] = {}
        self._works: set[bytes] = set()  # manifests of stored blocks: kept
        self._blocks_seen = 0  # blocks-table rowid scanned for manifests so far
        self._blob_marks = (0, 0)  # blob rowids at the last two sweeps: strays between are old

    def attach(self, chain: Any) -> BlobPruner:
        chain.listeners.append(self._on_head)
        return self

    def _on_head(self, block: Any) -> None:
        if block.header.height - self.keep_blocks - self.stats.pruned_to >= self.every:
            self.sweep()

    def sweep(self) -> PruneStats:
        """Delete the parameter blobs of blocks that left the window and nothing still needs."""
        chain = self.engine.chain
        with chain.lock:
            boundary = chain.height - self.keep_blocks
            if boundary <= self.stats.pruned_to:
                return self.stats
            candidates = self._strays()
            for header in self._headers(self.stats.pruned_to + 1, boundary):
                candidates |= self._refs_of(header)
                self._refs.pop(header.hash, None)
            live = self._live(boundary)
            count, freed = self.engine.blobs.delete_many(candidates - live - self._works)
            self.stats.sweeps += 1
            self.stats.deleted_blobs += count
            self.stats.freed_bytes += freed
            self.stats.pruned_to = boundary
        return self.stats

    def _strays(self) -> set[bytes]:
        """Blobs stored between the last two sweeps (each blob is considered once, a sweep
        period after it arrived); also brings the set of stored blocks' manifests up to date."""
        conn = self.engine.chain.store.conn
        rows = conn.execute("SELECT rowid, header FROM blocks WHERE rowid > ? ORDER BY rowid",
                            (self._blocks_seen,)).fetchall()
        for rowid, data in rows:
            self._blocks_seen = rowid
            try:
                work = BlockHeader.from_plain(decode(bytes(data))).engine_fields.get("work")
            except EncodingError:
                continue
            if isinstance(work, bytes):
                self._works.add(work)
        table = self.engine.blobs.table
        older, last = self._blob_marks
        newest = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0]
        self._blob_marks = (last, max(last, int(newest)))
        return {bytes(h) for (h,) in conn.execute(
            f"SELECT hash FROM {table} WHERE rowid > ? AND rowid <= ?", (older, last))}

    def _live(self, boundary: int) -> set[bytes]:
        live: set[bytes] = set()
        anchor = self.engine.chain.store.canonical_hash(boundary)
        if anchor is not None:
            for entry in self.engine.record(anchor).lineage.values():
                live.update(entry.triple())
        for entry in self.engine._init_cache.values():
            live.update(entry.triple())
        for header in self._headers(boundary + 1, None):
            live |= self._refs_of(header)
        return live

    def _headers(self, low: int, high: int | None) -> list[BlockHeader]:
        """Every stored block header (canonical or side) with low ≤ height ≤ high."""
        sql, args = "SELECT header FROM blocks WHERE height >= ?", [low]
        if high is not None:
            sql, args = sql + " AND height <= ?", [low, high]
        out = []
        for (data,) in self.engine.chain.store.conn.execute(sql, args).fetchall():
            try:
                out.append(BlockHeader.from_plain(decode(bytes(data))))
            except EncodingError:
                continue  # `chain verify` reports undecodable rows; pruning skips them
        return out

    def _refs_of(self, header: BlockHeader) -> frozenset[bytes]:
        """The parameter blobs a block names: θ_before, θ_after's triple, the manifest's states
        (not the manifest itself, which is kept)."""
        cached = self._refs.get(header.hash)
        if cached is not None:
            return cached
        from learnchain.consensus.rlpow import Manifest

        f = header.engine_fields
        refs: set[bytes] = set()
        for value in (f.get("theta"), *(f.get("after") or ())):
            if isinstance(value, bytes) and len(value) == 32:
                refs.add(value)
        work = f.get("work")
        data = self.engine.blobs.get(work) if isinstance(work, bytes) else None
        if data is not None:
            try:
                manifest = Manifest.from_bytes(data)
                for commit in (manifest.start, *manifest.steps):
                    refs.update(commit)
            except InvalidBlock:
                pass
        frozen = frozenset(refs)
        self._refs[header.hash] = frozen
        return frozen
