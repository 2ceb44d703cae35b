"""Attacks on medical wallets: each names the attack, and the defence that stops it."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest
import umbral_pre as umbral

from learnchain.apps.wallet.client import LocalProxy
from learnchain.apps.wallet.proxy import ProxyService
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.service import sync_pins
from learnchain.apps.wallet.world import WalletWorld
from learnchain.privacy import records
from learnchain.privacy.errors import (
    AccessDenied,
    NotEnoughFragments,
    TamperedCapsule,
    TamperedCiphertext,
    TamperedFragment,
)
from learnchain.privacy.sharing import AccessRequest, open_shared_key
from learnchain.storage.content import read_all
from learnchain.testing import dev_key

MARKER = "UNIQUE-PLAINTEXT-" + os.urandom(8).hex()
ALLERGY = json.dumps({"resourceType": "AllergyIntolerance", "patient": {"reference": "P/1"},
                      "code": {"text": MARKER}}).encode()


@pytest.fixture
def world() -> WalletWorld:
    return WalletWorld.create()


def _shared(world: WalletWorld, threshold: int = 2) -> tuple[bytes, bytes, bytes]:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    gid = world["patient"].grant(wid, world.address("doctor-a"), ["profile"],
                                 world.proxy_addresses, threshold)
    return wid, rid, gid


def _request(world: WalletWorld, signer: str, wid: bytes, rid: bytes, gid: bytes,
             version: int = 1) -> tuple[AccessRequest, bytes]:
    entry = world["patient"].history(wid, rid)["versions"][version - 1]
    blob = records.parse(read_all(world.store, entry["cid"]))
    request = AccessRequest.new(world.chain.chain_id, gid, wid, rid, version,
                                entry["capsule_hash"], world.chain.height(), dev_key(signer))
    return request, blob.capsule_bytes


def test_no_plaintext_in_any_store_database_or_log(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    world = WalletWorld.create(database=str(tmp_path / "chain.sqlite"),
                               content=str(tmp_path / "content.sqlite"),
                               proxy_dir=str(tmp_path))
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    file_rid, _ = world["patient"].add(wid, "activities", "file", MARKER.encode() * 100)
    gid = world["patient"].grant(wid, world.address("doctor-a"), ["profile", "activities"],
                                 world.proxy_addresses, 2)
    assert MARKER.encode() in world["doctor-a"].read(wid, rid).payload.body
    assert world["doctor-a"].read(wid, file_rid).payload.body.startswith(MARKER.encode())
    world["patient"].revoke(gid)
    world.test.mine()
    forms = [MARKER.encode(), MARKER.encode().hex().encode(),
             base64.b64encode(MARKER.encode())[:24]]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("content.sqlite") for p in files)
    assert sum(p.name.startswith("proxy-") for p in files) >= 3
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form not in data, f"plaintext found in {path.name}"
    assert MARKER not in caplog.text


def test_unauthorised_grantee_gets_nothing(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    with pytest.raises(AccessDenied, match="no active grant"):
        world["stranger"].read(wid, rid)
    # using someone else's grant: every proxy refuses, so no fragment leaves any proxy
    with pytest.raises(AccessDenied, match="not the grantee"):
        world["stranger"].read(wid, rid, grant=gid)
    request, capsule = _request(world, "stranger", wid, rid, gid)
    for service in world.services.values():
        with pytest.raises(AccessDenied, match="not the grantee"):
            service.reencrypt(request, capsule)


def test_revoked_grant_is_refused_even_before_fragments_are_dropped(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    world.chain.wait(world.chain.send(dev_key("patient"), "wallet", "revoke", {"grant": gid}))
    assert all(s.holds(gid) for s in world.services.values())  # no proxy was told directly
    with pytest.raises(AccessDenied, match="no active grant"):
        world["doctor-a"].read(wid, rid)
    with pytest.raises(AccessDenied, match="revoked"):  # each proxy checks the chain itself
        world["doctor-a"].read(wid, rid, grant=gid)
    assert all(s.sweep() == 1 for s in world.services.values())


def test_fewer_than_m_proxies_cannot_re_encrypt(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world, threshold=3)
    doctor = world["doctor-a"]
    doctor.proxies.pop(world.proxy_addresses[2])  # one proxy is unreachable
    doctor._proxy = lambda address: (doctor.proxies[address] if address in doctor.proxies
                                     else (_ for _ in ()).throw(AccessDenied("unreachable")))
    with pytest.raises(NotEnoughFragments, match="2 of 3"):
        doctor.read(wid, rid)
    # and cryptographically: two genuine cfrags do not open a 3-of-3 capsule
    entry = world["patient"].history(wid, rid)["versions"][0]
    blob = records.parse(read_all(world.store, entry["cid"]))
    request, capsule = _request(world, "doctor-a", wid, rid, gid)
    cfrags = [umbral.CapsuleFrag.from_bytes(s.reencrypt(request, capsule).cfrag)
              .skip_verification() for s in list(world.services.values())[:2]]
    owner = world["patient"].umbral
    with pytest.raises(NotEnoughFragments):
        open_shared_key(blob, doctor.umbral.secret, owner.public, cfrags, 2)


def test_tampered_ciphertext_is_detected_and_named(world: WalletWorld) -> None:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    cid = world["patient"].history(wid, rid)["versions"][0]["cid"]
    blob = bytearray(read_all(world.store, cid))
    blob[-5] ^= 1
    parsed = records.parse(bytes(blob))
    key = records.unwrap_owner(parsed, world["patient"].umbral.secret)
    with pytest.raises(TamperedCiphertext, match="AES-GCM tag"):
        records.decrypt(parsed, key, rid, wid)
    # a store serving altered bytes is caught before decryption (CID mismatch)
    world.store.conn.execute("UPDATE content_blocks SET data=? WHERE 1",
                             (b"\x0a\x04\x08\x02\x18\x00",))
    world.store.blocks._cache.clear()
    with pytest.raises((TamperedCiphertext, WalletError)):
        world["patient"].read(wid, rid)


def test_tampered_capsule_is_detected_and_named(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    request, _capsule = _request(world, "doctor-a", wid, rid, gid)
    other, _ = umbral.encrypt(world["patient"].umbral.public, b"k" * 32)
    service = next(iter(world.services.values()))
    with pytest.raises(TamperedCapsule, match="capsule"):
        service.reencrypt(request, bytes(other))
    entry = world["patient"].history(wid, rid)["versions"][0]
    blob = read_all(world.store, entry["cid"])
    parsed = records.parse(blob)
    swapped = blob.replace(parsed.capsule_bytes, bytes(other))
    cid = world.store.add(swapped)  # a well-formed blob under its own CID, wrong capsule
    with pytest.raises(TamperedCapsule, match="not the one the chain recorded"):
        world["patient"].fetch_blob({"cid": cid, "capsule_hash": entry["capsule_hash"]})
    world["patient"].content.fetch = lambda _cid: swapped  # a store lying about the CID
    with pytest.raises(TamperedCiphertext, match="not Qm"):
        world["patient"].read(wid, rid)


def test_tampered_fragments_are_detected_and_named(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    bad_address = world.proxy_addresses[0]
    honest = world["doctor-a"].proxies[bad_address]

    class FlippingProxy(LocalProxy):
        def reencrypt(self, request: AccessRequest, capsule: bytes) -> bytes:
            data = bytearray(honest.reencrypt(request, capsule))
            data[-10] ^= 1
            return bytes(data)

    world["doctor-a"].proxies[bad_address] = FlippingProxy(honest.service)
    read = world["doctor-a"].read(wid, rid)  # the other two honest proxies suffice
    assert MARKER.encode() in read.payload.body
    assert any(f"0x{bad_address.hex()}" in r and "re-encryption proof" in r
               for r in read.refusals)
    # a tampered key fragment is refused by the proxy at delivery
    from learnchain.apps.wallet.proxy import kfrag_digest

    proxy = world.services["proxy-1"]
    forged = bytearray(os.urandom(16)) + bytearray(300)
    with pytest.raises(TamperedFragment):
        proxy.accept_kfrag(gid, bytes(forged), dev_key("patient").sign(
            kfrag_digest(world.chain.chain_id, gid, proxy.address, bytes(forged))))


def test_a_proxy_skipping_the_grant_check_is_caught(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    negligent = world.services["proxy-1"]
    negligent.check_grants = False
    stranger = world["stranger"]
    with pytest.raises(NotEnoughFragments, match="1 of 2"):
        stranger.read(wid, rid, grant=gid)
    # its access-log transaction is refused on chain: the negligence is public
    world.test.mine()
    block = world.test.chain.block_at(world.test.chain.height)
    receipts = world.test.chain.receipts(block.hash)
    failures = [r.error for t, r in zip(block.transactions, receipts, strict=True)
                if t.sender == negligent.address and not r.success]
    assert failures and "not the grantee" in failures[0]
    assert world["patient"].log(wid) == []


def test_identification_needs_institution_authorisation(world: WalletWorld) -> None:
    wid = world.setup()
    patient_doc = json.dumps({"resourceType": "Patient", "name": [{"family": MARKER}]}).encode()
    rid, _ = world["patient"].add(wid, "identification", "Patient", patient_doc)
    world["patient"].grant(wid, world.address("doctor-a"), ["identification"],
                           world.proxy_addresses, 2)
    assert MARKER.encode() in world["doctor-a"].read(wid, rid).payload.body
    world["hospital"].authorise(world.address("doctor-a"), revoke=True)
    with pytest.raises(AccessDenied, match="institution authorisation"):
        world["doctor-a"].read(wid, rid)
    with pytest.raises(WalletError, match="institution"):
        world["doctor-b"].authorise(world.address("doctor-a"))


def test_replayed_forged_and_stale_requests_are_refused(world: WalletWorld) -> None:
    wid, rid, gid = _shared(world)
    service = world.services["proxy-1"]
    request, capsule = _request(world, "doctor-a", wid, rid, gid)
    service.reencrypt(request, capsule)
    with pytest.raises(AccessDenied, match="replayed"):
        service.reencrypt(request, capsule)
    # the same log replayed (e.g. by a restarted proxy that lost its local memory) is refused
    # by the chain's own record of the request
    world.test.mine()
    with pytest.raises(WalletError, match="replayed"):
        world.chain.wait(world.chain.send(dev_key("proxy-1"), "wallet", "log_access",
                                          {"request": request.plain()}))
    restarted = ProxyService(dev_key("proxy-1"), world.chain)  # lost its local memory
    with pytest.raises(AccessDenied, match="replayed"):
        restarted.reencrypt(request, capsule)
    # forged: fields changed after signing recover another signer
    forged = AccessRequest(**{**request.plain(), "version": 1,
                              "request_id": os.urandom(16)})
    with pytest.raises(AccessDenied, match="not the grantee"):
        service.reencrypt(forged, capsule)
    stale = AccessRequest.new(world.chain.chain_id, gid, wid, rid, 1, request.capsule_hash, 0,
                              dev_key("doctor-a"))
    world.test.mine(70)
    with pytest.raises(AccessDenied, match="stale"):
        service.reencrypt(stale, capsule)


def test_crash_between_blob_and_transaction_leaves_no_dangling_record(
        world: WalletWorld) -> None:
    wid = world.setup()
    sealed = records.seal(records.RecordPayload(wid, "", "file", b"orphan"),
                          world["patient"].umbral.public, os.urandom(16))
    orphan = world.store.add(sealed.blob)  # stored, then the client crashed: no transaction
    rid, _ = world["patient"].add(wid, "activities", "file", b"recorded")
    sync_pins(world.chain, world.store, 0)
    recorded = world["patient"].history(wid, rid)["versions"][0]["cid"]
    assert all(r["versions"][0]["cid"] != orphan for r in world["patient"].records(wid))
    world.store.gc(now_ms=world.store._now() + world.store.staged_ttl_ms + 1)
    assert not world.store.has(orphan)      # the staged orphan is collected
    assert world.store.has(recorded)        # what the chain names is kept
