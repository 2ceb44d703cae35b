"""The peer table and the authenticated handshake (hello → challenge → auth).

A session is created only when the other side has proved its node key by signing our fresh
challenge; until then a handshake waits in a bounded `pending` table and touches no
established session. Authenticated peers are indexed by address (`peers`) and by node key
(`by_id`), so finding the sender of a message is one dictionary lookup.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from learnchain.net import messages as m
from learnchain.net.protocol import (
    ProtocolError,
    check_challenge,
    encode_handshake,
    new_nonce,
    node_id_of,
    session_key,
    sign_challenge,
)

if TYPE_CHECKING:
    from learnchain.core.chain import Chain
    from learnchain.core.crypto import PrivateKey
    from learnchain.net.banlist import BanList

INITIAL_SCORE = 100
MAX_PENDING = 64
"""Handshakes in progress (inbound, by claimed key); the oldest is dropped beyond this."""


@dataclass
class Peer:
    addr: str
    node_id: bytes = b""
    public_key: bytes = b""
    my_nonce: bytes = b""
    their_nonce: bytes = b""
    initiator: bool = False
    session: bytes | None = None
    seq_out: int = 0
    seq_seen: set[int] = field(default_factory=set)
    seq_max: int = 0
    score: int = INITIAL_SCORE
    height: int = 0
    head: bytes = b""
    syncing: bool = False
    sync_started_ms: int = 0
    wanted: deque[bytes] = field(default_factory=deque)
    last_headers_full: bool = False
    requested: list[bytes] = field(default_factory=list)
    tokens: float = 0.0
    tokens_ms: int = 0
    diverged: bool = False
    """Its chain forked from ours deeper than the finality bound: do not sync from it until
    a checkpoint settles which branch is final."""
    proofs_sent: set[bytes] = field(default_factory=set)
    """Blocks whose fraud proof this peer has had from us (net/fraud_gossip.py)."""

    @property
    def ready(self) -> bool:
        return self.session is not None



class HandshakeMixin:
    """Handshake and peer-table half of `P2PNode` (which provides the attributes below)."""

    chain: Chain
    key: PrivateKey
    node_id: bytes
    public_key: bytes
    genesis: bytes
    chain_id: int
    my_addr: str
    max_peers: int
    burst: int
    allowed_nodes: set[bytes] | None
    admit_members: bool
    banned: BanList
    peers: dict[str, Peer]
    by_id: dict[bytes, Peer]
    dialing: dict[str, Peer]
    pending: OrderedDict[bytes, Peer]

    def disconnect(self, peer: Peer, reason: str, *, ban: bool = False) -> None:
        raise NotImplementedError

    def _envelope(self, peer: Peer, kind: str, body: dict[str, Any],
                  payload: bytes | None = None) -> bytes:
        raise NotImplementedError

    def _status(self) -> dict[str, Any]:
        raise NotImplementedError

    def _greeting_proofs(self, peer: Peer) -> list[bytes]:
        raise NotImplementedError

    def _check_admission(self, node_id: bytes) -> None:
        if node_id == self.node_id:
            raise ProtocolError("connected to itself")
        if self.allowed_nodes is not None and node_id not in self.allowed_nodes and not (
                self.admit_members and node_id in self.chain.query("identity", "members", {})):
            raise ProtocolError(f"node 0x{node_id.hex()} is not a registered consortium node")
        if node_id in self.banned:
            raise ProtocolError("this node is banned for misbehaving; try again later")

    def _promote(self, peer: Peer) -> None:
        """Make an authenticated handshake the session for its key and address.

        Only here, after the peer proved its key, may an established session be replaced
        (by the same key reconnecting); an address held by another key is refused.
        """
        holder = self.peers.get(peer.addr)
        if holder is not None and holder.node_id != peer.node_id:
            raise ProtocolError(f"address {peer.addr} belongs to another authenticated node")
        old = self.by_id.get(peer.node_id)
        if old is None and len(self.peers) >= self.max_peers:
            raise ProtocolError("too many peers")
        if old is not None:
            self.disconnect(old, "replaced by a new authenticated session")
        if self.dialing.get(peer.addr) is not peer:
            self.dialing.pop(peer.addr, None)
        self.peers[peer.addr] = peer
        self.by_id[peer.node_id] = peer

    def _handshake(self, frame: dict[str, Any], addr: str | None) -> list[bytes]:
        kind, body = frame.get("kind"), frame.get("body")
        if not isinstance(body, dict):
            raise ProtocolError("handshake body must be a map")
        if kind == "hello":
            if body.get("chain_id") != self.chain_id or body.get("genesis") != self.genesis:
                raise ProtocolError(f"chain mismatch: this node runs chain {self.chain_id} "
                                    f"with genesis 0x{self.genesis.hex()[:16]}")
            hello = m.validate_hello(body)
            node_id = node_id_of(hello.public)
            self._check_admission(node_id)
            if node_id not in self.by_id and len(self.peers) >= self.max_peers:
                raise ProtocolError("too many peers")
            if hello.addr in self.dialing:  # both dialled at once: the lower key's dial wins
                if self.node_id < node_id:
                    raise ProtocolError("crossing connection attempts; this node's dial stands")
                del self.dialing[hello.addr]
            # Pending until `auth` proves the key: an established session is untouched.
            peer = Peer(hello.addr, node_id, hello.public, new_nonce(), hello.nonce,
                        initiator=False, tokens=self.burst, tokens_ms=self.chain.clock(),
                        height=hello.height)
            self.pending.pop(node_id, None)
            self.pending[node_id] = peer
            while len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)
            reply = {"pub": self.public_key, "addr": self.my_addr, "nonce": peer.my_nonce,
                     "sig": sign_challenge(self.key, b"responder", self.genesis, hello.nonce,
                                           peer.my_nonce)}
            return [encode_handshake("challenge", reply)]
        if kind == "challenge":
            peer = self.dialing.get(addr or "")
            if peer is None:
                raise ProtocolError("unexpected challenge")
            challenge = m.validate_challenge(body)
            node_id = node_id_of(challenge.public)
            self._check_admission(node_id)
            check_challenge(challenge.signature, node_id, b"responder", self.genesis,
                            peer.my_nonce, challenge.nonce)
            peer.node_id, peer.public_key = node_id, challenge.public
            peer.their_nonce = challenge.nonce
            peer.session = session_key(self.key, challenge.public, peer.my_nonce,
                                       challenge.nonce)
            peer.tokens, peer.tokens_ms = self.burst, self.chain.clock()
            del self.dialing[peer.addr]
            self._promote(peer)
            auth = encode_handshake("auth", {
                "node": self.node_id,
                "sig": sign_challenge(self.key, b"initiator", self.genesis, challenge.nonce,
                                      peer.my_nonce)})
            return [auth, self._envelope(peer, "status", self._status()),
                    *self._greeting_proofs(peer)]
        if kind == "auth":
            auth_msg = m.validate_auth(body)
            peer = self.pending.get(auth_msg.node)
            if peer is None:
                raise ProtocolError("unexpected auth")
            check_challenge(auth_msg.signature, peer.node_id, b"initiator", self.genesis,
                            peer.my_nonce, peer.their_nonce)
            del self.pending[auth_msg.node]
            peer.session = session_key(self.key, peer.public_key, peer.their_nonce,
                                       peer.my_nonce)
            self._promote(peer)
            return [self._envelope(peer, "status", self._status()), *self._greeting_proofs(peer)]
        raise ProtocolError(f"unknown handshake message {kind!r}")
