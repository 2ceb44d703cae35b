"""The rlpow engine on real chains: growth, rewards, fork choice, reorgs, restart, network."""

from __future__ import annotations

import pytest

from learnchain.consensus.registry import build_engine
from learnchain.consensus.rlpow import RLPowEngine, default_rlpow_params, mint_for
from learnchain.core.errors import ConfigError
from learnchain.core.types import Block
from learnchain.ml.fixedpoint import SCALE
from learnchain.node import open_chain
from learnchain.sim.network import LinkModel, SimNetwork
from learnchain.sim.rlpow_chains import LocalChain, keys_for, local_chain, rlpow_genesis
from learnchain.testing import ManualClock

PARAMS = {"K": 4, "audit_steps": 2, "learning_starts": 3}


def pair(env: str = "CartPole-v1", fork_choice: str = "longest-then-reward-sum",
         replay: str = "shared") -> tuple[LocalChain, LocalChain, list]:
    keys = keys_for(3, "engine")
    genesis = rlpow_genesis(keys, env=env, params=PARAMS, fork_choice=fork_choice,
                            replay=replay)
    clock = ManualClock()
    return local_chain(genesis, keys, clock=clock), local_chain(genesis, keys, clock=clock), keys


def relay(src: LocalChain, dst: LocalChain, block: Block) -> None:
    dst.engine.accept_sidecar(src.engine.sidecar(block))
    dst.chain.add_block(block)


@pytest.mark.parametrize("env", ["CartPole-v1", "Inventory-v0"])
@pytest.mark.parametrize("replay", ["shared", "own"])
def test_honest_blocks_verify_on_another_node_and_the_chain_grows(env, replay):
    prover, verifier, keys = pair(env, replay=replay)
    for h in range(8):
        relay(prover, verifier, prover.produce(keys[h % 3]))
    assert verifier.chain.height == 8 and verifier.chain.head_hash == prover.chain.head_hash
    assert verifier.engine.stats["verified_blocks"] == 8
    assert verifier.engine.stats["audited_steps"] > 0
    fields = verifier.chain.head.engine_fields
    assert fields["k"] == 4 and fields["theta_cid"].startswith("bafkrei")


def test_the_registry_builds_the_engine_and_params_validate():
    engine = build_engine("rlpow", {"env": "Inventory-v0", "dqn": {"hidden": [16]}})
    assert isinstance(engine, RLPowEngine) and engine.spec.hidden == (16,)
    engine.validate_params(default_rlpow_params())
    with pytest.raises(ValueError, match="'K' must be an integer"):
        engine.validate_params({**default_rlpow_params(), "K": 0})
    with pytest.raises(ValueError, match="eps_end_ppb"):
        engine.validate_params({**default_rlpow_params(), "eps_end_ppb": 2 * SCALE})
    with pytest.raises(ConfigError, match="unknown rlpow key"):
        RLPowEngine({"envv": "CartPole-v1"})


def test_the_winner_is_minted_base_plus_kappa_times_clipped_reward():
    prover, _, keys = pair("Inventory-v0")
    params = prover.chain.consensus_params().params
    before = 0
    for _ in range(6):
        block = prover.produce(keys[0])
        r = block.header.engine_fields["r"]
        expected = params["base_reward"] + params["kappa"] * max(0, min(r, SCALE)) // SCALE
        assert block.header.engine_fields["mint"] == expected == mint_for(r, params)
        balance = int(prover.chain.query("bank", "balance", {"address": keys[0].address}))
        assert balance - before == expected
        before = balance


@pytest.mark.parametrize("rule", ["longest-then-last-reward", "longest-then-reward-sum"])
def test_fork_choice_prefers_the_equally_long_branch_with_more_reward(rule):
    """Two proposers extend the same parent by two blocks each; a third node sees both."""
    keys = keys_for(3, "fork")
    genesis = rlpow_genesis(keys, env="Inventory-v0", params=PARAMS, fork_choice=rule)
    clock = ManualClock()
    a, b, observer = (local_chain(genesis, keys, clock=clock) for _ in range(3))
    for _ in range(3):
        block = a.produce(keys[2])
        relay(a, b, block)
        relay(a, observer, block)
    branch_a = [a.produce(keys[0]) for _ in range(2)]
    branch_b = [b.produce(keys[1]) for _ in range(2)]
    rewards_a = [blk.header.engine_fields["r"] for blk in branch_a]
    rewards_b = [blk.header.engine_fields["r"] for blk in branch_b]
    score = (lambda r: r[-1]) if rule == "longest-then-last-reward" else sum
    assert score(rewards_a) != score(rewards_b), "pick keys whose branches earn differently"
    for blk in branch_a:
        relay(a, observer, blk)
    for blk in branch_b:
        relay(b, observer, blk)
    winner = branch_b if score(rewards_b) > score(rewards_a) else branch_a
    assert observer.chain.head_hash == winner[-1].hash


def test_after_a_reorg_lineage_and_replay_buffer_follow_the_new_branch():
    keys = keys_for(3, "reorg")
    genesis = rlpow_genesis(keys, params=PARAMS, fork_choice="longest")
    clock = ManualClock()
    a, b, fresh = (local_chain(genesis, keys, clock=clock) for _ in range(3))
    for _ in range(4):
        relay(a, b, a.produce(keys[0]))
    short = [a.produce(keys[0]) for _ in range(2)]
    long = [b.produce(keys[1]) for _ in range(3)]
    for blk in long:
        relay(b, a, blk)
    assert a.chain.head_hash == long[-1].hash  # a abandoned its own two blocks
    nxt = a.produce(keys[0])  # key 0's lineage on this branch ends at height 4, not 6
    assert nxt.header.engine_fields["theta"] == a.engine.record(
        a.chain.block_at(4).hash).lineage[keys[0].address].params
    for h in range(1, a.chain.height + 1):
        relay(a, fresh, a.chain.block_at(h))
    assert fresh.chain.head_hash == nxt.hash
    assert short[0].hash not in {fresh.chain.block_at(h).hash for h in range(1, 9)}


def test_a_restarted_node_rebuilds_its_view_and_keeps_producing(tmp_path):
    keys = keys_for(2, "restart")
    genesis = rlpow_genesis(keys, params=PARAMS)
    clock = ManualClock()
    db = tmp_path / "chain.sqlite"
    first = LocalChain(open_chain(db, genesis, clock=clock), keys, clock)
    for h in range(5):
        first.produce(keys[h % 2])
    first.chain.store.close()
    again = LocalChain(open_chain(db, genesis, clock=clock), keys, clock)
    assert again.chain.height == 5 and again.engine._records == {}
    for h in range(3):
        again.produce(keys[h % 2])
    observer = local_chain(genesis, keys, clock=clock)
    for h in range(1, 9):
        relay(again, observer, again.chain.block_at(h))
    assert observer.chain.head_hash == again.chain.head_hash


def test_row_shows_state_action_reward_and_running_return():
    prover, _, keys = pair()
    blocks = [prover.produce(keys[0]) for _ in range(3)]
    rows = [prover.engine.row(b.header) for b in blocks]
    assert [r["height"] for r in rows] == [1, 2, 3]
    assert all(r["R"] == 1.0 and r["A"] in (0, 1) and len(r["S"]) == 5 for r in rows)
    assert [r["t"] for r in rows] == [1, 2, 3] and len(rows[0]["features"]) == 4
    assert [r["return"] for r in rows] == [1.0, 2.0, 3.0]


def test_a_four_node_devnet_learns_on_chain_over_the_simulated_network():
    """Real p2p gossip: blocks travel with their sidecars and every node audits every block."""
    keys = keys_for(4, "devnet")
    genesis = rlpow_genesis(keys, params=PARAMS)
    net = SimNetwork(genesis, keys, seed=1, link=LinkModel(median_ms=20))
    net.connect_all()
    net.run(2)
    names = list(net.nodes)
    for i in range(16):
        node = net.nodes[names[(i * 3 + i // 4) % 4]].node
        net.at(3 + i, node.produce_block)
    net.run(25)
    net.settle(10)
    assert net.converged()
    heights = {n.chain.height for n in net.nodes.values()}
    assert heights == {16}
    audited = [n.chain.engine.stats["audited_steps"] for n in net.nodes.values()]
    assert all(a > 0 for a in audited)
    proposers = {n.chain.block_at(h).header.proposer for n in net.nodes.values()
                 for h in range(1, 17)}
    assert len(proposers) == 4


def test_a_pruning_node_serves_audits_from_its_recent_work_cache():
    prover, verifier, keys = pair()
    prover.engine.archive_work = False
    for h in range(6):
        relay(prover, verifier, prover.produce(keys[h % 3]))
    assert verifier.chain.head_hash == prover.chain.head_hash
    assert verifier.engine.stats["audited_steps"] > 0
    assert len(prover.engine.blobs) < len(verifier.engine.blobs)


def test_row_of_the_genesis_block_is_empty():
    prover, _, _ = pair()
    row = prover.engine.row(prover.chain.block_at(0).header)
    assert row["height"] == 0 and row["A"] is None and row["S"] is None


def test_a_proposer_cannot_grind_later_coins_with_timestamps_or_transactions():
    """Seeds chain the work of each block, never a hash: re-signing a block with another
    timestamp or other transactions changes no coin of any later block."""
    from dataclasses import replace

    from learnchain.consensus.rlpow import coin_seed

    prover, _, keys = pair()
    for h in range(5):
        prover.produce(keys[h % 3])
    header = prover.chain.head
    parent_seed = prover.engine.record(header.parent).seed
    regrind = replace(header, timestamp_ms=header.timestamp_ms + 1, tx_root=bytes(32))
    assert regrind.hash != header.hash
    assert coin_seed(regrind, parent_seed) == coin_seed(header, parent_seed) \
        == prover.engine.record(header.hash).seed
    other_parent = replace(prover.chain.get_header(header.parent), timestamp_ms=1)
    assert other_parent.hash != header.parent
    assert coin_seed(replace(header, parent=other_parent.hash), parent_seed) \
        == coin_seed(header, parent_seed), "a grandparent's hash does not reach the coins"
    other_work = dict(header.engine_fields, after=[bytes(32)] * 3)
    assert coin_seed(replace(header, engine_fields=other_work), parent_seed) \
        != coin_seed(header, parent_seed)
    assert coin_seed(header, bytes(32)) != coin_seed(header, parent_seed)
