"""The wallet client: everything a patient, professional, institution does, on their machine.

Plaintext exists only here: records are sealed before they leave (`privacy.records.seal`),
fetched blobs are checked against their CID and recorded capsule hash, and keys are opened
with the client's own Umbral key or with m verified capsule fragments from the proxies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import umbral_pre as umbral

from learnchain.apps.wallet.access import ChainAccess, ContentAccess
from learnchain.apps.wallet.proxy import ProxyService, drop_digest, kfrag_digest
from learnchain.apps.wallet.rules import WalletError, covers, grant_active
from learnchain.core.crypto import PrivateKey
from learnchain.privacy import records
from learnchain.privacy.errors import (
    AccessDenied,
    NotEnoughFragments,
    PrivacyError,
    TamperedCapsule,
    TamperedCiphertext,
    TamperedFragment,
)
from learnchain.privacy.keys import UmbralKeys, public_key_bytes, public_key_from_bytes
from learnchain.privacy.sharing import AccessRequest, make_kfrags, open_shared_key, verify_cfrag
from learnchain.storage.cid import file_cid


class ProxyAccess(Protocol):
    address: bytes

    def give_kfrag(self, grant: bytes, kfrag: bytes, signature: bytes) -> None: ...

    def drop(self, grant: bytes, signature: bytes) -> None: ...

    def reencrypt(self, request: AccessRequest, capsule: bytes) -> bytes: ...


class LocalProxy:
    """A proxy service in this process (tests, benchmarks)."""

    def __init__(self, service: ProxyService) -> None:
        self.service = service
        self.address = service.address

    def give_kfrag(self, grant: bytes, kfrag: bytes, signature: bytes) -> None:
        self.service.accept_kfrag(grant, kfrag, signature)

    def drop(self, grant: bytes, signature: bytes) -> None:
        self.service.drop(grant, signature)

    def reencrypt(self, request: AccessRequest, capsule: bytes) -> bytes:
        return self.service.reencrypt(request, capsule).cfrag


@dataclass(frozen=True)
class Read:
    record: bytes
    version: int
    layer: str
    payload: records.RecordPayload
    refusals: tuple[str, ...] = ()
    """Proxies that refused or sent bad fragments, and why (the read still succeeded)."""


class WalletClient:
    def __init__(self, key: PrivateKey, chain: ChainAccess, content: ContentAccess,
                 proxies: dict[bytes, ProxyAccess] | None = None) -> None:
        self.key = key
        self.address = key.address
        self.umbral = UmbralKeys.from_account(key)
        self.chain = chain
        self.content = content
        self.proxies = proxies if proxies is not None else {}
        self._owner_keys: dict[tuple[bytes, int], umbral.PublicKey] = {}

    def _tx(self, method: str, args: dict[str, Any], app: str = "wallet") -> Any:
        return self.chain.wait(self.chain.send(self.key, app, method, args))

    def _proxy(self, address: bytes) -> ProxyAccess:
        if address not in self.proxies:
            from learnchain.apps.wallet.proxy_http import HttpProxy

            entry = self.chain.query("proxies", {}).get(address.hex())
            if not entry or not entry.get("url"):
                raise WalletError(f"no URL known for proxy 0x{address.hex()}")
            self.proxies[address] = HttpProxy(address, entry["url"])
        return self.proxies[address]

    # --- keys and wallets ------------------------------------------------------------------
    def publish_keys(self) -> None:
        self._tx("publish_keys", {"enc": self.umbral.public_bytes,
                                  "ver": self.umbral.verifying_bytes})

    def open(self, institution: bytes) -> bytes:
        if self.chain.query("keys", {"address": self.address}) is None:
            self.publish_keys()
        return bytes(self._tx("open", {"institution": institution})["wallet"])

    def my_wallet(self) -> bytes:
        wid = self.chain.query("wallet_of", {"address": self.address})
        if wid is None:
            raise WalletError("this identity has no wallet; open one with `wallet open`")
        return bytes(wid)

    def _owner_key(self, wid: bytes) -> umbral.PublicKey:
        """The wallet's current owner key (cached per key epoch; recovery adds an epoch)."""
        wallet = self.wallet(wid)
        entry = (wid, len(wallet["keys"]))
        if entry not in self._owner_keys:
            self._owner_keys[entry] = public_key_from_bytes(wallet["keys"][-1]["enc"],
                                                            "owner key")
        return self._owner_keys[entry]

    def wallet(self, wid: bytes) -> dict[str, Any]:
        found = self.chain.query("wallet", {"wallet": wid})
        if found is None:
            raise WalletError(f"no wallet 0x{wid.hex()}")
        return found

    # --- records ---------------------------------------------------------------------------
    def add(self, wid: bytes, layer: str, rtype: str, body: bytes, *, filename: str = "",
            record: bytes | None = None) -> tuple[bytes, int]:
        """Seal, store, then record on chain (the blob first, so no record ever dangles)."""
        rid, version, tx_hash = self.submit_add(wid, layer, rtype, body, filename=filename,
                                                record=record)
        self.chain.wait(tx_hash)
        return rid, version

    def submit_add(self, wid: bytes, layer: str, rtype: str, body: bytes, *,
                   filename: str = "", record: bytes | None = None) -> tuple[bytes, int, bytes]:
        """`add` without waiting for inclusion: (record id, version, transaction hash)."""
        if rtype != "file":
            from learnchain.apps.wallet.fhir import validate_fhir

            validate_fhir(body, rtype)
        owner_pk = self._owner_key(wid)
        version = 1
        if record is not None:
            found = self.chain.query("record", {"wallet": wid, "record": record})
            if found is None:
                raise WalletError("no such record to update")
            version = len(found["versions"]) + 1
        rid = record or os.urandom(records.RECORD_ID_SIZE)
        sealed = records.seal(records.RecordPayload(wid, filename, rtype, body), owner_pk, rid)
        cid = self.content.put(sealed.blob)
        tx_hash = self.chain.send(self.key, "wallet", "add_record", {
            "wallet": wid, "record": rid, "layer": layer, "rtype": rtype, "cid": cid,
            "capsule_hash": sealed.capsule_hash, "version": version})
        return rid, version, tx_hash

    def submit_add_many(self, wid: bytes, items: list[tuple[str, str, bytes, str]], *,
                        own: bool = False) -> tuple[list[bytes], bytes]:
        """New records (layer, type, body, filename) sealed one by one, stored together (one
        content-store commit) and recorded in one `add_records` transaction: (record ids,
        transaction hash). Each record keeps its own key, capsule, CID and on-chain entry.
        `own=True` says the wallet is this client's own (opened, perhaps, in the same block):
        records are wrapped for its own key without asking the chain."""
        owner_pk = self.umbral.public if own else self._owner_key(wid)
        for _, rtype, body, _ in items:
            if rtype != "file":
                from learnchain.apps.wallet.fhir import validate_fhir

                validate_fhir(body, rtype)
        rids = [os.urandom(records.RECORD_ID_SIZE) for _ in items]
        capsule_hashes: list[bytes] = []

        def sealed_blobs() -> Iterator[bytes | bytearray]:  # one sealed record in memory at once
            for rid, (_, rtype, body, filename) in zip(rids, items, strict=True):
                sealed = records.seal(records.RecordPayload(wid, filename, rtype, body),
                                      owner_pk, rid)
                capsule_hashes.append(sealed.capsule_hash)
                yield sealed.blob

        cids = self.content.put_many(sealed_blobs())
        entries = [{"record": rid, "layer": layer, "rtype": rtype, "cid": cid,
                    "capsule_hash": capsule_hash, "version": 1}
                   for rid, (layer, rtype, _, _), cid, capsule_hash
                   in zip(rids, items, cids, capsule_hashes, strict=True)]
        return rids, self.chain.send(self.key, "wallet", "add_records",
                                     {"wallet": wid, "records": entries})

    def add_many(self, wid: bytes, items: list[tuple[str, str, bytes, str]]) -> list[bytes]:
        rids, tx_hash = self.submit_add_many(wid, items)
        self.chain.wait(tx_hash)
        return rids

    def records(self, wid: bytes, layer: str = "") -> list[dict[str, Any]]:
        return list(self.chain.query("records", {"wallet": wid, "layer": layer}))

    def history(self, wid: bytes, rid: bytes) -> dict[str, Any]:
        found = self.chain.query("record", {"wallet": wid, "record": rid})
        if found is None:
            raise WalletError("no such record")
        return found

    def fetch_blob(self, entry: dict[str, Any]) -> records.RecordBlob:
        blob = self.content.fetch(entry["cid"])
        if file_cid(blob) != entry["cid"]:
            raise TamperedCiphertext(f"the store returned bytes that are not {entry['cid']}")
        parsed = records.parse(blob)
        if parsed.capsule_hash != entry["capsule_hash"]:
            raise TamperedCapsule("the blob's capsule is not the one the chain recorded")
        return parsed

    def read(self, wid: bytes, rid: bytes, version: int | None = None, *,
             grant: bytes | None = None) -> Read:
        found = self.history(wid, rid)
        if found["deleted"] is not None:
            raise WalletError("the record was deleted")
        version = version or len(found["versions"])
        if not 1 <= version <= len(found["versions"]):
            raise WalletError(f"the record has no version {version}")
        entry = found["versions"][version - 1]
        blob = self.fetch_blob(entry)
        wallet = self.wallet(wid)
        refusals: tuple[str, ...] = ()
        if (wallet["owner"] == self.address and grant is None
                and wallet["keys"][entry["epoch"]]["enc"] == self.umbral.public_bytes):
            key = records.unwrap_owner(blob, self.umbral.secret)
        else:
            key, refusals = self._shared_key(wid, rid, version, entry, found["layer"], blob,
                                             wallet, grant)
        payload = records.decrypt(blob, key, rid, wid)
        return Read(rid, version, found["layer"], payload, refusals)

    def _find_grant(self, wid: bytes, layer: str) -> dict[str, Any]:
        height = self.chain.height()
        for grant in self.chain.query("grants", {"wallet": wid}):
            if (grant["grantee"] == self.address and grant["kind"] == "share"
                    and grant_active(grant, height) is None
                    and any(covers(g, layer) for g in grant["layers"])):
                return grant
        raise AccessDenied("no active grant to this identity covers that layer")

    def _shared_key(self, wid: bytes, rid: bytes, version: int, entry: dict[str, Any],
                    layer: str, blob: records.RecordBlob, wallet: dict[str, Any],
                    grant_id: bytes | None) -> tuple[bytes, tuple[str, ...]]:
        grant = (self.chain.query("grant_info", {"grant": grant_id}) if grant_id
                 else self._find_grant(wid, layer))
        if grant is None:
            raise AccessDenied("no such grant")
        receiving = self.umbral.secret
        if grant["kind"] == "recovery":
            receiving = self._recovery_secret(wallet)
        owner_keys = wallet["keys"][grant["epoch"]]
        delegating = public_key_from_bytes(owner_keys["enc"])
        verifying = public_key_from_bytes(owner_keys["ver"])
        request = AccessRequest.new(self.chain.chain_id, grant["id"], wid, rid, version,
                                    entry["capsule_hash"], self.chain.height(), self.key)
        cfrags: list[umbral.VerifiedCapsuleFrag] = []
        refusals: list[str] = []
        for address in grant["proxies"]:
            if len(cfrags) >= grant["threshold"]:
                break
            name = f"proxy 0x{address.hex()}"
            try:
                data = self._proxy(address).reencrypt(request, blob.capsule_bytes)
                cfrags.append(verify_cfrag(data, blob.capsule, verifying, delegating,
                                           public_key_from_bytes(grant["grantee_pk"]), name))
            except TamperedFragment as exc:
                refusals.append(str(exc))
            except (PrivacyError, WalletError) as exc:
                refusals.append(f"{name} refused: {exc}")
        if len(cfrags) < grant["threshold"]:
            kind = NotEnoughFragments if cfrags or any(
                "failed its" in r for r in refusals) else AccessDenied
            raise kind(f"{len(cfrags)} of {grant['threshold']} fragments; "
                       + "; ".join(refusals))
        return open_shared_key(blob, receiving, delegating, cfrags,
                               grant["threshold"]), tuple(refusals)

    def delete(self, wid: bytes, rid: bytes) -> None:
        self._tx("delete_record", {"wallet": wid, "record": rid})

    # --- grants ----------------------------------------------------------------------------
    def _deliver(self, grant_id: bytes, proxies: list[bytes], kfrags: list[bytes]) -> None:
        for address, kfrag in zip(proxies, kfrags, strict=True):
            digest = kfrag_digest(self.chain.chain_id, grant_id, address, kfrag)
            self._proxy(address).give_kfrag(grant_id, kfrag, self.key.sign(digest))

    def grant(self, wid: bytes, grantee: bytes, layers: list[str], proxies: list[bytes],
              threshold: int, *, expiry: int = 0, write: bool = False) -> bytes:
        keys = self.chain.query("keys", {"address": grantee})
        if keys is None:
            raise WalletError("the grantee has not published Umbral keys")
        gid = os.urandom(16)
        self._tx("grant", {"wallet": wid, "grant": gid, "grantee": grantee, "layers": layers,
                           "grantee_pk": keys["enc"], "proxies": proxies,
                           "threshold": threshold, "expiry": expiry, "write": write})
        kfrags = make_kfrags(self.umbral, public_key_from_bytes(keys["enc"]), threshold,
                             len(proxies))
        self._deliver(gid, proxies, kfrags)
        return gid

    def revoke(self, gid: bytes) -> list[str]:
        """Revoke on chain, then ask every proxy to delete its fragment now."""
        self._tx("revoke", {"grant": gid})
        grant = self.chain.query("grant_info", {"grant": gid})
        problems = []
        for address in grant["proxies"]:
            try:
                self._proxy(address).drop(gid, self.key.sign(
                    drop_digest(self.chain.chain_id, gid, address)))
            except (PrivacyError, WalletError) as exc:
                problems.append(f"proxy 0x{address.hex()}: {exc}")
        return problems

    def log(self, wid: bytes) -> list[dict[str, Any]]:
        return list(self.chain.query("access_log", {"wallet": wid}))

    def authorise(self, professional: bytes, revoke: bool = False) -> None:
        self._tx("authorise", {"professional": professional, "revoke": revoke})

    # --- recovery --------------------------------------------------------------------------
    def set_recovery(self, wid: bytes, institution: bytes, proxies: list[bytes],
                     threshold: int) -> bytes:
        """A fresh recovery key R: kfrags owner → R at the proxies, R's secret wrapped for
        the KYC institution. Neither can read alone (see docs/wallets.md)."""
        inst_keys = self.chain.query("keys", {"address": institution})
        if inst_keys is None:
            raise WalletError("the institution has not published Umbral keys")
        recovery = umbral.SecretKey.random()
        capsule, ct = umbral.encrypt(public_key_from_bytes(inst_keys["enc"]),
                                     bytes(recovery.to_be_bytes()))
        gid = os.urandom(16)
        self._tx("set_recovery", {"wallet": wid, "grant": gid, "proxies": proxies,
                                  "threshold": threshold,
                                  "grantee_pk": public_key_bytes(recovery.public_key()),
                                  "kit": {"capsule": bytes(capsule), "ct": bytes(ct)}})
        self._deliver(gid, proxies, make_kfrags(self.umbral, recovery.public_key(), threshold,
                                                len(proxies)))
        return gid

    def start_recovery(self, wid: bytes, new_owner: bytes) -> None:
        """Institution side, after re-identifying the patient: hand R to the new key."""
        wallet = self.wallet(wid)
        if wallet["recovery"] is None:
            raise WalletError("the wallet has no recovery grant")
        kit = wallet["recovery"]["kit"]
        try:
            secret = umbral.decrypt_original(self.umbral.secret,
                                             umbral.Capsule.from_bytes(kit["capsule"]), kit["ct"])
        except Exception:
            raise AccessDenied("the recovery kit is not wrapped for this institution") from None
        new_keys = self.chain.query("keys", {"address": new_owner})
        if new_keys is None:
            raise WalletError("the new key has not published Umbral keys")
        capsule, ct = umbral.encrypt(public_key_from_bytes(new_keys["enc"]), bytes(secret))
        self._tx("recover_start", {"wallet": wid, "new_owner": new_owner,
                                   "kit": {"capsule": bytes(capsule), "ct": bytes(ct)}})

    def _recovery_secret(self, wallet: dict[str, Any]) -> umbral.SecretKey:
        kit = wallet.get("recovered_kit")
        if not kit:
            raise AccessDenied("no finished recovery hands this identity a recovery key")
        try:
            raw = umbral.decrypt_original(self.umbral.secret,
                                          umbral.Capsule.from_bytes(kit["capsule"]), kit["ct"])
        except Exception:
            raise AccessDenied("the recovered kit is not wrapped for this identity") from None
        return umbral.SecretKey.from_be_bytes(bytes(raw))

    def finish_recovery(self, wid: bytes) -> None:
        self._tx("recover_finish", {"wallet": wid})

    def rewrap(self, wid: bytes, recovery_grant: bytes) -> int:
        """After recovery: read every live record through the recovery grant and store it
        again as a new version under the new key. Returns the number re-wrapped."""
        count = 0
        for record in self.records(wid):
            if record["deleted"] is not None:
                continue
            latest = record["versions"][-1]
            if latest["epoch"] == len(self.wallet(wid)["keys"]) - 1:
                continue
            read = self.read(wid, record["record"], grant=recovery_grant)
            self.add(wid, record["layer"], record["rtype"], read.payload.body,
                     filename=read.payload.filename, record=record["record"])
            count += 1
        return count
