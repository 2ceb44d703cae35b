"""Governed PoW follows the whitepaper's Assumption 2: miners are not rewarded by default."""

from __future__ import annotations

from learnchain.consensus.pow import GovernedPow
from learnchain.testing import dev_genesis, make_node


def test_pow_genesis_default_mints_nothing() -> None:
    assert GovernedPow().default_params()["block_reward"] == 0
    genesis = dev_genesis(funded={"alice": 1000})
    del genesis.apps["consensus"]["params"]["block_reward"]  # say nothing about rewards
    tn = make_node(genesis)
    tn.mine()
    assert tn.balance("miner") == 0
    assert tn.chain.query("bank", "supply", {}) == 1000


def test_a_configured_reward_is_still_paid() -> None:
    tn = make_node(dev_genesis(funded={"alice": 1000}, block_reward=7))
    tn.mine()
    assert tn.balance("miner") == 7
