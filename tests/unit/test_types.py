"""Transactions and blocks decode only from their canonical bytes, with named errors."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.core.errors import EncodingError
from learnchain.core.merkle import EMPTY_ROOT, merkle_root
from learnchain.core.types import SEAL_SIZE, Block, BlockHeader, Transaction
from learnchain.testing import dev_key

args = st.dictionaries(st.text(max_size=8), st.integers() | st.binary(max_size=20), max_size=4)


@given(st.integers(0, 2**32), st.integers(0, 2**63), st.text(min_size=1, max_size=10),
       st.text(min_size=1, max_size=10), args)
def test_signed_transactions_round_trip(chain_id, nonce, app, method, a):
    key = dev_key("alice")
    tx = Transaction(chain_id, key.address, nonce, app, method, a).signed(key)
    again = Transaction.decode(tx.encoded)
    assert again == tx and again.hash == tx.hash and again.recover_signer() == key.address


def test_header_encoding_ends_with_the_seal():
    header = BlockHeader(1, 1, bytes(32), 5, bytes(20), EMPTY_ROOT, EMPTY_ROOT, EMPTY_ROOT, "pow",
                         {"difficulty": 3, "extra": 0}, b"\x01" * SEAL_SIZE)
    assert header.encoded.endswith(b"\x48" + b"\x01" * SEAL_SIZE)
    assert header.seal_prefix() + b"\x48"[:0] + b"\x01" * SEAL_SIZE == header.encoded


@given(st.binary(max_size=300))
def test_fuzzed_transaction_bytes_raise_only_encoding_errors(data):
    with contextlib.suppress(EncodingError):
        Transaction.decode(data)


@given(st.binary(max_size=300))
def test_fuzzed_block_bytes_raise_only_encoding_errors(data):
    with contextlib.suppress(EncodingError):
        Block.decode(data)


def test_malformed_fields_are_named():
    key = dev_key("alice")
    tx = Transaction(1, key.address, 0, "bank", "transfer", {}).signed(key)
    plain = tx.to_plain()
    plain[1] = b"short"
    from learnchain.core.encoding import encode

    with pytest.raises(EncodingError, match="sender must be 20 bytes"):
        Transaction.decode(encode(plain))
    with pytest.raises(EncodingError, match="limit"):
        Transaction.decode(b"\x00" * (200 * 1024))


def test_merkle_root_commits_to_order_and_count():
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a, b, c]) != merkle_root([b, a, c])
    assert merkle_root([a, b]) != merkle_root([a, b, b])
    assert merkle_root([]) == EMPTY_ROOT
    assert len({merkle_root([a] * n) for n in range(1, 9)}) == 8


def test_blocks_must_be_canonically_encoded():
    import cbor2

    from learnchain.testing import dev_genesis, make_node

    tn = make_node(dev_genesis(funded={"alice": 10}))
    tn.send("alice", "bank", "transfer", {"b": 1, "a": 2})
    (block,) = tn.mine()
    assert Block.decode(block.encoded) == block
    plain = block.to_plain()
    plain[1][0][6] = {"b": 1, "a": 2}  # args (field 6): same map, keys out of canonical order
    with pytest.raises(EncodingError, match="not the canonical encoding"):
        Block.decode(cbor2.dumps(plain))
