"""Narrative tests of the wallet: add, read, share through proxies, revoke, expire, recover."""

from __future__ import annotations

import json
import os

import pytest

from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.world import WalletWorld
from learnchain.privacy.errors import AccessDenied

CONDITION = json.dumps({
    "resourceType": "Condition", "subject": {"reference": "Patient/1"}, "code": {"text": "asthma"},
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                             "condition-clinical", "code": "active"}]}}).encode()
ALLERGY = json.dumps({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
                      "code": {"text": "penicillin"}}).encode()


@pytest.fixture
def world() -> WalletWorld:
    return WalletWorld.create()


def test_patient_adds_and_reads_own_records(world: WalletWorld) -> None:
    wid = world.setup()
    rid, version = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    assert version == 1
    read = world["patient"].read(wid, rid)
    assert read.payload.body == ALLERGY and read.payload.rtype == "AllergyIntolerance"
    assert read.payload.wallet == wid


def test_professional_reads_through_two_of_three_proxies_and_is_logged(
        world: WalletWorld) -> None:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    world["patient"].grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2)
    read = world["doctor-a"].read(wid, rid)
    assert read.payload.body == ALLERGY
    world.test.mine()
    log = world["patient"].log(wid)
    assert {e["proxy"] for e in log} <= set(world.proxy_addresses)
    assert len(log) == 2 and all(e["grantee"] == world.address("doctor-a") for e in log)


def test_versions_are_appended_never_overwritten(world: WalletWorld) -> None:
    wid = world.setup()
    world["patient"].grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2,
                           write=True)
    rid, _ = world["doctor-a"].add(wid, "profile", "Condition", CONDITION)
    newer = CONDITION.replace(b"asthma", b"asthma, resolved")
    _, v2 = world["doctor-a"].add(wid, "profile", "Condition", newer, record=rid)
    history = world["patient"].history(wid, rid)
    assert v2 == 2 and len(history["versions"]) == 2
    assert [v["originator"] for v in history["versions"]] == [world.address("doctor-a")] * 2
    assert world["patient"].read(wid, rid, 1).payload.body == CONDITION
    assert world["patient"].read(wid, rid).payload.body == newer


def test_patient_write_rules(world: WalletWorld) -> None:
    wid = world.setup()
    with pytest.raises(WalletError, match="profile sections"):
        world["patient"].add(wid, "profile", "Condition", CONDITION)
    with pytest.raises(WalletError, match="no active write grant"):
        world["doctor-b"].add(wid, "profile", "Condition", CONDITION)
    with pytest.raises(WalletError, match=r"invalid FHIR|resourceType"):
        world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", CONDITION)
    world["patient"].add(wid, "activities/forum", "file", b"my question", filename="q.txt")


def test_revoked_and_expired_grants_give_nothing(world: WalletWorld) -> None:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    gid = world["patient"].grant(wid, world.address("doctor-a"), ["profile"],
                                 world.proxy_addresses, 2)
    assert world["patient"].revoke(gid) == []
    assert not any(s.holds(gid) for s in world.services.values())
    with pytest.raises(AccessDenied):
        world["doctor-a"].read(wid, rid, grant=gid)
    expiry = world.chain.height() + 3
    world["patient"].grant(wid, world.address("doctor-b"), ["profile"], world.proxy_addresses, 2,
                           expiry=expiry)
    assert world["doctor-b"].read(wid, rid).payload.body == ALLERGY
    world.test.mine(3)
    with pytest.raises(AccessDenied):
        world["doctor-b"].read(wid, rid)
    assert all(s.sweep() == 1 for s in world.services.values())


def test_identification_needs_institution_authorisation(world: WalletWorld) -> None:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "identification", "Patient",
                                  json.dumps({"resourceType": "Patient",
                                              "name": [{"family": "Doe"}]}).encode())
    for doctor in ("doctor-a", "doctor-b"):
        world["patient"].grant(wid, world.address(doctor), ["identification"],
                               world.proxy_addresses, 2)
    assert b"Doe" in world["doctor-a"].read(wid, rid).payload.body
    with pytest.raises(AccessDenied, match="institution authorisation"):
        world["doctor-b"].read(wid, rid)


def test_deletion_unpins_and_collects_but_keeps_the_fact(world: WalletWorld) -> None:
    from learnchain.apps.wallet.service import sync_pins

    wid = world.setup()
    rid, _ = world["patient"].add(wid, "activities", "file", b"x" * 5000)
    cursor = sync_pins(world.chain, world.store, 0)
    cid = world["patient"].history(wid, rid)["versions"][0]["cid"]
    assert "chain" in world.store.pins()[cid]
    world["patient"].delete(wid, rid)
    sync_pins(world.chain, world.store, cursor)
    world.store.gc()
    assert not world.store.has(cid)
    assert world["patient"].history(wid, rid)["deleted"]["by"] == world.address("patient")
    with pytest.raises(WalletError, match="deleted"):
        world["patient"].read(wid, rid)


def test_key_recovery_through_institution_and_proxies(world: WalletWorld) -> None:
    wid = world.setup()
    rid, _ = world["patient"].add(wid, "profile/allergies", "AllergyIntolerance", ALLERGY)
    new = world["patient-new"]
    new.publish_keys()
    world["hospital"].start_recovery(wid, world.address("patient-new"))
    with pytest.raises(WalletError, match="can finish at height"):
        new.finish_recovery(wid)
    world.test.mine(10)
    new.finish_recovery(wid)
    assert new.my_wallet() == wid
    grant = new.wallet(wid)["recovered_grant"]
    assert new.rewrap(wid, grant) == 1
    assert new.read(wid, rid).payload.body == ALLERGY
    assert len(new.history(wid, rid)["versions"]) == 2


def test_batch_of_records_is_all_or_nothing(world: WalletWorld) -> None:
    wid = world.setup()
    rids = world["patient"].add_many(wid, [("activities", "file", b"one", "a.txt"),
                                           ("profile/allergies", "AllergyIntolerance", ALLERGY,
                                            "")])
    assert [world["patient"].read(wid, r).payload.body for r in rids] == [b"one", ALLERGY]
    scan = os.urandom(300 * 1024)  # sealed in place, stored as two leaves and a root
    [big] = world["patient"].add_many(wid, [("activities", "file", scan, "scan.dcm")])
    assert world["patient"].read(wid, big).payload.body == scan
    _, tx = world["patient"].submit_add_many(wid, [("activities", "file", b"two", ""),
                                                       ("profile", "file", b"no", "")])
    with pytest.raises(WalletError, match="profile sections"):
        world.chain.wait(tx)
    assert len(world["patient"].records(wid)) == 3
