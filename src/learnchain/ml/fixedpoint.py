"""Fixed-point encoding of the real numbers that cross the consensus boundary.

Consensus data (states, rewards, probabilities) must be bit-identical on every node, so it is
never stored as a float: a real ``x`` is stored as the integer ``round(x * SCALE)``.

Rounding rule (normative): ``to_fp`` rounds the *exact* binary value of the float times
``SCALE`` to the nearest integer, ties to even (what Python's ``round`` does on a ``Fraction``;
computed here with integer division on ``float.as_integer_ratio``, which is the same value at a
tenth of the cost -- the oracle converts every state component). There is
no intermediate float multiplication, so the result does not depend on FMA contraction or on
how the platform rounds ``x * 1e9``.

Decoding (``from_fp``) is ``v / SCALE`` with Python's correctly rounded int/int true
division. For ``|v| < FP_EXACT_LIMIT`` (about 4.19e15, i.e. reals up to 2^22) the round trip
``to_fp(from_fp(v)) == v`` is exact, because the spacing of float64 there is below 1/SCALE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

SCALE: int = 10**9
"""Fixed-point scale: 1.0 is stored as 10**9."""

PPB: int = 10**9
"""Parts-per-billion denominator for probabilities/rates (epsilon, gamma, learning rate)."""

FP_EXACT_LIMIT: int = 2**22 * SCALE
"""Below this magnitude fp -> float64 -> fp is the identity (see module docstring)."""

FP_MAX_ABS: int = 2**53
"""Largest magnitude accepted when decoding: beyond it int -> float64 is no longer exact."""

FpVector = tuple[int, ...]


class FixedPointError(ValueError):
    """A value cannot be represented in the consensus fixed-point encoding."""


def to_fp(x: float) -> int:
    """Encode a finite float as fixed point, rounding half to even on the exact value."""
    xf = float(x)
    if not math.isfinite(xf):
        raise FixedPointError(f"cannot encode non-finite value {xf!r}")
    num, den = xf.as_integer_ratio()
    return round_div(num * SCALE, den)


def round_div(num: int, den: int) -> int:
    """``num / den`` (``den > 0``) rounded to the nearest integer, ties to even, exactly."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


def from_fp(v: int) -> float:
    """Decode fixed point to the nearest float64 (correctly rounded int/int division)."""
    if not isinstance(v, int) or isinstance(v, bool):
        raise FixedPointError(f"fixed-point values are ints, got {type(v).__name__}")
    if abs(v) > FP_MAX_ABS:
        raise FixedPointError(f"fixed-point value {v} exceeds 2**53 and cannot decode exactly")
    return v / SCALE


def vec_to_fp(xs: Iterable[float]) -> FpVector:
    """Encode a vector of floats (e.g. a gym observation) component-wise."""
    return tuple(to_fp(float(x)) for x in xs)


def vec_from_fp(vs: Sequence[int]) -> np.ndarray:
    """Decode a fixed-point vector to float64 (exact per-component ``from_fp``)."""
    return np.array([from_fp(v) for v in vs], dtype=np.float64)


def batch_from_fp(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """Decode many fixed-point vectors into a float32 matrix for the Q-network.

    Path: int64 -> float64 (exact below 2**53) -> divide by 1e9 (IEEE, correctly rounded) ->
    float32 (correctly rounded). Every step is a single IEEE-754 operation, so the result is
    identical on all conforming platforms.
    """
    arr = np.asarray(rows, dtype=np.int64)
    if arr.size and int(np.abs(arr).max()) > FP_MAX_ABS:
        raise FixedPointError("fixed-point value exceeds 2**53 and cannot decode exactly")
    return (arr.astype(np.float64) / float(SCALE)).astype(np.float32)


def fp_mul(a: int, b: int) -> int:
    """Multiply two fixed-point numbers, rounding half to even (exact integer arithmetic)."""
    return round_div(a * b, SCALE)


def clip_fp(v: int, lo: int, hi: int) -> int:
    """Clamp a fixed-point value to ``[lo, hi]``."""
    if lo > hi:
        raise FixedPointError(f"empty clip interval [{lo}, {hi}]")
    return max(lo, min(hi, v))


def clip_reward_fp(r_fp: int, cap_fp: int) -> int:
    """``clip(R, 0, R_cap)`` for the coinbase formula ``base + kappa * clip(R, 0, R_cap)``.

    Negative rewards earn nothing (they are not burned), and the cap bounds what a proposer can
    gain from a lucky/adversarially chosen transition.
    """
    if cap_fp < 0:
        raise FixedPointError(f"reward cap must be non-negative, got {cap_fp}")
    return clip_fp(r_fp, 0, cap_fp)


def ppb_from_float(p: float) -> int:
    """Convert a rate/probability given as a float into parts per billion (for configs)."""
    return to_fp(p)
