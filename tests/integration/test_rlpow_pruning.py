"""rlpow pruning: blob bytes stay bounded as the chain grows, and a new node still syncs.

Real nodes over the simulated network (SQLite stores, the real engine and p2p sync). Disk use
is measured in bytes of stored blobs, never in time.
"""

from __future__ import annotations

from learnchain.consensus.rlpow_pruning import BlobPruner
from learnchain.core.crypto import PrivateKey
from learnchain.sim.network import LinkModel, SimNetwork
from learnchain.sim.rlpow_chains import keys_for, local_chain, rlpow_genesis

PARAMS = {"K": 3, "audit_steps": 1, "learning_starts": 4}
DQN = {"hidden": [16, 16], "batch_size": 8}
WINDOW = 12


def _network(archival: set[str]) -> SimNetwork:
    keys = keys_for(3, "prune")
    net = SimNetwork(rlpow_genesis(keys, params=PARAMS, dqn_config=DQN), keys, seed=5,
                     link=LinkModel(median_ms=20, sigma=0.1))
    for name, sim in net.nodes.items():
        engine = sim.chain.engine
        if name not in archival:  # what NodeRuntime does for [storage] archive_work = false
            engine.archive_work = False
            BlobPruner(engine, WINDOW, every=3).attach(sim.chain)
    net.connect_all()
    net.run(2)
    return net


def _grow(net: SimNetwork, blocks: int) -> None:
    names = ["n0", "n1", "n2"]
    start = net.scheduler.now_ms / 1000 - net.start_ms / 1000
    for i in range(blocks):
        net.at(start + 1 + i * 0.5, net.nodes[names[i % 3]].node.produce_block)
    net.run(blocks * 0.5 + 5)
    net.settle(5)
    assert net.converged()


def _blob_bytes(net: SimNetwork, name: str) -> int:
    return net.nodes[name].chain.engine.blobs.total_bytes()


def test_pruned_blob_bytes_stay_bounded_and_a_new_node_syncs_from_pruned_peers():
    net = _network(archival={"n2"})
    _grow(net, 40)
    first = {name: _blob_bytes(net, name) for name in net.nodes}
    _grow(net, 80)
    second = {name: _blob_bytes(net, name) for name in net.nodes}
    height = net.nodes["n0"].chain.height
    assert height == 120

    # The archival node keeps every received state: its blob bytes grow with the chain.
    assert second["n2"] > 2 * first["n2"]
    # Pruned nodes keep a window: tripling the chain leaves their blob bytes about flat.
    for name in ("n0", "n1"):
        assert second[name] < 1.3 * first[name], (name, first, second)
        assert second[name] < second["n2"] / 3
        stats = net.nodes[name].chain.engine  # the chain's blobs of old blocks are gone ...
        old = net.nodes[name].chain.block_at(20).header.engine_fields
        assert not stats.blobs.has(old["theta"])
        assert stats.blobs.has(old["work"]), "... but every proof manifest is kept"

    # A new node (no key in genesis, not mining) syncs from the two pruned peers only.
    newcomer = net._add_node("n3", PrivateKey.from_seed(b"prune-newcomer"), 0.0)
    newcomer.chain.engine.light_depth = WINDOW
    net.nodes["n2"].p2p.peers.clear()  # the archival node is out of reach
    for name in ("n0", "n1"):
        net.connect("n3", name)
    net.settle(60)
    assert newcomer.chain.head_hash == net.nodes["n0"].chain.head_hash
    engine = newcomer.chain.engine
    light = engine.stats.get("light_blocks", 0)
    assert 0 < light <= height - WINDOW, "blocks below the window, blobs pruned: light checks"
    assert engine.stats["verified_blocks"] >= WINDOW - 2, "the window is verified in full"
    assert engine.stats["audited_steps"] > 0


def test_a_node_without_light_sync_refuses_pruned_history_instead_of_trusting_it():
    net = _network(archival=set())
    _grow(net, 30)
    newcomer = net._add_node("n3", PrivateKey.from_seed(b"prune-strict"), 0.0)
    assert newcomer.chain.engine.light_depth is None  # light_sync = false
    net.connect("n3", "n0")
    net.settle(30)
    assert newcomer.chain.height < 30 - WINDOW
    assert newcomer.p2p.stats.blobs_unavailable > 0


def test_strays_of_lost_races_are_swept_once_a_sweep_period_old_manifests_kept():
    keys = keys_for(2, "prune-stray")
    local = local_chain(rlpow_genesis(keys, params=PARAMS, dqn_config=DQN), keys)
    local.engine.archive_work = False
    pruner = BlobPruner(local.engine, keep_blocks=4, every=2).attach(local.chain)
    for h in range(8):
        local.produce(keys[h % 2])
    lost = local.propose(keys[0])  # sealed, never imported: another block won the height
    stray = lost.header.engine_fields["after"][0]
    assert local.engine.blobs.has(stray)
    local.produce(keys[1])
    pruner.sweep()
    assert local.engine.blobs.has(stray), "a new stray may belong to a block being imported"
    for h in range(6):
        local.produce(keys[h % 2])
    assert not local.engine.blobs.has(stray)
    assert pruner.stats.deleted_blobs > 0
    for h in range(1, local.chain.height + 1):  # every stored block's manifest stays
        assert local.engine.blobs.has(local.chain.block_at(h).header.engine_fields["work"])
    head = local.chain.head.engine_fields
    assert all(local.engine.blobs.has(d) for d in head["after"]), "the head's learner stays"
    local.produce(keys[0])  # and both proposers can still build on it
    local.produce(keys[1])


def test_node_config_wires_pruning_and_light_sync(tmp_path):
    import pytest

    from learnchain.config import NodeConfig
    from learnchain.core.errors import ConfigError
    from learnchain.devnet import create_devnet
    from learnchain.net.server import free_port_range
    from learnchain.runtime import NodeRuntime

    nodes = create_devnet(tmp_path / "d", 2, fast_kdf=True, engine="rlpow",
                          base_port=free_port_range(2))
    pruned, archival = (n.datadir for n in nodes)
    config = NodeConfig.load(pruned)
    assert (config.storage.keep_blocks, config.storage.light_sync) == (256, True)
    text = (pruned / "node.toml").read_text().replace("keep_blocks = 256", "keep_blocks = 32")
    (pruned / "node.toml").write_text(text)
    text = (archival / "node.toml").read_text().replace("archive_work = false",
                                                        "archive_work = true")
    (archival / "node.toml").write_text(text.replace("light_sync = true", "light_sync = false"))
    for datadir, prunes, depth in ((pruned, True, 32), (archival, False, None)):
        runtime = NodeRuntime(datadir, mine=False)
        try:
            engine = runtime.chain.engine
            pruners = [f.__self__ for f in runtime.chain.listeners
                       if isinstance(getattr(f, "__self__", None), BlobPruner)]
            assert bool(pruners) is prunes and engine.light_depth == depth
            assert not pruners or pruners[0].keep_blocks == 32
        finally:
            runtime.lock.release()
            runtime.chain.store.close()
    (pruned / "node.toml").write_text(text.replace("keep_blocks = 256", "keep_blocks = 0"))
    with pytest.raises(ConfigError, match="keep_blocks"):
        NodeConfig.load(pruned)
