"""Fuzzing the peer protocol: authenticated envelopes with hostile bodies, and raw frames.

A `FuzzHarness` is two real nodes with an established session (over the simulated network).
Inputs are sealed with the sender's real session key and sequence numbers, so they pass the
MAC and reach every message handler: the part of a node an authenticated (or permissioned but
compromised) peer can reach. The documented outcome of bad input is `ProtocolError` raised by
`P2PNode.on_message` or a penalty; anything else is an undocumented exception and a bug.

Used by the bounded hypothesis targets in the test suite and by `tools/fuzz_peer.py`
(`make fuzz`, ≥ 10^6 inputs).
"""

from __future__ import annotations

import random
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from learnchain.core.crypto import PrivateKey
from learnchain.core.encoding import encode
from learnchain.core.errors import EncodingError
from learnchain.net.p2p import Transport
from learnchain.net.protocol import (
    SESSION_KINDS,
    ProtocolError,
    encode_envelope,
    encode_payload,
)

FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("height", "head"),
    "tx": ("hash", "tx"),
    "block": ("hash", "block", "blobs"),
    "get_headers": ("start", "locator", "max"),
    "headers": ("headers", "height", "head"),
    "get_blocks": ("hashes",),
    "blocks": ("blocks", "blobs"),
    "get_blobs": ("cids",),
    "blobs": ("blobs", "missing"),
    "get_peers": (),
    "peers": ("addrs",),
    "checkpoint": ("checkpoint",),
    "fraud": ("proof",),
}
KINDS = tuple(sorted(SESSION_KINDS))
INTERESTING_INTS = (0, 1, -1, 2, 63, 64, 255, 256, 500, 501, 2**31, 2**32, 2**53, 2**63 - 1,
                    2**63, 2**64 - 1, 2**64, 2**100, -(2**63), -(2**64), 300_000_000)


class NullTransport(Transport):
    """Drops what the victim sends, so a long run holds no growing queue of replies."""

    def send(self, addr: str, data: bytes) -> None:
        return None


@dataclass
class FuzzHarness:
    """n0 (the fuzzer) holds an authenticated session with n1 (the victim)."""

    blocks: int = 6
    outcomes: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis

        keys = [PrivateKey.from_seed(f"fuzz-{i}".encode()) for i in range(2)]
        self.net = SimNetwork(sim_genesis(keys, max_reorg_depth=4), keys,
                              link=LinkModel(median_ms=1, sigma=0.0))
        self.net.connect("n0", "n1")
        self.net.run(1)
        sender = self.net.nodes["n0"]
        for _ in range(self.blocks):
            self.net.scheduler.now_ms += 1000
            sender.node.produce_block()
        self.net.run(2)
        self.victim = self.net.nodes["n1"].p2p
        self.victim.transport = NullTransport()
        self.sender = sender.p2p
        self.link = self.sender.peers["n1"]
        self.known = [b.hash for b in sender.chain.canonical_blocks(0, sender.chain.height)]
        self.raw_blocks = [b.encoded for b in sender.chain.canonical_blocks(1,
                                                                           sender.chain.height)]
        self.headers = [b.header.to_plain() for b in sender.chain.canonical_blocks(
            1, sender.chain.height)]

    def seal(self, kind: str, body: dict[str, Any], seq: int | None = None) -> bytes:
        assert self.link.session is not None
        if seq is None:
            self.link.seq_out += 1
            seq = self.link.seq_out
        if not 0 <= seq < 2**64:  # no honest MAC exists: the frame a hostile peer would send
            return encode({"v": 1, "from": self.sender.node_id, "seq": seq,
                           "payload": encode_payload(kind, body), "mac": bytes(32)})
        return encode_envelope(self.link.session, seq, self.sender.node_id, kind, body)

    def deliver(self, frame: bytes) -> str:
        """Feed one frame to the victim; returns the outcome class (counted)."""
        peer = self.victim.peers.get("n0")
        if peer is not None:
            peer.score = 10**12  # keep the session: the point is to reach every handler
        try:
            self.victim.on_message(frame, addr="n0")
            outcome = "accepted"
        except ProtocolError:
            outcome = "protocol-error"
        except Exception as exc:
            outcome = f"UNDOCUMENTED {type(exc).__name__}"
            self.samples.setdefault(outcome, traceback.format_exc())
        self.outcomes[outcome] += 1
        return outcome

    @property
    def undocumented(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("UNDOCUMENTED"))


# ----- a fast random generator for long runs (the suite uses hypothesis) ---------------


def random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 0:
        return rng.choice(INTERESTING_INTS)
    if choice == 1:
        return rng.randint(-(2**70), 2**70)
    if choice == 2:
        return rng.randbytes(rng.choice((0, 1, 16, 20, 31, 32, 33, 65, rng.randrange(200))))
    if choice == 3:
        return rng.choice(("", "b", "bafkrei", "n0", "x" * 300, "\u00e9", "0x" + "ab" * 32))
    if choice == 4:
        return rng.choice((True, False, None))
    if choice == 5:
        return rng.randbytes(32)
    if choice == 6:
        return rng.randrange(0, 50)
    if choice in (7, 8):
        return [random_value(rng, depth + 1) for _ in range(rng.choice((0, 1, 2, 5, 65)))]
    return {rng.choice(("a", "hash", "block", "height", "", "chain_id")): random_value(
        rng, depth + 1) for _ in range(rng.randrange(4))}


def field_value(h: FuzzHarness, rng: random.Random, name: str) -> Any:
    """Mostly well-shaped values for a known field, often with one part wrong."""
    if rng.random() < 0.35:
        return random_value(rng)
    if name in ("hash", "head"):
        return rng.choice(h.known)
    if name in ("height", "start", "max"):
        return rng.choice(INTERESTING_INTS)
    if name in ("locator", "hashes"):
        items = [rng.choice(h.known) for _ in range(rng.randrange(70))]
        if items and rng.random() < 0.5:
            items[rng.randrange(len(items))] = random_value(rng)
        return items
    if name == "block":
        return rng.choice(h.raw_blocks)
    if name == "blocks":
        return [rng.choice(h.raw_blocks) for _ in range(rng.randrange(4))]
    if name == "headers":
        headers = [list(rng.choice(h.headers)) for _ in range(rng.randrange(4))]
        for header in headers:
            if rng.random() < 0.5:
                header[rng.randrange(11)] = random_value(rng)
        return headers
    if name in ("cids", "missing"):
        from learnchain.storage.blobstore import cid_of_digest

        return [cid_of_digest(rng.randbytes(32)) if rng.random() < 0.7 else random_value(rng)
                for _ in range(rng.randrange(5))]
    if name == "blobs":
        return {rng.choice(("b" + "a" * 58, "x", "", "bafy")):
                rng.randbytes(8) for _ in range(rng.randrange(3))}
    if name == "addrs":
        return [rng.choice(("n0", "n1", "n9", "http://127.0.0.1:1")) for _ in range(3)]
    if name == "proof":  # an rlpow fraud proof: CBOR junk or a map with hostile fields
        if rng.random() < 0.5:
            return rng.randbytes(rng.randrange(64))
        try:
            return encode({"v": 1, "header": random_value(rng), "signature": rng.randbytes(65),
                           "manifest": rng.randbytes(8), "step": rng.choice(INTERESTING_INTS)})
        except EncodingError:  # a value CBOR cannot carry (e.g. beyond 64 bits)
            return rng.randbytes(8)
    if name == "checkpoint":
        return {"chain_id": rng.choice(INTERESTING_INTS), "height": rng.choice(INTERESTING_INTS),
                "hash": rng.choice(h.known), "signature": rng.randbytes(65)}
    return random_value(rng)


def random_input(h: FuzzHarness, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.85:
        kind = rng.choice(KINDS)
        body = {f: field_value(h, rng, f) for f in FIELDS[kind] if rng.random() < 0.9}
        if rng.random() < 0.1:
            body[rng.choice(("x", "height", "hash"))] = random_value(rng)
        return h.seal(kind, body)
    if roll < 0.95:  # envelopes with hostile sequence numbers or sender ids
        frame = {"v": 1, "from": rng.choice((h.sender.node_id, random_value(rng))),
                 "seq": rng.choice(INTERESTING_INTS), "payload": random_value(rng),
                 "mac": rng.randbytes(32)}
        return encode(frame)
    data = bytearray(h.seal("status", {"height": 1, "head": h.known[-1]}))
    for _ in range(rng.randrange(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def run(count: int, seed: int = 0, progress: Any = None) -> FuzzHarness:
    harness = FuzzHarness()
    rng = random.Random(seed)
    for i in range(count):
        harness.deliver(random_input(harness, rng))
        if progress is not None and i % 10_000 == 0:
            progress(i, harness)
    return harness
