"""Umbral keys of an identity, derived from its account key.

One secret (the account key that signs transactions) yields the Umbral encryption key and the
Umbral signing key (which signs key fragments) through HKDF-SHA256 and Umbral's own key
factory, so an identity backs up one thing and its chain address and its medical keys can
never drift apart. Losing it is what `privacy.recovery` is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import umbral_pre as umbral
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from learnchain.core.crypto import PrivateKey
from learnchain.privacy.errors import PrivacyError

PUBLIC_KEY_SIZE = 33


def public_key_from_bytes(data: bytes, what: str = "public key") -> umbral.PublicKey:
    """The point behind 33 compressed bytes (decompressing costs a square root, so the last
    few thousand keys seen are kept: grants, owners and proxies name the same keys often)."""
    data = bytes(data)
    known = _public_keys.get(data)
    if known is not None:
        return known
    try:
        key = umbral.PublicKey.from_compressed_bytes(data)
    except Exception:
        raise PrivacyError(f"{what} is not a compressed secp256k1 point "
                           f"({len(data)} bytes)") from None
    if len(_public_keys) >= 4096:
        _public_keys.clear()
    _public_keys[data] = key
    return key


_public_keys: dict[bytes, umbral.PublicKey] = {}


def public_key_bytes(pk: umbral.PublicKey) -> bytes:
    return bytes(pk.to_compressed_bytes())


@dataclass(frozen=True)
class UmbralKeys:
    """An identity's Umbral encryption key pair and kfrag-signing key pair."""

    secret: umbral.SecretKey
    signing: umbral.SecretKey

    @classmethod
    def from_account(cls, key: PrivateKey) -> UmbralKeys:
        seed = HKDF(algorithm=hashes.SHA256(), length=umbral.SecretKeyFactory.seed_size(),
                    salt=b"learnchain/wallet", info=b"umbral-keys/v1").derive(key.secret)
        factory = umbral.SecretKeyFactory.from_secure_randomness(seed)
        return cls(factory.make_key(b"encrypt"), factory.make_key(b"sign-kfrags"))

    @classmethod
    def random(cls) -> UmbralKeys:
        return cls(umbral.SecretKey.random(), umbral.SecretKey.random())

    @cached_property
    def public(self) -> umbral.PublicKey:
        return self.secret.public_key()

    @cached_property
    def verifying(self) -> umbral.PublicKey:
        return self.signing.public_key()

    @property
    def signer(self) -> umbral.Signer:
        return umbral.Signer(self.signing)

    @property
    def public_bytes(self) -> bytes:
        return public_key_bytes(self.public)

    @property
    def verifying_bytes(self) -> bytes:
        return public_key_bytes(self.verifying)
