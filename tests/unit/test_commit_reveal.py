"""Commit-reveal: binding to value, salt, address and context; a fixed vector for other clients."""

import hashlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.commit_reveal import (
    CommitRevealError,
    commitment,
    validate_commitment,
    validate_opening,
)

ALICE = bytes.fromhex("11" * 20)
BOB = bytes.fromhex("22" * 20)
SALT = bytes(range(16))


def test_vector_is_sha256_of_canonical_cbor_list():
    expected = hashlib.sha256(cbor2.dumps(
        ["learnchain-commit-v1", b"result", SALT, ALICE, b"task-1"], canonical=True)).digest()
    assert commitment(b"result", SALT, ALICE, b"task-1") == expected


@given(st.binary(max_size=64), st.binary(min_size=16, max_size=64), st.binary(max_size=16))
def test_opening_succeeds_only_for_the_committed_tuple(value, salt, context):
    c = commitment(value, salt, ALICE, context)
    validate_opening(c, value, salt, ALICE, context)
    for args in [(value + b"x", salt, ALICE, context), (value, salt, BOB, context),
                 (value, salt, ALICE, context + b"x")]:
        with pytest.raises(CommitRevealError, match="does not open"):
            validate_opening(c, *args)


def test_short_salt_and_bad_commitment_are_refused():
    with pytest.raises(CommitRevealError, match="salt"):
        commitment(b"v", b"short", ALICE, b"")
    with pytest.raises(CommitRevealError, match="32 bytes"):
        validate_commitment(b"\x00" * 31)
    with pytest.raises(CommitRevealError, match="address"):
        commitment(b"v", SALT, b"\x01", b"")
