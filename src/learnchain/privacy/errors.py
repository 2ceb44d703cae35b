"""Privacy failures, each naming the part that failed so a caller can tell an attack apart."""

from __future__ import annotations

from learnchain.core.errors import LearnchainError


class PrivacyError(LearnchainError):
    """A record, key or fragment could not be used."""


class TamperedCiphertext(PrivacyError):
    """The record's payload failed its AES-GCM authentication tag (or its bound ids differ)."""


class TamperedCapsule(PrivacyError):
    """The record's key capsule is malformed or is not the one the chain recorded."""


class TamperedFragment(PrivacyError):
    """A key fragment or capsule fragment failed its Umbral correctness proof."""


class NotEnoughFragments(PrivacyError):
    """Fewer verified capsule fragments than the grant's threshold."""


class AccessDenied(PrivacyError):
    """The permissioning function P(Ps, Kc) said no; the reason says which rule."""
