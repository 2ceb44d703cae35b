"""Finding 3: a partition longer than the finality bound never healed.

Narrative (simulator, finality bound B = 5): three miners and one minority miner mine apart for
more than 2·B blocks each. Before the fix each side punished the other's refused deep reorg as
an invalid block, banned it, and said nothing. Now, after the partition heals, nobody is
banned, every node reports the split (finality status, log), and the governance controller
signs a checkpoint on the majority's head; both sides accept it, it spreads by gossip, and the
minority reorganises past the finality bound onto the checkpointed branch.
"""

from __future__ import annotations

import logging

from learnchain.core.crypto import PrivateKey
from learnchain.core.finality import Checkpoint
from learnchain.net.finality_api import finality_status
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis

BOUND = 5


def test_a_partition_of_twice_the_finality_bound_converges_after_a_checkpoint(caplog):
    caplog.set_level(logging.WARNING)
    keys = [PrivateKey.from_seed(f"partition-{i}".encode()) for i in range(4)]
    net = SimNetwork(sim_genesis(keys, max_reorg_depth=BOUND), keys,
                     link=LinkModel(median_ms=20, sigma=0.2), difficulty_bits=16,
                     hash_rates=[3e4, 3e4, 3e4, 2e4], seed=3)
    net.connect_all()
    net.run(1)
    net.start_mining()
    net.run(until_height=3)
    net.settle(3)
    assert net.converged()
    fork = net.nodes["n0"].chain.height
    majority, minority = ["n0", "n1", "n2"], ["n3"]

    net.partition(majority, minority)
    net.start_mining()
    while min(net.nodes[n].chain.height for n in net.nodes) < fork + 2 * BOUND + 1:
        net.run(5)
    net.heal()
    net.run(20)
    net.settle(5)

    heads = {net.nodes[n].chain.head_hash for n in net.nodes}
    assert len(heads) == 2, "each side keeps its own chain past the finality bound"
    for name, sim_node in net.nodes.items():
        assert len(sim_node.p2p.banned) == 0, f"{name} banned a peer for a refused deep reorg"
        assert sim_node.p2p.ready_peers(), f"{name} lost its peers"
    lost = net.nodes["n3"]
    report = finality_status(lost.p2p)
    assert report["split"] is not None and report["split"]["depth"] > BOUND
    assert report["split"]["fork_height"] >= fork
    assert any("chain split" in r.getMessage() for r in caplog.records)

    # The controller (n0's key in this genesis) signs the majority head as final.
    winner = net.nodes["n0"].chain
    checkpoint = Checkpoint(winner.genesis_config.chain_id, winner.height,
                            winner.head_hash).signed(keys[0])
    assert net.nodes["n0"].p2p.accept_checkpoint(checkpoint)
    net.run(10)
    for sim_node in net.nodes.values():
        sim_node.p2p.tick()
    net.run(10)
    net.settle(10)

    assert net.converged(), {n: h.hex()[:8] for n, h in net.heads().items()}
    assert lost.chain.store.canonical_hash(checkpoint.height) == checkpoint.hash
    assert lost.chain.split is None and finality_status(lost.p2p)["split"] is None
    assert all(n.chain.checkpoint == checkpoint for n in net.nodes.values())
    assert all(len(n.p2p.banned) == 0 for n in net.nodes.values())
