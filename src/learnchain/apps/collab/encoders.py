"""Client-side encoders: how raw text or vectors become the integer inputs a model takes.

The encoder is named in the model's record so every client turns the same sentence into the
same feature indices; the chain itself only ever sees integers. Floats exist here (embeddings)
and nowhere else: `dense` rounds to integers before anything is signed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mmh3

from learnchain.apps.base import AppError
from learnchain.apps.collab.models import NORM_SQUARED, NORM_TOLERANCE, SCALE

ENCODER_TYPES = ("vocabulary", "murmurhash3", "dense", "indices")
_TOKEN = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; the same rule on every client keeps indices comparable."""
    return _TOKEN.findall(text.lower())


@dataclass
class Encoder:
    """A named, plain-data encoder spec (stored with the model)."""

    type: str = "indices"
    vocabulary: list[str] = field(default_factory=list)
    modulus: int = 0
    dims: int = 0

    @classmethod
    def from_plain(cls, plain: dict[str, Any] | None) -> Encoder:
        plain = dict(plain or {"type": "indices"})
        kind = plain.get("type", "indices")
        if kind not in ENCODER_TYPES:
            raise AppError(f"unknown encoder {kind!r}; encoders: {', '.join(ENCODER_TYPES)}")
        vocabulary = plain.get("vocabulary", [])
        if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
            raise AppError("encoder 'vocabulary' must be a list of words")
        modulus, dims = plain.get("modulus", 0), plain.get("dims", 0)
        if not isinstance(modulus, int) or modulus < 0 or not isinstance(dims, int) or dims < 0:
            raise AppError("encoder 'modulus' and 'dims' must be non-negative integers")
        return cls(kind, list(vocabulary), modulus, dims)

    def to_plain(self) -> dict[str, Any]:
        plain: dict[str, Any] = {"type": self.type}
        if self.type == "vocabulary":
            plain["vocabulary"] = self.vocabulary
        if self.modulus:
            plain["modulus"] = self.modulus
        if self.dims:
            plain["dims"] = self.dims
        return plain

    def encode(self, raw: Any) -> list[int]:
        """Text for the sparse encoders, a vector for `dense`, indices for `indices`."""
        if self.type == "vocabulary":
            return encode_vocabulary(raw, self.vocabulary)
        if self.type == "murmurhash3":
            return encode_murmurhash3(raw, self.modulus)
        if self.type == "dense":
            return encode_dense(raw)
        return [int(v) for v in raw]


def encode_vocabulary(text: str, vocabulary: Sequence[str]) -> list[int]:
    """Indices of the known words of `text` in order (unknown words are skipped)."""
    index = {word: i for i, word in enumerate(vocabulary)}
    return [index[t] for t in tokenize(text) if t in index]


def murmurhash3(token: str) -> int:
    """MurmurHash3 x86 32-bit of the UTF-8 token, seed 0, as an unsigned integer."""
    return mmh3.hash(token, 0, signed=False)


def encode_murmurhash3(text: str, modulus: int = 0) -> list[int]:
    hashes = [murmurhash3(t) for t in tokenize(text)]
    return [h % modulus for h in hashes] if modulus else hashes


def encode_dense(vector: Sequence[float]) -> list[int]:
    """Normalise to unit L2 norm and scale by 10^9, rounding each value to the nearest int.

    Rounding moves the squared sum by about 10^9·√d, far inside the ±10^11 the contracts
    accept; the result is checked anyway so a degenerate vector fails here, not on-chain.
    """
    norm = math.sqrt(sum(float(v) * float(v) for v in vector))
    if norm == 0.0:
        raise AppError("cannot normalise the zero vector")
    out = [round(float(v) / norm * SCALE) for v in vector]
    squared = sum(v * v for v in out)
    if not NORM_SQUARED - NORM_TOLERANCE < squared < NORM_SQUARED + NORM_TOLERANCE:
        raise AppError("The provided data does not have a norm of 1.")
    return out
