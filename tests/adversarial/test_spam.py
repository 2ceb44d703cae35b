"""Spam is not free: keys without funds cannot occupy the mempool, fees are charged even for
failing calls, and a full pool gives way to a higher fee rate.

The finding this pins: 79 zero-balance keys filled the 20,000-slot mempool in 30 s and honest
transfers were then refused. Here the same attack runs against a smaller pool (the mechanism
does not depend on the size).
"""

import contextlib

import pytest

from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import InvalidTransaction
from learnchain.core.mempool import Mempool
from learnchain.core.types import Transaction
from learnchain.testing import dev_genesis, dev_key, make_node

BOB = dev_key("bob").address
CAPACITY, PER_SENDER = 64, 16


def spam_node(**genesis):
    tn = make_node(dev_genesis(funded={"alice": 10**6, "whale": 10**6}, **genesis))
    tn.node.mempool = Mempool(tn.chain, capacity=CAPACITY, per_sender=PER_SENDER)
    return tn


def spam_from_zero_balance_keys(tn, keys: int) -> int:
    """Each fresh key sends PER_SENDER transfers; returns how many the mempool admitted."""
    admitted = 0
    rate = tn.chain.consensus_params().params.get("fee_per_byte", 0)
    for k in range(keys):
        key = PrivateKey.from_seed(f"spammer{k}".encode())
        for nonce in range(PER_SENDER):
            tx = Transaction(1337, key.address, nonce, "bank", "transfer",
                             {"to": BOB, "amount": 0}).with_minimum_fee(rate).signed(key)
            with contextlib.suppress(InvalidTransaction):
                admitted += tn.node.submit(tx)
    return admitted


def test_zero_balance_keys_cannot_fill_the_mempool_and_honest_transfers_go_through():
    tn = spam_node(fee_per_byte=1)
    assert spam_from_zero_balance_keys(tn, CAPACITY // PER_SENDER + 1) == 0
    honest = tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    assert honest.fee >= honest.size
    (block,) = tn.mine()
    assert block.transactions == (honest,)
    assert tn.balance("bob") == 5


def test_without_a_fee_the_attack_still_works_as_reported():
    """The free configuration (fee_per_byte 0, the default of a genesis that omits it) is the
    one the finding describes: this documents why `learnchain init` sets a fee."""
    tn = spam_node()
    assert spam_from_zero_balance_keys(tn, CAPACITY // PER_SENDER) == CAPACITY
    with pytest.raises(InvalidTransaction, match="mempool is full"):
        tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})


def test_a_zero_balance_key_is_refused_with_the_reason():
    tn = spam_node(fee_per_byte=1)
    with pytest.raises(InvalidTransaction, match="has balance 0, less than the fees"):
        tn.send("mallory", "bank", "transfer", {"to": BOB, "amount": 0})


def test_a_funded_spammer_pays_for_every_slot_and_is_evicted_by_a_higher_fee_rate():
    spammers = [f"spammer{k}" for k in range(CAPACITY // PER_SENDER)]
    tn = make_node(dev_genesis(funded={"alice": 10**6, **dict.fromkeys(spammers, 10**6)},
                               fee_per_byte=1))
    tn.node.mempool = Mempool(tn.chain, capacity=CAPACITY, per_sender=PER_SENDER)
    for name in spammers:
        for _ in range(PER_SENDER):
            tn.send(name, "bank", "transfer", {"to": BOB, "amount": 0})
    assert len(tn.node.mempool) == CAPACITY
    with pytest.raises(InvalidTransaction, match="does not beat the lowest pending"):
        tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    cheapest = tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 5})
    generous = tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 5},
                     fee=2 * cheapest.fee)
    assert tn.node.submit(generous)
    assert len(tn.node.mempool) == CAPACITY
    tn.node.max_block_txs = 8
    block = tn.mine()[0]
    assert block.transactions[0] == generous  # the highest fee rate is selected first
    for name in spammers:  # every included spam transfer was paid for
        paid = sum(tx.fee for tx in block.transactions if tx.sender == dev_key(name).address)
        assert tn.balance(name) == 10**6 - paid


def test_the_fee_is_charged_even_when_the_call_fails_and_goes_to_the_proposer():
    tn = make_node(dev_genesis(funded={"alice": 10_000}, fee_per_byte=2))
    failing = tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 10**9})
    (block,) = tn.mine()
    (receipt,) = tn.chain.receipts(block.hash)
    assert not receipt.success and "insufficient funds" in receipt.error
    assert tn.balance("alice") == 10_000 - failing.fee
    assert tn.balance("miner") == 50 + failing.fee
    assert tn.chain.query("bank", "supply", {}) == 10_050  # fees move money, never mint it
