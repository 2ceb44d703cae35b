"""A re-encryption proxy (seed §5): holds key fragments, evaluates P(Ps, Kc), re-encrypts, logs.

A proxy is a consortium service with its own account key (registered in the wallet app by a
member). It keeps, per grant, the one kfrag the owner gave it, in its own SQLite file. For an
access request it:

1. refuses a request id it has seen (replay), then asks its node to evaluate the permissioning
   function at the current height (`wallet.permit`, the same pure rule the chain runs);
2. checks it is one of the grant's proxies and that the capsule hashes to the recorded one;
3. re-encrypts the capsule with its kfrag (a verified Umbral cfrag, proof included);
4. submits `wallet.log_access` with the grantee's signed request, so the access is on chain
   (the chain re-checks the same rule and refuses a second log of the same request).

Revocation deletes the fragment: on the owner's signed request, and by `sweep`, which drops
fragments of grants the chain shows revoked or expired.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import umbral_pre as umbral

from learnchain.apps.wallet.access import ChainAccess
from learnchain.apps.wallet.rules import WalletError, grant_active
from learnchain.core.crypto import PrivateKey, recover_address
from learnchain.core.encoding import encode
from learnchain.core.errors import InvalidTransaction
from learnchain.privacy.errors import AccessDenied, PrivacyError, TamperedCapsule
from learnchain.privacy.keys import public_key_from_bytes
from learnchain.privacy.sharing import AccessRequest, verify_kfrag

KFRAG_DOMAIN = "learnchain/wallet/kfrag/v1"
DROP_DOMAIN = "learnchain/wallet/drop-kfrag/v1"
CAPSULE_CACHE_SIZE = 4096


def kfrag_digest(chain_id: int, grant: bytes, proxy: bytes, kfrag: bytes) -> bytes:
    body = {"domain": KFRAG_DOMAIN, "chain_id": chain_id, "grant": grant, "proxy": proxy,
            "kfrag": hashlib.sha256(kfrag).digest()}
    return hashlib.sha256(encode(body)).digest()


def drop_digest(chain_id: int, grant: bytes, proxy: bytes) -> bytes:
    return hashlib.sha256(encode({"domain": DROP_DOMAIN, "chain_id": chain_id, "grant": grant,
                                  "proxy": proxy})).digest()


def _signer(digest: bytes, signature: bytes) -> bytes:
    try:
        return recover_address(digest, signature)
    except InvalidTransaction as exc:
        raise AccessDenied(f"bad signature: {exc}") from None


@dataclass
class Served:
    cfrag: bytes
    log_tx: bytes


class ProxyService:
    def __init__(self, key: PrivateKey, chain: ChainAccess, database: Path | str = ":memory:",
                 *, check_grants: bool = True) -> None:
        self.key = key
        self.address = key.address
        self.chain = chain
        self.check_grants = check_grants
        """False only for the adversarial tests' negligent proxy."""
        self.conn = sqlite3.connect(str(database), isolation_level=None, check_same_thread=False)
        self.conn.execute("CREATE TABLE IF NOT EXISTS kfrags (grant_id BLOB PRIMARY KEY, "
                          "kfrag BLOB NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS seen (request BLOB PRIMARY KEY)")
        self.lock = threading.Lock()
        self._kfrag_cache: dict[bytes, umbral.VerifiedKeyFrag] = {}
        self._capsules: OrderedDict[bytes, umbral.Capsule] = OrderedDict()
        """Parsed capsules by SHA-256 of their bytes: `Capsule.from_bytes` checks the capsule's
        proof (several point multiplications, more than half a re-encryption), and grantees
        read the same records again and again. Keyed by the hash of the exact bytes, so a hit
        is the capsule a fresh parse would give."""

    # --- fragments -------------------------------------------------------------------------
    def _grant(self, grant_id: bytes) -> dict[str, Any]:
        grant = self.chain.query("grant_info", {"grant": grant_id})
        if grant is None:
            raise AccessDenied("no such grant on chain")
        return grant

    def accept_kfrag(self, grant_id: bytes, kfrag: bytes, signature: bytes) -> None:
        """Store this proxy's fragment of a grant, sent and signed by the wallet owner."""
        grant = self._grant(grant_id)
        wallet = self.chain.query("wallet", {"wallet": grant["wallet"]})
        signer = _signer(kfrag_digest(self.chain.chain_id, grant_id, self.address, kfrag),
                         signature)
        if signer != wallet["owner"]:
            raise AccessDenied("key fragments are accepted only from the wallet's owner")
        if self.address not in grant["proxies"]:
            raise AccessDenied("this proxy is not one of the grant's proxies")
        why = grant_active(grant, self.chain.height())
        if why:
            raise AccessDenied(why)
        keys = wallet["keys"][grant["epoch"]]
        verified = verify_kfrag(kfrag, public_key_from_bytes(keys["ver"]),
                                public_key_from_bytes(keys["enc"]),
                                public_key_from_bytes(grant["grantee_pk"]))
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO kfrags VALUES (?, ?)", (grant_id, kfrag))
            self._kfrag_cache[grant_id] = verified

    def drop(self, grant_id: bytes, signature: bytes) -> bool:
        """Delete a grant's fragment on the owner's signed word."""
        grant = self._grant(grant_id)
        wallet = self.chain.query("wallet", {"wallet": grant["wallet"]})
        if _signer(drop_digest(self.chain.chain_id, grant_id, self.address),
                   signature) != wallet["owner"]:
            raise AccessDenied("only the wallet's owner drops fragments early")
        return self._delete(grant_id)

    def _delete(self, grant_id: bytes) -> bool:
        with self.lock:
            self._kfrag_cache.pop(grant_id, None)
            return self.conn.execute("DELETE FROM kfrags WHERE grant_id=?",
                                     (grant_id,)).rowcount > 0

    def sweep(self) -> int:
        """Drop fragments of grants revoked or expired on chain; returns how many."""
        height, dropped = self.chain.height(), 0
        for (grant_id,) in self.conn.execute("SELECT grant_id FROM kfrags").fetchall():
            grant = self.chain.query("grant_info", {"grant": bytes(grant_id)})
            if grant_active(grant, height) is not None:
                dropped += self._delete(bytes(grant_id))
        return dropped

    def holds(self, grant_id: bytes) -> bool:
        return self.conn.execute("SELECT 1 FROM kfrags WHERE grant_id=?",
                                 (grant_id,)).fetchone() is not None

    def _kfrag(self, grant_id: bytes, permit: dict[str, Any]) -> umbral.VerifiedKeyFrag:
        cached = self._kfrag_cache.get(grant_id)
        if cached is not None:
            return cached
        row = self.conn.execute("SELECT kfrag FROM kfrags WHERE grant_id=?",
                                (grant_id,)).fetchone()
        if row is None:
            raise AccessDenied("this proxy holds no fragment of that grant (revoked or never "
                               "given)")
        verified = verify_kfrag(bytes(row[0]), public_key_from_bytes(permit["verifying_pk"]),
                                public_key_from_bytes(permit["delegating_pk"]),
                                public_key_from_bytes(permit["grantee_pk"]))
        self._kfrag_cache[grant_id] = verified
        return verified

    # --- serving ---------------------------------------------------------------------------
    def permit(self, request: AccessRequest) -> dict[str, Any]:
        """P(Ps, Kc) as the chain sees it now; AccessDenied with the rule that failed."""
        try:
            return self.chain.query("permit", {"request": request.plain(), "proxy": self.address,
                                               "height": self.chain.height()})
        except WalletError as exc:
            raise AccessDenied(str(exc)) from None

    def reencrypt(self, request: AccessRequest, capsule: bytes) -> Served:
        if request.chain_id != self.chain.chain_id:
            raise AccessDenied("the request is for another chain")
        with self.lock:
            if self.conn.execute("SELECT 1 FROM seen WHERE request=?",
                                 (request.request_id,)).fetchone():
                raise AccessDenied("replayed access request: this proxy served it already")
            self.conn.execute("INSERT INTO seen VALUES (?)", (request.request_id,))
        if self.check_grants:
            permit = self.permit(request)
            if self.address not in permit["proxies"]:
                raise AccessDenied("this proxy holds no fragment of that grant")
        else:
            permit = self._permit_without_checks(request)
        digest = hashlib.sha256(capsule).digest()
        if digest != request.capsule_hash:
            raise TamperedCapsule("the capsule sent does not hash to the one the request names")
        parsed = self._capsule(digest, capsule)
        cfrag = umbral.reencrypt(parsed, self._kfrag(request.grant, permit))
        log_tx = self.chain.send(self.key, "wallet", "log_access", {"request": request.plain()})
        return Served(bytes(cfrag), log_tx)

    def _capsule(self, digest: bytes, capsule: bytes) -> umbral.Capsule:
        with self.lock:
            parsed = self._capsules.get(digest)
            if parsed is not None:
                self._capsules.move_to_end(digest)
                return parsed
        try:
            parsed = umbral.Capsule.from_bytes(capsule)
        except Exception:
            raise TamperedCapsule("the capsule sent is not a valid Umbral capsule") from None
        with self.lock:
            self._capsules[digest] = parsed
            while len(self._capsules) > CAPSULE_CACHE_SIZE:
                self._capsules.popitem(last=False)
        return parsed

    def _permit_without_checks(self, request: AccessRequest) -> dict[str, Any]:
        grant = self.chain.query("grant_info", {"grant": request.grant})
        if grant is None:
            raise PrivacyError("no such grant")
        keys = self.chain.query("wallet", {"wallet": grant["wallet"]})["keys"][grant["epoch"]]
        return {"proxies": grant["proxies"], "grantee_pk": grant["grantee_pk"],
                "delegating_pk": keys["enc"], "verifying_pk": keys["ver"]}

    def close(self) -> None:
        self.conn.close()
