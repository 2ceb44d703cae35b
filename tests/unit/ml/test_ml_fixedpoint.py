"""Fixed-point encoding: exact rounding rule and round-trip guarantees."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.ml.fixedpoint import (
    FP_EXACT_LIMIT,
    SCALE,
    FixedPointError,
    batch_from_fp,
    clip_reward_fp,
    fp_mul,
    from_fp,
    round_div,
    to_fp,
    vec_from_fp,
    vec_to_fp,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
exact_ints = st.integers(min_value=-FP_EXACT_LIMIT + 1, max_value=FP_EXACT_LIMIT - 1)


def test_ties_round_half_to_even() -> None:
    # 1/1024 * 1e9 = 976562.5 exactly (dyadic tie) -> even neighbour
    assert to_fp(1 / 1024) == 976562
    assert to_fp(3 / 1024) == 2929688
    assert to_fp(-1 / 1024) == -976562


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_fp_is_the_exact_fraction_rounded_half_even(x: float) -> None:
    # the normative rule, stated with Fraction; to_fp computes it with integer division
    assert to_fp(x) == round(Fraction(x) * SCALE)


@given(st.integers(), st.integers(min_value=1, max_value=10**30))
def test_round_div_matches_fraction_rounding(num: int, den: int) -> None:
    assert round_div(num, den) == round(Fraction(num, den))


@given(st.integers(-2**62, 2**62), st.integers(-2**62, 2**62))
def test_fp_mul_rounds_half_even(a: int, b: int) -> None:
    assert fp_mul(a, b) == round(Fraction(a * b, SCALE))


def test_simple_values() -> None:
    assert to_fp(1.0) == SCALE
    assert to_fp(-2.5) == -5 * SCALE // 2
    assert from_fp(1_500_000_000) == 1.5


def test_non_finite_rejected() -> None:
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(FixedPointError):
            to_fp(bad)
    with pytest.raises(FixedPointError):
        from_fp(2**60)
    with pytest.raises(FixedPointError):
        from_fp(1.0)  # type: ignore[arg-type]


@given(finite)
def test_float_roundtrip_error_at_most_half_unit(x: float) -> None:
    v = to_fp(x)
    assert abs(v - x * SCALE) <= 0.5 + abs(x) * SCALE * 2**-52
    assert abs(from_fp(v) - x) <= 0.5 / SCALE + 4 * math.ulp(x) + math.ulp(1e-9)


@given(exact_ints)
def test_fp_roundtrip_exact_below_limit(v: int) -> None:
    assert to_fp(from_fp(v)) == v


@given(st.lists(exact_ints, min_size=1, max_size=8))
def test_vector_helpers_agree(vs: list[int]) -> None:
    assert vec_to_fp(vec_from_fp(vs)) == tuple(vs)
    f32 = batch_from_fp([vs])[0]
    expected = np.array([np.float32(np.float64(v) / 1e9) for v in vs], dtype=np.float32)
    assert f32.dtype == np.float32
    assert np.array_equal(f32, expected)


@given(st.integers(-10 * SCALE, 10 * SCALE), st.integers(0, 5 * SCALE))
def test_clip_reward(r: int, cap: int) -> None:
    c = clip_reward_fp(r, cap)
    assert 0 <= c <= cap
    assert c == r or c in (0, cap)


def test_clip_reward_negative_cap_rejected() -> None:
    with pytest.raises(FixedPointError):
        clip_reward_fp(5, -1)
