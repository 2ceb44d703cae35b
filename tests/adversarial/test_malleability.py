"""Malleable signatures: the high-s twin of a signed transaction or block is refused.

An ECDSA signature (r, s) and its twin (r, n - s) with the recovery id flipped both recover the
same key, so without a low-s rule anyone can re-sign a transaction they saw into a second
transaction with another hash (Ethereum's EIP-2 fixed this by accepting only s <= n/2).
"""

from dataclasses import replace

import pytest

from learnchain.core import sigworker
from learnchain.core.crypto import SECP256K1_N, recover_address
from learnchain.core.errors import EncodingError, InvalidBlock, InvalidTransaction
from learnchain.core.types import Block, Transaction
from learnchain.testing import dev_genesis, dev_key, make_node

ALICE, BOB = dev_key("alice"), dev_key("bob")


def high_s_twin(signature: bytes) -> bytes:
    """(r, n - s, v ^ 1): a different 65-byte string that recovers the same key."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v ^ 1])


def signed_transfer(nonce: int = 0) -> Transaction:
    return Transaction(1337, ALICE.address, nonce, "bank", "transfer",
                       {"to": BOB.address, "amount": 1}).signed(ALICE)


def test_the_twin_is_a_real_signature_of_the_same_key():
    tx = signed_transfer()
    twin = high_s_twin(tx.signature)
    import coincurve

    public = coincurve.PublicKey.from_signature_and_message(twin, tx.signing_digest, hasher=None)
    assert public.format() == coincurve.PrivateKey(ALICE.secret).public_key.format()


def test_high_s_twin_of_a_transaction_is_refused_at_decode():
    tx = signed_transfer()
    twin = replace(tx, signature=high_s_twin(tx.signature))
    assert twin.hash != tx.hash
    with pytest.raises(EncodingError, match="high-s"):
        Transaction.decode(twin.encoded)
    with pytest.raises(InvalidTransaction, match="high-s"):
        recover_address(tx.signing_digest, twin.signature)


def test_high_s_twin_is_refused_by_the_mempool_and_the_signature_workers():
    tn = make_node(dev_genesis(funded={"alice": 100}))
    tx = signed_transfer()
    twin = replace(tx, signature=high_s_twin(tx.signature))
    with pytest.raises(InvalidTransaction, match="high-s"):
        tn.node.submit(twin)
    assert sigworker.recover_encoded_batch([tx.encoded, twin.encoded]) == [ALICE.address, None]
    assert tn.node.submit(tx)


def test_a_block_carrying_a_high_s_twin_is_refused():
    tn = make_node(dev_genesis(funded={"alice": 100}))
    tn.send("alice", "bank", "transfer", {"to": BOB.address, "amount": 1})
    (block,) = tn.mine()
    tx = block.transactions[0]
    twin = replace(tx, signature=high_s_twin(tx.signature))
    forged = Block(replace(block.header, tx_root=Block(block.header, (twin,)).computed_tx_root()),
                   (twin,))
    with pytest.raises(EncodingError, match="high-s"):
        Block.decode(forged.encoded)


def test_high_s_block_signature_is_refused():
    tn = make_node(dev_genesis())
    (block,) = tn.mine()
    twin = replace(block, signature=high_s_twin(block.signature))
    with pytest.raises(EncodingError, match="high-s"):
        Block.decode(twin.encoded)
    with pytest.raises(InvalidBlock, match="high-s"):
        twin.verify_signature()
