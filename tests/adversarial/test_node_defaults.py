"""Finding 9: permissioned peers by default, skewed clocks deferred, bans that survive restarts.

Narratives: (1) a node made by `learnchain init` accepted any peer key; now its genesis lists
its node key and node.toml says `peers = "permissioned"`, with `peers = "open"` as the explicit
way to admit anyone. (2) An honest miner whose clock runs 20 s fast relays blocks 5 s past the
allowed drift: before, the receiver scored it down as invalid and banned it; now the blocks
wait for the receiver's clock and go in unpunished. (3) A peer banned for invalid blocks was
forgotten at restart; bans now live in the node's SQLite file until they expire.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from learnchain.config import NodeConfig
from learnchain.core.crypto import PrivateKey, parse_address
from learnchain.core.types import Block
from learnchain.net.protocol import ProtocolError, encode_handshake, new_nonce
from learnchain.runtime import NodeRuntime
from learnchain.scaffold import init_datadir
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis


def hello(p2p, key: PrivateKey) -> bytes:
    import coincurve

    public = coincurve.PrivateKey(key.secret).public_key.format()
    return encode_handshake("hello", {"chain_id": p2p.chain_id, "genesis": p2p.genesis,
                                      "pub": public, "addr": "http://127.0.0.1:9",
                                      "nonce": new_nonce(), "height": 0})


def test_init_makes_a_permissioned_node_and_open_mode_is_explicit(tmp_path):
    result = init_datadir(tmp_path / "node", light_kdf=True)
    assert [parse_address(a) for a in result.genesis.permissioned_nodes] == [
        result.node_address]
    config = NodeConfig.load(tmp_path / "node")
    assert config.p2p.peers == "permissioned"
    runtime = NodeRuntime(tmp_path / "node")
    try:
        assert runtime.p2p is not None and runtime.p2p.allowed_nodes == {result.node_address}
        with pytest.raises(ProtocolError, match="not a registered consortium node"):
            runtime.p2p.on_message(hello(runtime.p2p, PrivateKey.generate()))
    finally:
        runtime.chain.store.close()

    init_datadir(tmp_path / "open", light_kdf=True, open_peers=True)
    assert 'peers = "open"' in (tmp_path / "open/node.toml").read_text()
    runtime = NodeRuntime(tmp_path / "open")
    try:
        assert runtime.p2p is not None and runtime.p2p.allowed_nodes is None
        assert runtime.p2p.on_message(hello(runtime.p2p, PrivateKey.generate()))
    finally:
        runtime.chain.store.close()


def test_a_node_toml_with_an_unknown_peer_mode_is_refused(tmp_path):
    from learnchain.core.errors import ConfigError

    with pytest.raises(ConfigError, match="peers must be one of permissioned, open"):
        NodeConfig.from_plain(tmp_path, {"p2p": {"peers": "anyone"}}, "node.toml")


def test_a_peer_whose_clock_is_20_s_fast_is_deferred_not_punished():
    keys = [PrivateKey.from_seed(f"skew-{i}".encode()) for i in range(2)]
    net = SimNetwork(sim_genesis(keys), keys, link=LinkModel(median_ms=10, sigma=0.1))
    net.connect("n0", "n1")
    net.run(1)
    fast, victim = net.nodes["n0"], net.nodes["n1"]
    fast.chain.clock = lambda: net.scheduler.clock() + 20_000  # 5 s past the 15 s drift
    blocks = [fast.node.produce_block() for _ in range(2)]
    net.run(1)
    peer = victim.p2p.peers["n0"]
    assert peer.score == 100 and keys[0].address not in victim.p2p.banned
    assert victim.chain.height == 0 and victim.p2p.stats.deferred >= 1
    net.run(8)  # the victim's clock catches up with the blocks' timestamps
    victim.p2p.tick()
    net.run(1)
    assert victim.chain.head_hash == blocks[-1].hash
    assert victim.p2p.peers["n0"].score == 100


def forged(node) -> Block:
    candidate, _ = node.chain.build_candidate([], node.key.address)
    header = node.chain.engine.seal(replace(candidate.header, state_root=b"\x01" * 32),
                                    node.chain.consensus_params(), threading.Event())
    return Block(header, candidate.transactions).signed(node.key)


def test_bans_survive_a_restart_and_expire(tmp_path):
    keys = [PrivateKey.from_seed(f"ban-{i}".encode()) for i in range(2)]
    net = SimNetwork(sim_genesis(keys), keys, link=LinkModel(median_ms=10, sigma=0.1),
                     datadir=tmp_path)
    net.connect("n0", "n1")
    net.run(1)
    evil = net.nodes["n0"]
    for _ in range(2):
        bad = forged(evil)
        evil.p2p.send(evil.p2p.ready_peers()[0], "block", {"hash": bad.hash,
                                                           "block": bad.encoded})
        net.run(1)
    assert keys[0].address in net.nodes["n1"].p2p.banned

    restarted = net.crash_and_restart("n1")
    assert keys[0].address in restarted.p2p.banned, "the ban must survive the restart"
    evil.p2p.peers.clear()
    evil.p2p.by_id.clear()
    net.connect("n0", "n1")
    net.run(1)
    assert not restarted.p2p.ready_peers()

    net.scheduler.now_ms += restarted.p2p.ban_ms + 1
    net.connect("n0", "n1")
    net.run(1)
    assert [p.addr for p in restarted.p2p.ready_peers()] == ["n0"], "the ban expired"
    assert keys[0].address not in restarted.p2p.banned
