"""Protocol narratives on the simulated network: gossip, sync, partitions, faults."""

from learnchain.core.crypto import PrivateKey
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis
from learnchain.sim.scenario import Scenario, run_scenario

BOB = PrivateKey.from_seed(b"bob").address


def network(n, *, seed=0, link=None, funded=None, hash_rate=1e5, bits=20):
    keys = [PrivateKey.from_seed(f"sim-node-{i}".encode()) for i in range(n)]
    genesis = sim_genesis(keys, funded=funded)
    return SimNetwork(genesis, keys, seed=seed, link=link or LinkModel(median_ms=40),
                      difficulty_bits=bits, hash_rates=[hash_rate / n] * n)


def test_gossip_keeps_a_ring_of_nodes_on_one_chain():
    net = network(6)
    for i in range(6):
        net.connect(f"n{i}", f"n{(i + 1) % 6}")
    net.run(2)
    assert all(len(n.p2p.ready_peers()) == 2 for n in net.nodes.values())
    net.start_mining()
    net.run(until_height=30)
    net.settle()
    assert net.converged()
    assert min(n.chain.height for n in net.nodes.values()) >= 30
    producers = {t.producer for t in net.blocks.values()}
    assert len(producers) >= 4


def test_partition_both_sides_mine_then_converge_on_the_most_work():
    alice = PrivateKey.from_seed(b"alice")
    net = network(8, funded={alice.address: 1000})
    net.connect_all()
    net.run(2)
    net.start_mining()
    net.run(until_height=5)
    left, right = [f"n{i}" for i in range(4)], [f"n{i}" for i in range(4, 8)]
    net.partition(left, right)
    fork_height = max(n.chain.height for n in net.nodes.values())
    net.run(200)
    left_head = net.nodes["n0"].chain.head_hash
    right_head = net.nodes["n7"].chain.head_hash
    assert left_head != right_head, "both sides must have extended their own branch"
    assert net.nodes["n0"].chain.height > fork_height + 3
    assert net.nodes["n7"].chain.height > fork_height + 3
    net.heal()
    net.settle(60)
    assert net.converged()
    winner = net.nodes["n0"].chain
    metrics = [n.chain.head_metrics for n in net.nodes.values()]
    assert len(set(metrics)) == 1
    assert any(depth > 1 for n in net.nodes.values() for depth in n.reorgs)
    assert winner.block_at(fork_height) is not None


def test_a_late_node_syncs_headers_first_from_its_peers():
    net = network(4)
    net.connect("n0", "n1")
    net.connect("n1", "n2")
    net.run(2)
    net.nodes["n2"].hash_rate = net.nodes["n3"].hash_rate = 0.0
    net.start_mining()
    net.run(until_height=120)
    net.settle(5)
    assert net.nodes["n3"].chain.height == 0
    net.connect("n3", "n2")
    net.settle(60)
    assert net.converged() and net.nodes["n3"].chain.height >= 120
    assert net.nodes["n3"].p2p.stats.messages_in < 200, "sync must batch, not fetch one by one"


def test_lossy_links_still_converge():
    net = network(6, link=LinkModel(median_ms=100, sigma=0.8, loss=0.05), seed=3)
    net.connect_all()
    net.run(10)
    net.start_mining()
    net.run(until_height=25)
    net.settle(120)
    assert net.converged()


def test_runs_are_reproducible_from_a_seed():
    scenario = Scenario(seed=5, nodes=8, blocks=20, degree=2, tx_per_s=0.5)
    _, first = run_scenario(scenario)
    _, second = run_scenario(scenario)
    assert first.to_json() == second.to_json()
    assert first.canonical_height >= 20 and first.converged


def test_a_node_killed_during_sync_resumes_from_its_database(tmp_path):
    keys = [PrivateKey.from_seed(f"crash-{i}".encode()) for i in range(2)]
    net = SimNetwork(sim_genesis(keys), keys, link=LinkModel(median_ms=20, sigma=0.1),
                     hash_rates=[1e5, 0.0], difficulty_bits=10, datadir=tmp_path)
    net.start_mining()
    net.run(until_height=1500)
    net.nodes["n0"].mining_epoch += 1
    net.connect("n1", "n0")
    net.run(0.3)
    partial = net.nodes["n1"].chain.height
    assert 0 < partial < 1500, "the crash must hit the middle of the sync"
    restarted = net.crash_and_restart("n1")
    assert restarted.chain.height == partial, "committed blocks survive the crash"
    net.connect("n1", "n0")
    net.settle(30)
    assert net.converged() and restarted.chain.height == net.nodes["n0"].chain.height
