"""Bad peers: malformed, foreign, replayed, tampered and invalid input never gets in."""

import threading
from dataclasses import replace

import pytest

from learnchain.core.crypto import PrivateKey
from learnchain.core.types import Block
from learnchain.net.messages import validate_get_headers
from learnchain.net.protocol import ProtocolError, encode_handshake
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis


class Recorder:
    """A transport that keeps what a node sends, so a test can replay or tamper with it."""

    def __init__(self):
        self.sent = []

    def send(self, addr, data):
        self.sent.append((addr, data))


def pair(permissioned=False, extra_keys=0):
    keys = [PrivateKey.from_seed(f"adv-{i}".encode()) for i in range(2 + extra_keys)]
    genesis = sim_genesis(keys[:2])
    net = SimNetwork(genesis, keys, link=LinkModel(median_ms=10, sigma=0.1))
    if permissioned:
        for n in net.nodes.values():
            n.p2p.allowed_nodes = {keys[0].address, keys[1].address}
    return net


def connected_pair():
    net = pair()
    net.connect("n0", "n1")
    net.run(1)
    assert net.nodes["n1"].p2p.ready_peers()
    return net


def test_malformed_frames_raise_protocol_errors_only():
    net = connected_pair()
    victim = net.nodes["n1"].p2p
    for junk in (b"", b"\xff\x00garbage", encode_handshake("nonsense", {}), b"\xa0" * 10):
        with pytest.raises(ProtocolError):
            victim.on_message(junk, addr="n0")


def test_a_node_of_another_chain_is_refused_at_hello():
    net = connected_pair()
    victim = net.nodes["n1"].p2p
    hello = {"chain_id": 999, "genesis": b"\x00" * 32, "pub": victim.public_key,
             "addr": "x", "nonce": b"\x01" * 16, "height": 0}
    with pytest.raises(ProtocolError, match="chain mismatch"):
        victim.on_message(encode_handshake("hello", hello))


def test_permissioned_network_refuses_unregistered_node_keys():
    net = pair(permissioned=True, extra_keys=1)
    net.connect("n2", "n0")
    net.connect("n1", "n0")
    net.run(1)
    assert [p.addr for p in net.nodes["n0"].p2p.ready_peers()] == ["n1"]
    assert not net.nodes["n2"].p2p.ready_peers()


def test_replayed_and_tampered_envelopes_are_rejected():
    net = connected_pair()
    sender, victim = net.nodes["n0"].p2p, net.nodes["n1"].p2p
    recorder = Recorder()
    sender.transport = recorder
    sender.tick()
    (_, status_frame), *_ = [m for m in recorder.sent if m[0] == "n1"]
    victim.on_message(status_frame, addr="n0")
    with pytest.raises(ProtocolError, match="replayed"):
        victim.on_message(status_frame, addr="n0")
    sender.tick()
    fresh = recorder.sent[-2][1] if recorder.sent[-1][0] != "n1" else recorder.sent[-1][1]
    tampered = bytearray(fresh)
    tampered[-40] ^= 0x01
    with pytest.raises(ProtocolError):
        victim.on_message(bytes(tampered), addr="n0")


def forged_block(net, name, mutate):
    node = net.nodes[name]
    candidate, _ = node.chain.build_candidate([], node.key.address)
    header = node.chain.engine.seal(mutate(candidate.header), node.chain.consensus_params(),
                                    threading.Event())
    return Block(header, candidate.transactions).signed(node.key)


def test_a_peer_sending_invalid_blocks_is_scored_down_and_banned():
    net = connected_pair()
    evil, victim = net.nodes["n0"], net.nodes["n1"]
    peer_of_evil = evil.p2p.ready_peers()[0]
    for i in range(3):
        bad = forged_block(net, "n0", lambda h, i=i: replace(h, state_root=bytes([i + 1]) * 32))
        evil.p2p.send(peer_of_evil, "block", {"hash": bad.hash, "block": bad.encoded})
        net.run(1)
        assert not victim.chain.has_block(bad.hash)
    assert victim.chain.height == 0
    assert not victim.p2p.ready_peers(), "the misbehaving peer must be dropped"
    assert evil.key.address in victim.p2p.banned


def test_blocks_far_in_the_future_are_not_accepted_from_peers():
    net = connected_pair()
    evil, victim = net.nodes["n0"], net.nodes["n1"]
    future = forged_block(net, "n0",
                          lambda h: replace(h, timestamp_ms=h.timestamp_ms + 3_600_000))
    evil.p2p.send(evil.p2p.ready_peers()[0], "block",
                  {"hash": future.hash, "block": future.encoded})
    net.run(1)
    assert not victim.chain.has_block(future.hash) and victim.chain.height == 0


def test_replaying_old_blocks_changes_nothing_and_costs_no_reputation():
    net = connected_pair()
    for n in net.nodes.values():
        n.hash_rate = 1e5
    net.start_mining()
    net.run(until_height=10)
    net.settle(5)
    evil, victim = net.nodes["n0"], net.nodes["n1"]
    head = victim.chain.head_hash
    peer = evil.p2p.ready_peers()[0]
    score = victim.p2p.peers["n0"].score
    for block in list(evil.chain.canonical_blocks(1, 5)):
        evil.p2p.send(peer, "block", {"hash": block.hash + b"", "block": block.encoded})
    evil.p2p.seen_blocks.clear()
    victim.p2p.seen_blocks.clear()
    for block in list(evil.chain.canonical_blocks(1, 5)):
        evil.p2p.send(peer, "block", {"hash": block.hash, "block": block.encoded})
    net.run(2)
    assert victim.chain.head_hash == head
    assert victim.p2p.peers["n0"].score == score


def test_a_peer_that_vanishes_mid_sync_is_replaced_by_another():
    keys = [PrivateKey.from_seed(f"sync-{i}".encode()) for i in range(3)]
    net = SimNetwork(sim_genesis(keys), keys, link=LinkModel(median_ms=20, sigma=0.1),
                     hash_rates=[1e5, 0.0, 0.0], difficulty_bits=10)
    net.connect("n0", "n1")
    net.run(1)
    net.start_mining()
    net.run(until_height=1200)
    net.settle(2)
    late = net.nodes["n2"].p2p
    late.sync_timeout_ms = 3000
    net.connect("n2", "n0")
    net.run(0.3)
    net.partition(["n0"], ["n1", "n2"])
    assert 0 < net.nodes["n2"].chain.height < 1200, "the partition must cut the sync midway"
    net.connect("n2", "n1")
    net.run(1)
    for _ in range(10):
        late.tick()
        net.run(4)
    assert net.nodes["n2"].chain.head_hash == net.nodes["n1"].chain.head_hash


def test_http_peer_endpoint_refuses_oversized_and_garbage_frames():
    import httpx

    from learnchain.net.http_transport import HttpTransport, mount_p2p
    from learnchain.net.p2p import P2PNode
    from learnchain.net.server import ApiServer
    from learnchain.testing import dev_genesis, dev_key, make_node

    tn = make_node(dev_genesis())
    p2p = P2PNode(tn.node, dev_key("miner"), HttpTransport(), "http://127.0.0.1:1")
    server = ApiServer(tn.node)
    mount_p2p(server.server.config.app, p2p)
    with server:
        url = f"{server.url}/p2p/v1/message"
        big = httpx.post(url, content=b"\x00" * (9 << 20))
        assert big.status_code == 413 and big.json()["error"] == "too-large"
        junk = httpx.post(url, content=b"\xff\xfe not cbor")
        assert junk.status_code == 400 and "malformed" in junk.json()["detail"]


def test_headers_can_be_asked_for_by_height_range():
    net = connected_pair()
    net.nodes["n0"].hash_rate = 1e5
    net.start_mining()
    net.run(until_height=20)
    server = net.nodes["n0"].p2p
    peer = server.peers["n1"]
    (reply,) = server._on_get_headers(peer, validate_get_headers({"start": 5, "max": 3}))
    kind, body = reply
    assert kind == "headers" and [h[1] for h in body["headers"]] == [5, 6, 7]
