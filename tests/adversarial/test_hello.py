"""Finding 2: an unauthenticated `hello` evicted an established peer, and the table grew.

Narrative: n0 and n1 hold an authenticated session. Anyone can send n1 a `hello` that claims
n0's key and address; before the fix n1 replaced n0's session with the half-open one, cutting
n0 off. Then 20,000 hellos under fresh keys made 20,001 peer entries. Now a session is only
replaced once the new handshake has proved the key, half-open handshakes are capped, and peers
are indexed by key.
"""

from __future__ import annotations

import coincurve

from learnchain.core.crypto import PrivateKey
from learnchain.net.handshake import MAX_PENDING
from learnchain.net.protocol import encode_handshake, new_nonce
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis


def connected_pair():
    keys = [PrivateKey.from_seed(f"hello-{i}".encode()) for i in range(2)]
    net = SimNetwork(sim_genesis(keys), keys, link=LinkModel(median_ms=5, sigma=0.1))
    net.connect("n0", "n1")
    net.run(1)
    assert [p.addr for p in net.nodes["n1"].p2p.ready_peers()] == ["n0"]
    return net


def hello_from(victim, public: bytes, addr: str) -> bytes:
    return encode_handshake("hello", {"chain_id": victim.chain_id, "genesis": victim.genesis,
                                      "pub": public, "addr": addr, "nonce": new_nonce(),
                                      "height": 0})


def test_an_unauthenticated_hello_does_not_evict_an_established_peer():
    net = connected_pair()
    honest, victim = net.nodes["n0"].p2p, net.nodes["n1"].p2p
    session = victim.peers["n0"].session

    # The attacker knows n0's public key and address (both are public) but not its secret.
    victim.on_message(hello_from(victim, honest.public_key, "n0"))

    assert victim.peers["n0"].ready and victim.peers["n0"].session == session
    score = victim.peers["n0"].score
    net.nodes["n0"].hash_rate = 1e5
    net.start_mining()
    net.run(until_height=3)
    net.settle(2)
    assert net.nodes["n1"].chain.head_hash == net.nodes["n0"].chain.head_hash
    assert victim.peers["n0"].score == score, "n0's messages still authenticate"


def test_a_reconnecting_peer_that_proves_its_key_replaces_its_old_session():
    net = connected_pair()
    victim = net.nodes["n1"].p2p
    old = victim.peers["n0"]
    net.nodes["n0"].p2p.peers.clear()
    net.nodes["n0"].p2p.by_id.clear()
    net.connect("n0", "n1")
    net.run(1)
    assert victim.peers["n0"] is not old and victim.peers["n0"].ready
    assert len(victim.by_id) == 1


def test_twenty_thousand_hellos_do_not_grow_the_peer_table():
    net = connected_pair()
    victim = net.nodes["n1"].p2p
    for i in range(20_000):
        public = coincurve.PrivateKey(PrivateKey.from_seed(i.to_bytes(4, "big")).secret
                                      ).public_key.format()
        victim.on_message(hello_from(victim, public, f"http://10.0.{i // 250}.{i % 250}:1"))
    held = len(victim.peers) + len(victim.pending) + len(victim.dialing)
    assert held <= victim.max_peers + MAX_PENDING, f"{held} entries after 20,000 hellos"
    assert victim.peers["n0"].ready, "the established peer survives the flood"
