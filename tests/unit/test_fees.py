"""Transaction fees: the per-byte rule, its governance, and the automatic minimum fee."""

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.apps.base import BlockInfo
from learnchain.core.errors import InvalidTransaction
from learnchain.core.fees import validate_fee
from learnchain.core.types import Transaction, minimum_fee
from learnchain.testing import dev_genesis, dev_key, make_node

BOB = dev_key("bob").address


@settings(max_examples=200)
@given(st.integers(0, 2**40), st.integers(0, 2**63), st.binary(max_size=300))
def test_minimum_fee_is_exactly_the_least_that_covers_the_signed_size(rate, nonce, memo):
    key = dev_key("alice")
    tx = Transaction(1, key.address, nonce, "bank", "transfer", {"to": BOB, "memo": memo})
    signed = tx.with_minimum_fee(rate).signed(key)
    assert signed.fee >= rate * signed.size
    validate_fee(signed, rate)
    if signed.fee > 0:
        cheaper = replace(tx, fee=signed.fee - 1).signed(key)
        with pytest.raises(InvalidTransaction, match="below the minimum"):
            validate_fee(cheaper, rate)
    assert Transaction.decode(signed.encoded) == signed
    assert minimum_fee(tx, 0) == 0


def test_the_fee_is_signed():
    key = dev_key("alice")
    tx = Transaction(1, key.address, 0, "bank", "transfer", {}, fee=100).signed(key)
    raised = replace(tx, fee=101)
    assert raised.recover_signer() != key.address


def test_a_fee_below_the_rule_is_refused_by_the_mempool_and_invalidates_a_block():
    tn = make_node(dev_genesis(funded={"alice": 10**6}, fee_per_byte=3))
    low = tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1}, fee=10)
    with pytest.raises(InvalidTransaction, match="below the minimum"):
        tn.node.submit(low)
    info = BlockInfo(1337, 1, tn.clock(), tn.chain.head_hash, dev_key("miner").address)
    with pytest.raises(InvalidTransaction, match="below the minimum"):
        tn.chain.executor.execute(tn.chain.state, info, [low], None, strict=True)
    built = tn.chain.executor.execute(tn.chain.state, info, [low], None, strict=False)
    assert built.included == [] and "below the minimum" in built.rejected[0][1]


def test_a_fee_the_sender_cannot_pay_in_the_block_leaves_it_out():
    tn = make_node(dev_genesis(funded={"alice": 10**6}, fee_per_byte=1))
    tx = tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1})
    poor = tn.tx("bob", "bank", "transfer", {"to": BOB, "amount": 0})
    info = BlockInfo(1337, 1, tn.clock(), tn.chain.head_hash, dev_key("miner").address)
    with pytest.raises(InvalidTransaction, match="cannot pay the fee"):
        tn.chain.executor.execute(tn.chain.state, info, [tx, poor], None, strict=True)


def test_governance_sets_the_fee_rate_and_only_the_controller_may():
    tn = make_node(dev_genesis(funded={"alice": 10**6, "miner": 10**6}, fee_per_byte=1))
    assert tn.chain.query("consensus", "params", {})["params"]["fee_per_byte"] == 1
    tn.send("alice", "consensus", "set_params", {"params": {"fee_per_byte": 0}})
    tn.send("miner", "consensus", "set_params", {"params": {"fee_per_byte": 5}})
    (block,) = tn.mine()
    refused, accepted = tn.chain.receipts(block.hash)
    assert not refused.success and "controller" in refused.error
    assert accepted.success
    assert tn.chain.consensus_params().params["fee_per_byte"] == 5
    tx = tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 1})
    assert tx.fee >= 5 * tx.size
    tn.send("miner", "consensus", "set_params", {"params": {"fee_per_byte": -1}})
    (block,) = tn.mine()
    assert "fee_per_byte" in tn.chain.receipts(block.hash)[1].error


def test_a_chain_without_the_parameter_is_free_and_governance_can_add_it():
    tn = make_node(dev_genesis(funded={"alice": 10_000}))
    assert tn.chain.query("consensus", "params", {})["params"]["fee_per_byte"] == 0
    assert tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 1}).fee == 0
    tn.send("miner", "consensus", "set_params", {"params": {"fee_per_byte": 2}})
    tn.mine()
    assert tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 1}).fee > 0


NAMES = ("alice", "carol", "dave")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 3000), st.integers(0, 3)),
                min_size=1, max_size=12),
       st.integers(1, 4))
def test_fees_conserve_money(sends, rate):
    """Whatever succeeds or fails, fees only move money: balances always sum to the supply."""
    tn = make_node(dev_genesis(funded=dict.fromkeys(NAMES, 2_000), fee_per_byte=rate))
    for sender, amount, extra in sends:
        tx = tn.tx(sender, "bank", "transfer", {"to": BOB, "amount": amount})
        tx = tn.tx(sender, "bank", "transfer", {"to": BOB, "amount": amount},
                   fee=tx.fee + extra)
        with contextlib.suppress(InvalidTransaction):  # balance no longer covers the fees
            tn.node.submit(tx)
    tn.mine()
    holders = [*NAMES, "bob", "miner"]
    assert sum(tn.balance(n) for n in holders) == tn.chain.query("bank", "supply", {})
    assert tn.chain.query("bank", "supply", {}) == 3 * 2_000 + 50
