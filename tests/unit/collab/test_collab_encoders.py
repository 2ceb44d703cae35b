"""Client-side encoders: vocabulary indices, MurmurHash3 (unsigned, seed 0), dense unit norm."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.base import AppError
from learnchain.apps.collab.encoders import (
    Encoder,
    encode_dense,
    encode_vocabulary,
    murmurhash3,
    tokenize,
)
from learnchain.apps.collab.models import NORM_SQUARED, NORM_TOLERANCE


def test_tokenize_and_vocabulary() -> None:
    assert tokenize("Great movie, GREAT acting!") == ["great", "movie", "great", "acting"]
    assert encode_vocabulary("great movie, great plot", ["movie", "great"]) == [1, 0, 1]


def test_murmurhash3_known_values() -> None:
    # MurmurHash3_x86_32 with seed 0: well-known test vectors
    assert murmurhash3("hello") == 0x248BFA47 == 613_153_351
    assert murmurhash3("The quick brown fox jumps over the lazy dog") == 776_992_547
    assert murmurhash3("") == 0
    enc = Encoder.from_plain({"type": "murmurhash3", "modulus": 1000})
    assert enc.encode("hello hello") == [351, 351]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300).filter(
    lambda v: sum(x * x for x in v) > 1e-6))
def test_dense_encoding_is_unit_norm(vector: list[float]) -> None:
    out = encode_dense(vector)
    assert all(isinstance(v, int) for v in out)
    assert abs(sum(v * v for v in out) - NORM_SQUARED) < NORM_TOLERANCE


def test_encoder_specs_round_trip_and_errors() -> None:
    spec = {"type": "vocabulary", "vocabulary": ["a", "b"]}
    assert Encoder.from_plain(spec).to_plain() == spec
    assert Encoder.from_plain({"type": "dense", "dims": 3}).encode([3.0, 4.0, 0.0]) == [
        600_000_000, 800_000_000, 0]
    with pytest.raises(AppError, match="unknown encoder"):
        Encoder.from_plain({"type": "bert"})
    with pytest.raises(AppError, match="zero vector"):
        encode_dense([0.0, 0.0])
