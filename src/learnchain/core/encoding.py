"""Canonical bytes for everything that is hashed or signed.

Deterministic CBOR (RFC 8949 §4.2) over a closed set of plain types: int, bytes, str, bool,
None, lists and maps with str keys. Floats are refused because their rounding differs between
platforms and would let two honest nodes disagree. Decoding is strict: the input must be exactly
the canonical encoding of what it decodes to, so one value has one byte string and one hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2

from learnchain.core.errors import EncodingError

MAX_ENCODED_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 32

Plain = int | bytes | str | bool | None | list["Plain"] | dict[str, "Plain"]


_SCALARS = frozenset({int, bytes, str, bool, type(None)})


def _check(value: Any, depth: int = 0) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if depth > MAX_DEPTH:
        raise EncodingError(f"value nests deeper than {MAX_DEPTH} levels")
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(f"map key {key!r} is not a str; only str keys are allowed")
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    if isinstance(value, float):
        raise EncodingError(
            f"float {value!r} cannot be encoded: consensus data holds no floats; "
            "use a fixed-point integer (e.g. value * 10**9) instead"
        )
    raise EncodingError(
        f"type {kind.__name__} cannot be encoded; use int, bytes, str, bool, None, "
        "list or dict with str keys"
    )


def encode(value: Any, *, trusted: bool = False) -> bytes:
    """Canonical bytes of a plain value (tuples encode as lists).

    trusted=True skips the type walk for values this package built itself from already-checked
    parts (journals, write sets); anything that came from an app or a peer is always checked.
    """
    if not trusted and type(value) not in _SCALARS:  # a scalar needs no walk (hot: state ints)
        _check(value)
    data = cbor2.dumps(value, canonical=True)
    if len(data) > MAX_ENCODED_SIZE:
        raise EncodingError(f"encoding is {len(data)} bytes; the limit is {MAX_ENCODED_SIZE}")
    return data


def decode(data: bytes, max_size: int = MAX_ENCODED_SIZE, *, strict: bool = True) -> Any:
    """The plain value of canonical bytes; anything else raises EncodingError.

    strict=False skips the canonical-form comparison (still plain types only) for framing
    whose exact bytes are authenticated some other way and never hashed as a value.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError(f"expected bytes to decode, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise EncodingError(f"encoding is {len(data)} bytes; the limit is {max_size}")
    if not data:
        raise EncodingError("empty input is not a canonical encoding")
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types on malformed input
        raise EncodingError(f"malformed CBOR: {exc}") from None
    if not strict:
        try:
            _check(value)
        except EncodingError as exc:
            raise EncodingError(f"decoded value is not plain: {exc}") from None
        return value
    try:
        canonical = encode(value)
    except EncodingError as exc:
        raise EncodingError(f"decoded value is not plain: {exc}") from None
    except RecursionError:
        raise EncodingError("value nests too deeply") from None
    if canonical != data:
        raise EncodingError("bytes are valid CBOR but not the canonical encoding of their value")
    return value


def array_header(length: int) -> bytes:
    """The CBOR head of an array of `length` items, for joining pre-encoded items."""
    if length < 24:
        return bytes([0x80 + length])
    for marker, size in ((0x98, 1), (0x99, 2), (0x9A, 4), (0x9B, 8)):
        if length < 1 << (8 * size):
            return bytes([marker]) + length.to_bytes(size, "big")
    raise EncodingError("array too long")


def encode_list_of_encoded(items: list[bytes]) -> bytes:
    return array_header(len(items)) + b"".join(items)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_value(value: Any) -> bytes:
    """SHA-256 of the canonical encoding: the one way plain values are identified."""
    return hashlib.sha256(encode(value)).digest()
