"""Commit-then-reveal, shared by every app and engine that seals work before showing it.

A commitment binds the committed bytes to a secret salt, to the committer's address and to a
context (a task id, a height): a copycat who sees a revealed value cannot commit it as their own,
because the address is inside the hash, and a commitment for one task cannot be replayed in
another. The bytes hashed are canonical CBOR of a domain-tagged list, so two implementations
agree on a commitment without sharing code (see the unit test's vector).
"""

from __future__ import annotations

from learnchain.apps.base import AppError
from learnchain.core.crypto import ADDRESS_SIZE
from learnchain.core.encoding import encode, sha256

COMMITMENT_SIZE = 32
MIN_SALT_SIZE = 16
MAX_SALT_SIZE = 64
_DOMAIN = "learnchain-commit-v1"


class CommitRevealError(AppError):
    """A commitment or its opening is malformed or does not match."""


def commitment(value: bytes, salt: bytes, address: bytes, context: bytes) -> bytes:
    """H(domain ‖ value ‖ salt ‖ address ‖ context) as canonical CBOR, then SHA-256."""
    validate_salt(salt)
    if len(address) != ADDRESS_SIZE:
        raise CommitRevealError(f"address must be {ADDRESS_SIZE} bytes, got {len(address)}")
    return sha256(encode([_DOMAIN, value, salt, address, context]))


def validate_salt(salt: bytes) -> None:
    if not isinstance(salt, bytes) or not MIN_SALT_SIZE <= len(salt) <= MAX_SALT_SIZE:
        raise CommitRevealError(
            f"salt must be {MIN_SALT_SIZE}-{MAX_SALT_SIZE} random bytes so the value cannot be "
            "guessed from its commitment")


def validate_commitment(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != COMMITMENT_SIZE:
        raise CommitRevealError(f"a commitment is {COMMITMENT_SIZE} bytes")
    return value


def validate_opening(committed: bytes, value: bytes, salt: bytes, address: bytes,
                     context: bytes) -> None:
    """Raise unless (value, salt) opens `committed` for this address and context."""
    if commitment(value, salt, address, context) != committed:
        raise CommitRevealError(
            "the reveal does not open the commitment (wrong value or salt, or committed by "
            "another address or for another task)")
