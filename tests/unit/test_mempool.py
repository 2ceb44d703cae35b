"""The mempool admits only transactions that could be included, with the reason for refusals."""

from dataclasses import replace

import pytest

from learnchain.core.errors import InvalidTransaction
from learnchain.core.types import Transaction
from learnchain.testing import dev_genesis, dev_key, make_node

BOB = dev_key("bob").address


@pytest.fixture
def tn():
    return make_node(dev_genesis(funded={"alice": 1000}))


def test_pending_nonces_chain_and_are_selected_in_order(tn):
    txs = [tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 1}) for _ in range(3)]
    assert [t.nonce for t in txs] == [0, 1, 2]
    assert tn.node.mempool.select(10) == txs
    tn.mine()
    assert len(tn.node.mempool) == 0 and tn.balance("bob") == 3


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda tx: replace(tx, chain_id=9), "wrong chain id 9"),
        (lambda tx: replace(tx, app="casino"), "unknown app 'casino'"),
        (lambda tx: replace(tx, method="steal"), "no method 'steal'"),
    ],
)
def test_wrong_fields_are_refused(tn, tamper, message):
    key = dev_key("alice")
    base = Transaction(1337, key.address, 0, "bank", "transfer", {"to": BOB, "amount": 1})
    with pytest.raises(InvalidTransaction, match=message):
        tn.node.submit(tamper(base).signed(key))


def test_signature_from_another_key_is_refused(tn):
    tx = tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1})
    forged = replace(tx, signature=dev_key("mallory").sign(tx.signing_digest))
    with pytest.raises(InvalidTransaction, match="not made by the sender's key"):
        tn.node.submit(forged)
    with pytest.raises(InvalidTransaction, match=r"does not recover|65 bytes"):
        tn.node.submit(replace(tx, signature=b"\x00" * 65))


def test_replayed_and_far_future_nonces_are_refused(tn):
    tx = tn.send("alice", "bank", "transfer", {"to": BOB, "amount": 1})
    tn.mine()
    with pytest.raises(InvalidTransaction, match="replayed"):
        tn.node.submit(tx)
    with pytest.raises(InvalidTransaction, match="too far ahead"):
        tn.node.submit(tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1}, nonce=10**6))


def test_two_different_transactions_with_one_nonce_are_not_both_pending(tn):
    tn.node.submit(tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 1}, nonce=0))
    with pytest.raises(InvalidTransaction, match="already pending"):
        tn.node.submit(tn.tx("alice", "bank", "transfer", {"to": BOB, "amount": 2}, nonce=0))
