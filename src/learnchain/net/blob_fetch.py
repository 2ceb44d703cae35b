"""Off-chain blobs fetched on demand: blocks wait until what their verification reads is here.

A block whose engine needs off-chain data (rlpow's training blobs above the inline sidecar
size) is held back (`Awaiting`) while the node asks the sender, then every other peer, for the
missing blobs (`get_blobs` / `blobs`). Importing it earlier would reject a valid block as
"parameters unavailable", and that rejection is remembered. Blocks whose blobs no connected
peer holds are dropped unjudged, so a later sync can bring them back with their data.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from learnchain.core.errors import EncodingError
from learnchain.core.types import Block
from learnchain.net.protocol import MAX_BLOBS_PER_REQUEST
from learnchain.storage.blobstore import cid_of_digest

if TYPE_CHECKING:
    from learnchain.net import messages as m
    from learnchain.net.handshake import Peer

log = logging.getLogger("learnchain.p2p")

MAX_REPLY_BYTES = 4 * 1024 * 1024
MAX_AWAITING = 64


@dataclass
class Awaiting:
    """Blocks held back until the off-chain blobs their verification reads have arrived."""

    source: str
    blocks: list[bytes]
    gossip: bool
    announced: bytes | None
    since_ms: int
    lacking: dict[bytes, set[str]] = field(default_factory=dict)
    asked: dict[bytes, set[str]] = field(default_factory=dict)


class BlobFetchMixin:
    """Mixed into `P2PNode` (uses its chain, peers, stats, send and import paths)."""

    chain: Any
    stats: Any
    peers: dict[str, Peer]
    awaiting: OrderedDict[bytes, Awaiting]
    refetch: OrderedDict[bytes, Any]

    def ready_peers(self) -> list[Peer]:
        raise NotImplementedError

    def send(self, peer: Peer, kind: str, body: dict[str, Any], *args: Any,
             **kwargs: Any) -> None:
        raise NotImplementedError

    def _accept_sidecar(self, peer: Peer, blobs: dict[str, bytes]) -> bool:
        raise NotImplementedError

    def _import_gossiped(self, peer: Peer, raw: bytes, announced: bytes | None
                         ) -> list[tuple[str, dict]]:
        raise NotImplementedError

    def _import_batch(self, peer: Peer, raws: list[bytes]) -> list[tuple[str, dict]]:
        raise NotImplementedError

    def _missing_blobs(self, raws: list[bytes]) -> list[bytes]:
        missing: dict[bytes, None] = {}
        for raw in raws:
            try:
                block = Block.decode(raw)
            except EncodingError:
                continue  # _import penalises it
            if not self.chain.has_block(block.hash):
                missing.update(dict.fromkeys(self.chain.engine.missing_blobs(block)))
                missing.update(dict.fromkeys(d for d in self.refetch.get(block.hash, ())
                                             if self.chain.engine.blob(d) is None))
        return list(missing)

    def _import_when_available(self, peer: Peer, raws: list[bytes], *, gossip: bool,
                               announced: bytes | None = None) -> list[tuple[str, dict]]:
        """Import now, or hold the blocks back and ask `peer` for the blobs they still need.

        Importing without them would reject a valid block as "parameters unavailable", and
        that rejection is remembered.
        """
        missing = self._missing_blobs(raws) if raws else []
        if not missing:
            return self._finish(peer, raws, gossip, announced)
        key = raws[0] if gossip else peer.addr.encode()
        self.awaiting[key] = Awaiting(peer.addr, raws, gossip, announced, self.chain.clock())
        self.awaiting.move_to_end(key)
        while len(self.awaiting) > MAX_AWAITING:
            self.awaiting.popitem(last=False)
        return [("get_blobs", {"cids": [cid_of_digest(d)
                                        for d in missing[:MAX_BLOBS_PER_REQUEST]]})]

    def _finish(self, peer: Peer, raws: list[bytes], gossip: bool, announced: bytes | None
                ) -> list[tuple[str, dict]]:
        if gossip:
            return self._import_gossiped(peer, raws[0], announced)
        return self._import_batch(peer, raws)

    def _on_get_blobs(self, peer: Peer, msg: m.GetBlobs) -> list[tuple[str, dict]]:
        blobs: dict[str, bytes] = {}
        missing: list[str] = []
        size = 0
        for digest in msg.digests:
            cid = cid_of_digest(digest)
            data = self.chain.engine.blob(digest)
            if data is None:
                missing.append(cid)
            elif not blobs or size + len(data) <= MAX_REPLY_BYTES:
                blobs[cid] = data
                size += len(data)
        return [("blobs", {"blobs": blobs, "missing": missing})]

    def _on_blobs(self, peer: Peer, msg: m.Blobs) -> list[tuple[str, dict]]:
        """Store what arrived, import what is now complete, and ask again for the rest: the
        same peer while it keeps delivering, every other peer for what it says it lacks."""
        blobs = msg.blobs
        if self._accept_sidecar(peer, blobs):
            self.stats.blobs_fetched += len(blobs)
        lacks = set(msg.missing)
        replies: list[tuple[str, dict]] = []
        asks: dict[str, dict[bytes, None]] = {}
        for key, entry in list(self.awaiting.items()):
            source = self.peers.get(entry.source)
            if source is None or not source.ready:
                del self.awaiting[key]
                continue
            missing = self._missing_blobs(entry.blocks)
            if not missing:
                del self.awaiting[key]
                self._route(source, peer, self._finish(source, entry.blocks, entry.gossip,
                                                       entry.announced), replies)
                continue
            for d in lacks.intersection(missing):
                entry.lacking.setdefault(d, set()).add(peer.addr)
            everyone = {p.addr for p in self.ready_peers()}
            gone = [d for d in missing if entry.lacking.get(d, set()) >= everyone]
            if gone:
                del self.awaiting[key]
                self._give_up(entry, f"no connected peer holds blob {cid_of_digest(gone[0])}")
                continue
            for d in missing:
                lacking = entry.lacking.get(d, set())
                asked = entry.asked.setdefault(d, {entry.source})
                if blobs and peer.addr in asked and peer.addr not in lacking:
                    asks.setdefault(peer.addr, {})[d] = None  # delivering: ask it again
                if lacking:  # someone lacks it: ask everyone not yet asked
                    for addr in everyone - asked:
                        asked.add(addr)
                        asks.setdefault(addr, {})[d] = None
        for addr, wanted in asks.items():
            body_out = {"cids": [cid_of_digest(d) for d in list(wanted)[:MAX_BLOBS_PER_REQUEST]]}
            if addr == peer.addr:
                replies.append(("get_blobs", body_out))
            else:
                self.send(self.peers[addr], "get_blobs", body_out)
        return replies

    def _give_up(self, entry: Awaiting, why: str) -> None:
        """Drop blocks whose blobs cannot be had, unjudged: they are not marked invalid, so a
        later sync can bring them back with their data."""
        self.stats.blobs_unavailable += 1
        log.warning("dropped %d block(s) from %s unverified: %s", len(entry.blocks),
                    entry.source, why)
        source = self.peers.get(entry.source)
        if source is not None and not entry.gossip:
            source.syncing = False

    def _route(self, target: Peer, current: Peer, messages: list[tuple[str, dict]],
               replies: list[tuple[str, dict]]) -> None:
        if target is current:
            replies.extend(messages)
        else:
            for kind, body in messages:
                self.send(target, kind, body)
