"""Canonical encoding: one value, one byte string; anything else is a clear EncodingError."""

import contextlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.core.encoding import decode, encode, hash_value
from learnchain.core.errors import EncodingError

plain = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1)
    | st.binary(max_size=64) | st.text(max_size=32),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)


@given(plain)
def test_decode_inverts_encode(value):
    assert decode(encode(value)) == value


@given(plain)
def test_encoding_is_byte_stable(value):
    assert encode(value) == encode(decode(encode(value)))
    assert hash_value(value) == hash_value(decode(encode(value)))


@given(st.dictionaries(st.text(max_size=8), st.integers(), min_size=2, max_size=8))
def test_map_key_order_does_not_change_bytes(mapping):
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert encode(mapping) == encode(reversed_mapping)


def test_known_bytes():
    assert encode({"b": 1, "a": [True, None, b"\x01"]}).hex() == "a2616183f5f64101616201"


@pytest.mark.parametrize("value", [1.5, {"x": 0.0}, [1, [2.0]]])
def test_floats_are_refused_with_a_fix(value):
    with pytest.raises(EncodingError, match="fixed-point"):
        encode(value)


@pytest.mark.parametrize("value", [{1: 2}, {b"k": 1}, {1, 2}, object()])
def test_non_plain_values_are_refused(value):
    with pytest.raises(EncodingError):
        encode(value)


def test_non_canonical_bytes_are_refused():
    # 1 encoded in two bytes (0x18 0x01) is valid CBOR but not the shortest form
    with pytest.raises(EncodingError, match="not the canonical"):
        decode(bytes([0x18, 0x01]))
    unsorted = cbor2.dumps({"b": 1, "a": 2})
    with pytest.raises(EncodingError, match="not the canonical"):
        decode(unsorted)


def test_oversized_input_is_refused():
    with pytest.raises(EncodingError, match="limit"):
        decode(encode(b"x" * 100), max_size=50)


def test_floats_inside_bytes_input_are_refused():
    with pytest.raises(EncodingError, match="not plain"):
        decode(cbor2.dumps([1.5]))


@given(st.binary(max_size=200))
def test_fuzzed_bytes_raise_only_encoding_errors(data):
    with contextlib.suppress(EncodingError):
        decode(data)
