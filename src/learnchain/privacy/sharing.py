"""Sharing through threshold proxy re-encryption (Umbral), and the signed access request S.

A grant splits a re-encryption key owner → grantee into n key fragments (kfrags), any m of
which suffice; each proxy holds one. A grantee asks with a signed request S = (Ps, Kc): Ps is
the requester (recovered from the signature), Kc is named by its capsule hash. Each proxy that
finds the request permitted turns the capsule into a capsule fragment (cfrag); the grantee
verifies every cfrag's correctness proof and opens K with m of them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import umbral_pre as umbral

from learnchain.core.crypto import PrivateKey, recover_address
from learnchain.core.encoding import encode
from learnchain.core.errors import InvalidTransaction
from learnchain.privacy.errors import NotEnoughFragments, PrivacyError, TamperedFragment
from learnchain.privacy.keys import UmbralKeys
from learnchain.privacy.records import RecordBlob

REQUEST_DOMAIN = "learnchain/wallet/access-request/v1"
REQUEST_ID_SIZE = 16


def make_kfrags(owner: UmbralKeys, receiving_pk: umbral.PublicKey, threshold: int,
                shares: int) -> list[bytes]:
    if not 1 <= threshold <= shares:
        raise PrivacyError(f"threshold must be in 1..{shares}, got {threshold}")
    kfrags = umbral.generate_kfrags(owner.secret, receiving_pk, owner.signer, threshold, shares,
                                    True, True)
    return [bytes(k) for k in kfrags]


def verify_kfrag(data: bytes, verifying_pk: umbral.PublicKey, delegating_pk: umbral.PublicKey,
                 receiving_pk: umbral.PublicKey) -> umbral.VerifiedKeyFrag:
    try:
        return umbral.KeyFrag.from_bytes(bytes(data)).verify(verifying_pk, delegating_pk,
                                                             receiving_pk)
    except Exception:
        raise TamperedFragment("key fragment failed verification: it was altered, or was not "
                               "made by this owner for this grantee") from None


def verify_cfrag(data: bytes, capsule: umbral.Capsule, verifying_pk: umbral.PublicKey,
                 delegating_pk: umbral.PublicKey, receiving_pk: umbral.PublicKey,
                 source: str = "a proxy") -> umbral.VerifiedCapsuleFrag:
    try:
        cfrag = umbral.CapsuleFrag.from_bytes(bytes(data))
        return cfrag.verify(capsule, verifying_pk, delegating_pk, receiving_pk)
    except Exception:
        raise TamperedFragment(f"capsule fragment from {source} failed its re-encryption "
                               "proof (tampered, or made for another capsule)") from None


def open_shared_key(record: RecordBlob, receiving_sk: umbral.SecretKey,
                    delegating_pk: umbral.PublicKey, cfrags: list[umbral.VerifiedCapsuleFrag],
                    threshold: int) -> bytes:
    """K from m verified cfrags (fewer cannot open it, by Umbral's threshold)."""
    if len(cfrags) < threshold:
        raise NotEnoughFragments(f"{len(cfrags)} verified capsule fragments; the grant needs "
                                 f"{threshold}")
    try:
        return bytes(umbral.decrypt_reencrypted(receiving_sk, delegating_pk, record.capsule,
                                                cfrags[:threshold], record.wrapped_key))
    except Exception:
        raise NotEnoughFragments("the capsule fragments do not open the key: fewer than the "
                                 "threshold come from distinct kfrags of this grant") from None


@dataclass(frozen=True)
class AccessRequest:
    """S = (Ps, Kc): who asks (signature), for which record version and capsule, when."""

    chain_id: int
    grant: bytes
    wallet: bytes
    record: bytes
    version: int
    capsule_hash: bytes
    request_id: bytes
    at: int
    """Chain height the requester saw; proxies and the chain refuse stale requests."""
    signature: bytes = b""

    def body(self) -> dict[str, Any]:
        return {"domain": REQUEST_DOMAIN, "chain_id": self.chain_id, "grant": self.grant,
                "wallet": self.wallet, "record": self.record, "version": self.version,
                "capsule_hash": self.capsule_hash, "request_id": self.request_id, "at": self.at}

    def digest(self) -> bytes:
        return hashlib.sha256(encode(self.body())).digest()

    def signed(self, key: PrivateKey) -> AccessRequest:
        return AccessRequest(**{**self.plain(), "signature": key.sign(self.digest())})

    def requester(self) -> bytes:
        """Ps: the address that signed; a forged or altered request recovers another one."""
        try:
            return recover_address(self.digest(), self.signature)
        except InvalidTransaction as exc:
            raise PrivacyError(f"access request signature is invalid: {exc}") from None

    def plain(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.body().items() if k != "domain"},
                "signature": self.signature}

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> AccessRequest:
        try:
            request = cls(**plain)
        except TypeError as exc:
            raise PrivacyError(f"malformed access request: {exc}") from None
        for name, size in (("grant", 16), ("wallet", 20), ("record", 16), ("capsule_hash", 32),
                           ("request_id", REQUEST_ID_SIZE), ("signature", 65)):
            value = getattr(request, name)
            if not isinstance(value, bytes) or len(value) != size:
                raise PrivacyError(f"access request field {name!r} must be {size} bytes")
        for name in ("chain_id", "version", "at"):
            value = getattr(request, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PrivacyError(f"access request field {name!r} must be a natural number")
        return request

    @classmethod
    def new(cls, chain_id: int, grant: bytes, wallet: bytes, record: bytes, version: int,
            capsule_hash: bytes, at: int, key: PrivateKey) -> AccessRequest:
        return cls(chain_id, grant, wallet, record, version, capsule_hash,
                   os.urandom(REQUEST_ID_SIZE), at).signed(key)
