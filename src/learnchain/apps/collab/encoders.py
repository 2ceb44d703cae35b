"""Client-side encoders: how raw text or vectors become the integer inputs a model takes.

The encoder is named in the model's record so every client turns the same sentence into the
same feature indices; the chain itself only ever sees integers. They reproduce the reference
client (0xDeCA10B's `model.js`) exactly, so a model trained through its UI and one trained
through learnchain receive the same integers:

* text is lower-cased and split on runs of JavaScript whitespace (`split(/\\s+/)`), nothing
  else: punctuation stays part of a token ("great!" is not "great"), and leading or trailing
  whitespace yields an empty token, as there;
* `vocabulary` maps a token to its index, or to the out-of-vocabulary index 1337;
* `murmurhash3` is the `murmurhash-js` function called through `tokens.map(murmur3)`, so the
  token's position is passed as the seed, and it hashes the low byte of each UTF-16 code unit
  (identical to MurmurHash3 x86-32 over UTF-8 for ASCII tokens);
* `dense` multiplies by 10^9 and rounds as JavaScript's `Math.round` (ties toward +∞), takes
  the contract's integer norm (floor square root of the squared sum) and divides each value
  ·10^9 by it truncating toward zero (bn.js `div`), after selecting `feature_indices`;
* `mult1e9round` is the reference's "Multiply by 1E9, then round" (no normalisation).

Floats exist here and nowhere else: every encoder returns integers before anything is signed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mmh3

from learnchain.apps.base import AppError
from learnchain.apps.collab.models import NORM_SQUARED, NORM_TOLERANCE, SCALE, tdiv

ENCODER_TYPES = ("vocabulary", "murmurhash3", "dense", "mult1e9round", "indices")
OOV_INDEX = 1337
"""The reference client's index for a word missing from the vocabulary."""

REFERENCE_NAMES = {
    # the reference stores these strings with a model; compared lower-cased, as there
    "none": "indices",
    "multiply by 1e9, then round": "mult1e9round",
    "murmurhash3": "murmurhash3",
    "imdb vocab": "vocabulary",
    "mobilenetv2": "dense",
    "universal sentence encoder": "dense",
}

# JavaScript's \s: WhiteSpace and LineTerminator code points (ECMA-262), which differ from
# Python's str.isspace (no U+001C-U+001F or U+0085 here; U+FEFF is included).
_JS_SPACE = re.compile(
    "[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")


def tokenize(text: str) -> list[str]:
    """The reference's `text.toLocaleLowerCase('en').split(/\\s+/)`."""
    if not isinstance(text, str):
        raise AppError("text to encode must be a string")
    return _JS_SPACE.split(text.lower())


def js_round(value: float) -> int:
    """JavaScript's Math.round: the nearest integer, ties toward +∞ (exact for doubles)."""
    if not math.isfinite(value):
        raise AppError("cannot encode a value that is not finite")
    low = math.floor(value)
    return low + 1 if value - low >= 0.5 else low


@dataclass
class Encoder:
    """A named, plain-data encoder spec (stored with the model)."""

    type: str = "indices"
    vocabulary: list[str] = field(default_factory=list)
    modulus: int = 0
    dims: int = 0
    feature_indices: list[int] = field(default_factory=list)

    @classmethod
    def from_plain(cls, plain: dict[str, Any] | None) -> Encoder:
        plain = dict(plain or {"type": "indices"})
        kind = plain.get("type", "indices")
        if isinstance(kind, str) and kind.lower() in REFERENCE_NAMES and kind not in \
                ENCODER_TYPES:
            kind = REFERENCE_NAMES[kind.lower()]
        if kind not in ENCODER_TYPES:
            raise AppError(f"unknown encoder {kind!r}; encoders: {', '.join(ENCODER_TYPES)} "
                           f"(or the reference's names: {', '.join(REFERENCE_NAMES)})")
        vocabulary = vocabulary_list(plain.get("vocabulary", []))
        modulus, dims = plain.get("modulus", 0), plain.get("dims", 0)
        if not isinstance(modulus, int) or modulus < 0 or not isinstance(dims, int) or dims < 0:
            raise AppError("encoder 'modulus' and 'dims' must be non-negative integers")
        indices = plain.get("feature_indices", [])
        if not isinstance(indices, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**32
                for i in indices):
            raise AppError("encoder 'feature_indices' must be a list of uint32 indices")
        return cls(kind, vocabulary, modulus, dims, list(indices))

    def to_plain(self) -> dict[str, Any]:
        plain: dict[str, Any] = {"type": self.type}
        if self.type == "vocabulary":
            plain["vocabulary"] = self.vocabulary
        if self.modulus:
            plain["modulus"] = self.modulus
        if self.dims:
            plain["dims"] = self.dims
        if self.feature_indices:
            plain["feature_indices"] = self.feature_indices
        return plain

    def encode(self, raw: Any) -> list[int]:
        """Text for the sparse encoders, a vector for `dense`, indices for `indices`."""
        if self.type == "vocabulary":
            return encode_vocabulary(raw, self.vocabulary)
        if self.type == "murmurhash3":
            return encode_murmurhash3(raw, self.modulus)
        if self.type == "dense":
            return encode_dense(raw, self.feature_indices or None)
        if self.type == "mult1e9round":
            return [js_round(float(v) * SCALE) for v in _select(raw, self.feature_indices)]
        return [int(v) for v in raw]


def vocabulary_list(vocabulary: Any) -> list[str]:
    """A vocabulary as a word list (position = index); the reference's {word: index} map
    is accepted when its indices are exactly 0..n−1."""
    if isinstance(vocabulary, dict):
        words = sorted(vocabulary, key=lambda w: vocabulary[w])
        if not all(isinstance(vocabulary[w], int) for w in words) or \
                [vocabulary[w] for w in words] != list(range(len(words))):
            raise AppError("a vocabulary map must give the indices 0..n-1, each once")
        vocabulary = words
    if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
        raise AppError("encoder 'vocabulary' must be a list of words or a {word: index} map")
    return list(vocabulary)


def encode_vocabulary(text: str, vocabulary: Sequence[str]) -> list[int]:
    """The index of every token in order; unknown tokens map to OOV_INDEX (1337)."""
    index: dict[str, int] = {}
    for i, word in enumerate(vocabulary):
        index.setdefault(word, i)
    return [index.get(t, OOV_INDEX) for t in tokenize(text)]


def murmurhash3(token: str, seed: int = 0) -> int:
    """murmurhash-js's `murmur3(token, seed)`: MurmurHash3 x86-32 of the low byte of each
    UTF-16 code unit, unsigned."""
    units = token.encode("utf-16-le", "surrogatepass")
    return mmh3.hash(units[0::2], seed & 0xFFFFFFFF, signed=False)


def encode_murmurhash3(text: str, modulus: int = 0) -> list[int]:
    """Hash of each token with its position as the seed (the reference's `map(murmur3)`);
    `modulus`, a learnchain extension, folds the hashes into [0, modulus)."""
    hashes = [murmurhash3(t, i) for i, t in enumerate(tokenize(text))]
    return [h % modulus for h in hashes] if modulus else hashes


def _select(vector: Sequence[float], feature_indices: Sequence[int] | None) -> list[float]:
    if isinstance(vector, str | bytes) or not isinstance(vector, Sequence):
        raise AppError("a dense input must be a list of numbers")
    if not feature_indices:
        return [float(v) for v in vector]
    if max(feature_indices) >= len(vector):
        raise AppError(f"a feature index is outside the {len(vector)}-value input")
    return [float(vector[i]) for i in feature_indices]


def encode_dense(vector: Sequence[float],
                 feature_indices: Sequence[int] | None = None) -> list[int]:
    """The reference client's normalisation, in integers once the values are scaled.

    Select `feature_indices`, v_i = Math.round(x_i·10^9), norm = ⌊√Σv_i²⌋ (the contracts'
    `norm`), result_i = trunc(v_i·10^9 / norm). The result is then checked against the
    contracts' unit-norm rule so a degenerate vector fails here, not on-chain.
    """
    converted = [js_round(x * SCALE) for x in _select(vector, feature_indices)]
    norm = math.isqrt(sum(v * v for v in converted))
    if norm == 0:
        raise AppError("cannot normalise the zero vector")
    out = [tdiv(v * SCALE, norm) for v in converted]
    squared = sum(v * v for v in out)
    if not NORM_SQUARED - NORM_TOLERANCE < squared < NORM_SQUARED + NORM_TOLERANCE:
        raise AppError("The provided data does not have a norm of 1.")
    return out
