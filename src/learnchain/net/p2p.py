"""Gossip, sync and peer management: the transport-independent half of networking.

`P2PNode.on_message(data)` is the only way bytes from peers enter a node, and `Transport.send`
the only way they leave, so the same logic runs over real HTTP and over the simulated network.
Sync is headers-first: the node asks for headers after a locator of its own chain, checks that
they link and carry valid work, then fetches the bodies in batches and imports them in order.
"""

from __future__ import annotations

import itertools
import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from learnchain.core.chain import AddStatus
from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import (
    BeyondFinality,
    DataUnavailable,
    EncodingError,
    FutureBlock,
    InvalidBlock,
    InvalidCheckpoint,
    InvalidTransaction,
)
from learnchain.core.finality import Checkpoint
from learnchain.core.types import Block, Transaction
from learnchain.net import messages as m
from learnchain.net.banlist import BanList
from learnchain.net.blob_fetch import MAX_AWAITING, MAX_REPLY_BYTES, Awaiting, BlobFetchMixin
from learnchain.net.fraud_gossip import FraudGossipMixin
from learnchain.net.handshake import HandshakeMixin, Peer
from learnchain.net.protocol import (
    MAX_BLOCKS_PER_REPLY,
    MAX_HEADERS_PER_REPLY,
    Message,
    ProtocolError,
    decode_frame,
    encode_envelope,
    encode_handshake,
    encode_payload,
    new_nonce,
    open_envelope,
)
from learnchain.node import Node

log = logging.getLogger("learnchain.p2p")

SEQ_WINDOW = 4096
INLINE_SIDECAR_BYTES = 1024 * 1024
"""A block's off-chain blobs travel inline up to this size; above it, only what every
verifier needs first, and each peer fetches what its own audits read (`get_blobs`)."""
MAX_DEFERRED = 64
MAX_DEFERRED_BYTES = 16 * 1024 * 1024
DEFER_WINDOW_MS = 120_000
"""Blocks up to this far beyond the allowed clock drift wait for our clock; later ones are
dropped, unpunished either way (the sender's clock may simply be wrong)."""
PENALTY = {"invalid-block": 50, "malformed": 20, "protocol": 20, "invalid-tx": 2,
           "rate": 1, "bad-headers": 40, "bad-checkpoint": 20, "bad-fraud-proof": 50}


class Transport(ABC):
    """Delivers frames to a peer address; replies come back through `P2PNode.on_message`."""

    @abstractmethod
    def send(self, addr: str, data: bytes) -> None: ...


@dataclass
class P2PStats:
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: int = 0
    blocks_relayed: int = 0
    penalties: int = 0
    blobs_fetched: int = 0
    blobs_unavailable: int = 0
    deferred: int = 0
    splits: int = 0


class P2PNode(BlobFetchMixin, FraudGossipMixin, HandshakeMixin):
    def __init__(self, node: Node, key: PrivateKey, transport: Transport, my_addr: str, *,
                 allowed_nodes: set[bytes] | None = None, max_peers: int = 16,
                 rate_per_s: int = 2000, burst: int = 4000, ban_ms: int = 600_000,
                 sync_timeout_ms: int = 15_000, admit_members: bool = False) -> None:
        self.node = node
        self.chain = node.chain
        self.key = key
        self.node_id = key.address
        import coincurve

        self.public_key = coincurve.PrivateKey(key.secret).public_key.format()
        self.transport = transport
        self.my_addr = my_addr
        self.allowed_nodes = allowed_nodes
        self.admit_members = admit_members
        self.max_peers = max_peers
        self.rate_per_s, self.burst = rate_per_s, burst
        self.ban_ms = ban_ms
        self.sync_timeout_ms = sync_timeout_ms
        self.genesis = self.chain.genesis_block.hash
        self.chain_id = self.chain.genesis_config.chain_id
        self.peers: dict[str, Peer] = {}
        """Authenticated peers by address; `by_id` indexes the same peers by node key."""
        self.by_id: dict[bytes, Peer] = {}
        self.dialing: dict[str, Peer] = {}
        self.pending: OrderedDict[bytes, Peer] = OrderedDict()
        self.banned = BanList(self.chain.store, self.chain.clock, self.chain.lock)
        self.deferred: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()
        self.seen_blocks: OrderedDict[bytes, None] = OrderedDict()
        self.seen_txs: OrderedDict[bytes, None] = OrderedDict()
        self.stats = P2PStats()
        self.lock = threading.RLock()
        self.on_block_seen: list[Callable[[Block, str | None], None]] = []
        self.arrivals: OrderedDict[bytes, int] = OrderedDict()
        self.awaiting: OrderedDict[bytes, Awaiting] = OrderedDict()
        self.refetch: OrderedDict[bytes, tuple[bytes, ...]] = OrderedDict()
        node.on_imported.append(self._record_arrival)
        node.on_produced.append(lambda block: self.broadcast_block(block, None))
        node.on_tx_accepted.append(lambda tx: self.broadcast_tx(tx, None))

    def _record_arrival(self, block: Block, result: Any) -> None:
        """Wall-clock first sight of each block, for propagation measurements."""
        import time

        self.arrivals.setdefault(block.hash, time.time_ns() // 1_000_000)
        while len(self.arrivals) > 256:
            self.arrivals.popitem(last=False)

    # ----- connections -------------------------------------------------------------------

    def connect(self, addr: str) -> None:
        with self.lock:
            if addr == self.my_addr or addr in self.peers:
                return
            if addr not in self.dialing and len(self.dialing) >= self.max_peers:
                return
            peer = Peer(addr, my_nonce=new_nonce(), initiator=True)
            self.dialing[addr] = peer
            body = {"chain_id": self.chain_id, "genesis": self.genesis, "pub": self.public_key,
                    "addr": self.my_addr, "nonce": peer.my_nonce, "height": self.chain.height}
        self._raw_send(addr, encode_handshake("hello", body))

    def ready_peers(self) -> list[Peer]:
        return list(self.peers.values())

    def _raw_send(self, addr: str, data: bytes) -> None:
        self.stats.messages_out += 1
        self.stats.bytes_out += len(data)
        self.transport.send(addr, data)

    def send(self, peer: Peer, kind: str, body: dict[str, Any],
             payload: bytes | None = None) -> None:
        if peer.session is None:
            return
        self._raw_send(peer.addr, self._envelope(peer, kind, body, payload))

    def _envelope(self, peer: Peer, kind: str, body: dict[str, Any],
                  payload: bytes | None = None) -> bytes:
        assert peer.session is not None
        peer.seq_out += 1
        return encode_envelope(peer.session, peer.seq_out, self.node_id, kind, body, payload)

    def disconnect(self, peer: Peer, reason: str, *, ban: bool = False) -> None:
        log.info("dropping peer %s: %s", peer.addr, reason)
        if self.peers.get(peer.addr) is peer:
            del self.peers[peer.addr]
        if self.by_id.get(peer.node_id) is peer:
            del self.by_id[peer.node_id]
        if self.dialing.get(peer.addr) is peer:
            del self.dialing[peer.addr]
        if ban and peer.node_id:
            self.banned.ban(peer.node_id, self.chain.clock() + self.ban_ms)

    def penalise(self, peer: Peer, kind: str, detail: str) -> None:
        self.stats.penalties += 1
        peer.score -= PENALTY[kind]
        log.info("peer %s penalised (%s): %s; score %d", peer.addr, kind, detail, peer.score)
        if peer.score <= 0:
            self.disconnect(peer, f"score exhausted after {kind}", ban=True)

    # ----- inbound -----------------------------------------------------------------------

    def on_message(self, data: bytes, addr: str | None = None) -> list[bytes]:
        """Handle one frame from a peer; returns frames to send back to it."""
        with self.lock:
            self.stats.messages_in += 1
            self.stats.bytes_in += len(data)
            try:
                frame = decode_frame(data)
            except ProtocolError as exc:
                peer = self.peers.get(addr or "")
                if peer is not None:
                    self.penalise(peer, "malformed", str(exc))
                raise
            if "kind" in frame:
                return self._handshake(frame, addr)
            sender = frame.get("from")
            peer = self.by_id.get(sender) if isinstance(sender, bytes) else None
            if peer is None or peer.session is None:
                raise ProtocolError("no session with this node; send hello first")
            if not self._take_token(peer):
                self.stats.dropped += 1
                self.penalise(peer, "rate", "message rate above the per-peer limit")
                return []
            try:
                seq, message = open_envelope(frame, peer.session, peer.seq_max - SEQ_WINDOW)
                if seq in peer.seq_seen:
                    raise ProtocolError(f"replayed envelope (seq {seq})")
            except (ProtocolError, EncodingError) as exc:
                self.penalise(peer, "protocol", str(exc))
                raise ProtocolError(str(exc)) from None
            self._mark_seq(peer, seq)
            replies = self._dispatch(peer, message)
            return [self._envelope(peer, kind, body) for kind, body in replies]

    def _mark_seq(self, peer: Peer, seq: int) -> None:
        peer.seq_seen.add(seq)
        peer.seq_max = max(peer.seq_max, seq)
        if len(peer.seq_seen) > 2 * SEQ_WINDOW:
            floor = peer.seq_max - SEQ_WINDOW
            peer.seq_seen = {s for s in peer.seq_seen if s > floor}

    def _take_token(self, peer: Peer) -> bool:
        now = self.chain.clock()
        peer.tokens = min(self.burst, peer.tokens + (now - peer.tokens_ms) * self.rate_per_s / 1000)
        peer.tokens_ms = now
        if peer.tokens < 1:
            return False
        peer.tokens -= 1
        return True

    # ----- session messages --------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        return {"height": self.chain.height, "head": self.chain.head_hash}

    def _dispatch(self, peer: Peer, message: Message) -> list[tuple[str, dict[str, Any]]]:
        handler = getattr(self, f"_on_{message.kind}")
        try:
            checked = m.VALIDATORS[message.kind](message.body)
            return handler(peer, checked) or []
        except ProtocolError as exc:
            self.penalise(peer, "malformed", f"{message.kind}: {exc}")
            return []

    def _on_status(self, peer: Peer, msg: m.Status) -> list[tuple[str, dict[str, Any]]]:
        peer.height, peer.head = msg.height, msg.head
        if peer.diverged and self.chain.has_block(msg.head):
            peer.diverged = False  # it has come over to a branch we hold
        return self._maybe_sync(peer)

    def _maybe_sync(self, peer: Peer, force: bool = False) -> list[tuple[str, dict[str, Any]]]:
        if peer.syncing and self.chain.clock() - peer.sync_started_ms < self.sync_timeout_ms:
            return []
        if peer.diverged:
            return []
        behind = peer.height > self.chain.height or (
            peer.height == self.chain.height and peer.head and not self.chain.has_block(peer.head))
        if not (force or behind):
            return []
        peer.syncing, peer.sync_started_ms = True, self.chain.clock()
        peer.wanted.clear()
        return [("get_headers", {"locator": self.locator(), "max": MAX_HEADERS_PER_REPLY})]

    def locator(self) -> list[bytes]:
        """Hashes of our canonical chain at heights h, h-1, h-2, h-4, … 0."""
        heights, step, h = [], 1, self.chain.height
        while h > 0:
            heights.append(h)
            if len(heights) >= 8:
                step *= 2
            h -= step
        heights.append(0)
        return [self.chain.store.canonical_hash(x) or b"" for x in heights]

    def _on_get_headers(self, peer: Peer, msg: m.GetHeaders) -> list[tuple[str, dict]]:
        start = max(1, msg.start)
        for block_hash in msg.locator:
            stored = self.chain.store.get_block(block_hash)
            if stored is not None and self.chain.store.canonical_hash(stored.height) == block_hash:
                start = stored.height + 1
                break
        end = min(start + msg.max - 1, self.chain.height)
        headers = [h.to_plain() for h in self.chain.canonical_headers(start, end)]
        return [("headers", {"headers": headers, "height": self.chain.height,
                             "head": self.chain.head_hash})]

    def _on_headers(self, peer: Peer, msg: m.Headers) -> list[tuple[str, dict]]:
        headers = msg.headers
        peer.height, peer.head = msg.height, msg.head
        if not headers:
            peer.syncing = False
            return []
        if not self.chain.has_block(headers[0].parent):
            self.penalise(peer, "bad-headers", "headers do not connect to our chain")
            peer.syncing = False
            return []
        for parent, child in itertools.pairwise(headers):
            if child.parent != parent.hash or child.height != parent.height + 1:
                self.penalise(peer, "bad-headers", "headers do not form a chain")
                peer.syncing = False
                return []
        try:
            for header in headers:
                self.chain.engine.check_header(header)
        except InvalidBlock as exc:
            self.penalise(peer, "bad-headers", str(exc))
            peer.syncing = False
            return []
        note = getattr(self.chain.engine, "note_sync_target", None)
        if note is not None:  # rlpow: blocks far below may be pruned on every peer
            note(headers[-1].height)
        peer.last_headers_full = len(headers) >= MAX_HEADERS_PER_REPLY
        peer.wanted = deque(h.hash for h in headers if not self.chain.has_block(h.hash))
        return self._request_blocks(peer)

    def _request_blocks(self, peer: Peer) -> list[tuple[str, dict]]:
        if not peer.wanted:
            peer.syncing = False
            if peer.last_headers_full or peer.height > self.chain.height:
                return self._maybe_sync(peer, force=True)
            return []
        batch = [peer.wanted.popleft() for _ in range(min(MAX_BLOCKS_PER_REPLY,
                                                           len(peer.wanted)))]
        peer.requested = batch
        peer.sync_started_ms = self.chain.clock()
        return [("get_blocks", {"hashes": batch})]

    def _on_get_blocks(self, peer: Peer, msg: m.GetBlocks) -> list[tuple[str, dict]]:
        blocks: list[bytes] = []
        blobs: dict[str, bytes] = {}
        size = 0
        for block_hash in msg.hashes:
            stored = self.chain.store.get_block(block_hash)
            if stored is None:
                continue
            sidecar = self.chain.engine.sidecar(Block.decode(stored.data), INLINE_SIDECAR_BYTES)
            extra = len(stored.data) + sum(len(b) for b in sidecar.values())
            if blocks and size + extra > MAX_REPLY_BYTES:
                break  # the requester asks again for what is left
            blocks.append(stored.data)
            blobs.update(sidecar)
            size += extra
        return [("blocks", {"blocks": blocks, "blobs": blobs})]

    def _on_blocks(self, peer: Peer, msg: m.Blocks) -> list[tuple[str, dict]]:
        self._accept_sidecar(peer, msg.blobs)
        return self._import_when_available(peer, msg.blocks, gossip=False)

    def _import_batch(self, peer: Peer, raws: list[bytes]) -> list[tuple[str, dict]]:
        delivered: set[bytes] = set()
        for raw in raws:
            status = self._import(peer, raw, relay=False, delivered=delivered)
            if not status:
                peer.syncing = False
                return []
        undelivered = [h for h in peer.requested if h not in delivered]
        if undelivered and not delivered:
            peer.syncing = False
            return []
        peer.wanted.extendleft(reversed(undelivered))
        return self._request_blocks(peer)

    def _on_block(self, peer: Peer, msg: m.BlockMsg) -> list[tuple[str, dict]]:
        if msg.hash is not None and msg.hash in self.seen_blocks:
            return []
        self._accept_sidecar(peer, msg.blobs)
        return self._import_when_available(peer, [msg.block], gossip=True,
                                           announced=msg.hash)

    def _import_gossiped(self, peer: Peer, raw: bytes, announced: bytes | None
                         ) -> list[tuple[str, dict]]:
        result = self._import(peer, raw, relay=True, announced=announced)
        if result is AddStatus.ORPHAN:
            return self._maybe_sync(peer, force=True)
        return []

    def _import(self, peer: Peer, raw: bytes, *, relay: bool, announced: bytes | None = None,
                delivered: set[bytes] | None = None) -> AddStatus | None:
        try:
            block = Block.decode(raw)
        except EncodingError as exc:
            self.penalise(peer, "malformed", f"block: {exc}")
            return None
        if delivered is not None:
            delivered.add(block.hash)
        if announced is not None and announced != block.hash:
            self.penalise(peer, "malformed", "block announced under a different hash")
            return None
        if block.hash in self.seen_blocks and self.chain.has_block(block.hash):
            return AddStatus.DUPLICATE
        try:
            result = self.node.import_block(block)
        except DataUnavailable as exc:  # not the peer's fault as far as we can tell
            log.info("block %s from %s not imported yet: %s", block.hash.hex()[:16], peer.addr,
                     exc)
            self.refetch[block.hash] = exc.digests  # fetched before its next import
            while len(self.refetch) > MAX_AWAITING:
                self.refetch.popitem(last=False)
            return None
        except BeyondFinality as exc:  # a split, not misbehaviour: reported, never punished
            if not peer.diverged:
                self.stats.splits += 1
                log.warning("peer %s is on another branch past the finality bound: %s",
                            peer.addr, exc)
            peer.diverged, peer.syncing = True, False
            return None
        except FutureBlock as exc:  # the sender's clock may be ahead: wait, don't punish
            self._defer(peer, block, str(exc))
            return None
        except InvalidBlock as exc:
            if not self.answer_convicted_block(peer, block):
                self.penalise(peer, "invalid-block", str(exc))
            self.publish_found_fraud(block)
            return None
        self._remember(self.seen_blocks, block.hash)
        for listener in self.on_block_seen:
            listener(block, peer.addr)
        if relay and result.status in (AddStatus.NEW_HEAD, AddStatus.STORED):
            self.broadcast_block(block, peer.addr)
        return result.status

    def _accept_sidecar(self, peer: Peer, blobs: dict[str, bytes]) -> bool:
        if blobs:
            try:
                self.chain.engine.accept_sidecar(blobs)
            except (InvalidBlock, ValueError) as exc:
                self.penalise(peer, "malformed", f"sidecar: {exc}")
                return False
        return True

    def _defer(self, peer: Peer, block: Block, why: str) -> None:
        ahead = block.header.timestamp_ms - self.chain.clock()
        if ahead > self.chain.genesis_config.max_future_ms + DEFER_WINDOW_MS:
            log.info("dropped block %s from %s: %s", block.hash.hex()[:16], peer.addr, why)
            return
        self.stats.deferred += 1
        self.deferred[block.hash] = (peer.addr, block.encoded)
        while len(self.deferred) > MAX_DEFERRED or sum(
                len(raw) for _, raw in self.deferred.values()) > MAX_DEFERRED_BYTES:
            self.deferred.popitem(last=False)

    def _retry_deferred(self) -> None:
        now = self.chain.clock()
        limit = self.chain.genesis_config.max_future_ms
        for block_hash, (addr, raw) in list(self.deferred.items()):
            peer = self.peers.get(addr)
            if peer is None:
                del self.deferred[block_hash]
                continue
            if Block.decode(raw).header.timestamp_ms <= now + limit:
                del self.deferred[block_hash]
                self._import(peer, raw, relay=True)

    def _on_tx(self, peer: Peer, msg: m.TxMsg) -> list[tuple[str, dict]]:
        if msg.hash is not None and msg.hash in self.seen_txs:
            return []
        try:
            tx = Transaction.decode(msg.tx)
        except EncodingError as exc:
            self.penalise(peer, "malformed", f"tx: {exc}")
            return []
        if tx.hash in self.seen_txs:
            return []
        self._remember(self.seen_txs, tx.hash)
        try:
            added = self.node.mempool.add(tx)
        except InvalidTransaction as exc:
            self.penalise(peer, "invalid-tx", str(exc))
            return []
        if added:
            self.broadcast_tx(tx, peer.addr)
        return []

    def _on_get_peers(self, peer: Peer, msg: m.Empty) -> list[tuple[str, dict]]:
        return [("peers", {"addrs": [p.addr for p in self.ready_peers() if p is not peer]})]

    def _on_peers(self, peer: Peer, msg: m.Peers) -> list[tuple[str, dict]]:
        for addr in msg.addrs:
            if addr not in self.peers and len(self.peers) < self.max_peers:
                self.connect(addr)
        return []

    # ----- finality checkpoints ----------------------------------------------------------

    def _on_checkpoint(self, peer: Peer, msg: m.CheckpointMsg) -> list[tuple[str, dict]]:
        try:
            self.accept_checkpoint(msg.checkpoint, source=peer)
        except InvalidCheckpoint as exc:
            self.penalise(peer, "bad-checkpoint", str(exc))
        return []

    def accept_checkpoint(self, checkpoint: Checkpoint, source: Peer | None = None) -> bool:
        """Adopt a controller-signed checkpoint, pass it on, and sync again from peers we had
        stopped syncing from because their branch was past the finality bound."""
        with self.lock:
            if not self.chain.accept_checkpoint(checkpoint):
                return False
            body = {"checkpoint": checkpoint.to_plain()}
            for peer in self.ready_peers():
                peer.diverged = False
                if peer is not source:
                    self.send(peer, "checkpoint", body)
            for peer in self.ready_peers():
                for kind, reply in self._maybe_sync(peer, force=True):
                    self.send(peer, kind, reply)
            return True

    # ----- outbound ----------------------------------------------------------------------

    @staticmethod
    def _remember(seen: OrderedDict[bytes, None], item: bytes, limit: int = 20_000) -> None:
        seen[item] = None
        if len(seen) > limit:
            seen.popitem(last=False)

    def broadcast_block(self, block: Block, exclude: str | None) -> None:
        with self.lock:
            self._remember(self.seen_blocks, block.hash)
            self.stats.blocks_relayed += 1
            body = {"hash": block.hash, "block": block.encoded}
            blobs = self.chain.engine.sidecar(block, INLINE_SIDECAR_BYTES)
            if blobs:
                body["blobs"] = blobs
            payload = encode_payload("block", body)
            for peer in self.ready_peers():
                if peer.addr != exclude:
                    self.send(peer, "block", body, payload)

    def broadcast_tx(self, tx: Transaction, exclude: str | None) -> None:
        with self.lock:
            self._remember(self.seen_txs, tx.hash)
            body = {"hash": tx.hash, "tx": tx.encoded}
            payload = encode_payload("tx", body)
            for peer in self.ready_peers():
                if peer.addr != exclude:
                    self.send(peer, "tx", body, payload)

    def tick(self) -> None:
        """Periodic upkeep: tell peers our head, ask for more peers, unstick stalled syncs,
        check again the fraud proofs we could not check before."""
        with self.lock:
            status = self._status()
            now = self.chain.clock()
            for key, entry in list(self.awaiting.items()):
                if now - entry.since_ms > self.sync_timeout_ms:
                    del self.awaiting[key]
                    self._give_up(entry, f"their blobs did not arrive within "
                                         f"{self.sync_timeout_ms} ms")
            self._retry_deferred()
            self.banned.purge()
            for peer in self.ready_peers():
                if peer.syncing and self.chain.clock() - peer.sync_started_ms \
                        > self.sync_timeout_ms:
                    peer.syncing = False
                self.send(peer, "status", status)
                if len(self.peers) < self.max_peers:
                    self.send(peer, "get_peers", {})
        self.retry_pending_proofs()
