"""Patient review (flag → correction or reasoned rejection, all kept) and role caps (§3.2.1)."""

from __future__ import annotations

import json

import pytest

from learnchain.apps.wallet import review_client as rc
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
from learnchain.core.crypto import PrivateKey
from learnchain.privacy.errors import AccessDenied
from learnchain.testing import dev_key

CONDITION = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
             "code": {"text": "asthma"}, "clinicalStatus": {"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                 "code": "active"}]}}


def _body(text: str) -> bytes:
    return json.dumps({**CONDITION, "code": {"text": text}}).encode()


@pytest.fixture
def world() -> WalletWorld:
    return WalletWorld.create()


def _case(world: WalletWorld) -> tuple[bytes, bytes]:
    wid = world.setup()
    world["patient"].grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses,
                           2, write=True)
    rid, _ = world["doctor-a"].add(wid, "profile", "Condition", _body("asthma, severe"))
    return wid, rid


def test_flag_corrected_then_flag_rejected_all_in_history(world: WalletWorld) -> None:
    wid, rid = _case(world)
    patient, doctor = world["patient"], world["doctor-a"]
    n = rc.flag(patient, wid, rid, 1, "it was mild, see my spirometry", world.proxy_addresses, 2)
    [entry] = rc.flags(patient, wid)
    assert entry["professional"] == world.address("doctor-a") and entry["answer"] is None
    assert rc.reason(doctor, wid, entry["note"]) == "it was mild, see my spirometry"
    assert rc.correct(doctor, wid, n, _body("asthma, mild")) == 2
    m = rc.flag(patient, wid, rid, 2, "it is not asthma at all", world.proxy_addresses, 2)
    note = rc.reject(doctor, wid, m, "two positive methacholine tests confirm asthma")
    first, second = rc.flags(patient, wid)
    assert first["answer"]["kind"] == "corrected" and first["answer"]["version"] == 2
    assert second["answer"] == {"kind": "rejected", "note": note,
                                "height": second["answer"]["height"]}
    assert rc.reason(patient, wid, note).startswith("two positive")
    history = patient.history(wid, rid)
    assert len(history["versions"]) == 2  # the flagged version stays
    assert b"severe" in patient.read(wid, rid, 1).payload.body
    assert b"mild" in patient.read(wid, rid, 2).payload.body


def test_review_attacks(world: WalletWorld) -> None:
    wid, rid = _case(world)
    patient, doctor = world["patient"], world["doctor-a"]
    own, _ = patient.add(wid, "profile/allergies", "Condition", _body("self"))
    note, _ = patient.add(wid, "activities/review", "file", b"why")
    with pytest.raises(WalletError, match="not their own entry"):
        patient._tx("flag", {"wallet": wid, "record": own, "version": 1, "note": note})
    with pytest.raises(WalletError, match="the note must be"):
        patient._tx("flag", {"wallet": wid, "record": rid, "version": 1, "note": own})
    n = rc.flag(patient, wid, rid, 1, "wrong", world.proxy_addresses, 2)
    with pytest.raises(WalletError, match="only the professional who wrote"):
        world["doctor-b"]._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "rejected",
                                              "note": rid})
    with pytest.raises(WalletError, match="newer version"):
        doctor._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "corrected",
                                   "version": 1})
    with pytest.raises(WalletError, match="rejection's reason"):
        doctor._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "rejected", "note": rid})
    with pytest.raises(WalletError, match="kind is one of"):
        doctor._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "ignored"})
    rc.reject(doctor, wid, n, "no")
    with pytest.raises(WalletError, match="answered already"):
        rc.reject(doctor, wid, n, "still no")
    with pytest.raises(WalletError, match="only the wallet's owner"):
        world["stranger"]._tx("flag", {"wallet": wid, "record": rid, "version": 1,
                                       "note": rid})


def test_researcher_role_cap_holds_even_when_patient_over_grants(world: WalletWorld) -> None:
    """An identity that is a professional and then also registered as researcher (a
    pharmaceutical role) loses raw profile and identification reads under a grant it holds."""
    wid = world.setup()
    world["doctor-b"]  # holds the professional role
    ident, _ = world["patient"].add(wid, "identification", "Patient", json.dumps(
        {"resourceType": "Patient", "birthDate": "1980-01-01"}).encode())
    rid, _ = world["patient"].add(wid, "profile/allergies", "Condition", _body("x"))
    world["patient"].grant(wid, world.address("doctor-b"), ["identification", "profile"],
                           world.proxy_addresses, 2)
    world[INSTITUTION].authorise(world.address("doctor-b"))
    assert b"1980" in world["doctor-b"].read(wid, ident).payload.body
    hospital: PrivateKey = dev_key(INSTITUTION)
    world.chain.wait(world.chain.send(hospital, "identity", "register", {
        "address": world.address("doctor-b"), "role": "researcher"}))
    for record in (ident, rid):
        with pytest.raises(AccessDenied, match="role does not allow"):
            world["doctor-b"].read(wid, record)
    with pytest.raises(WalletError, match="roles do not allow"):
        world["patient"].grant(wid, world.address("doctor-b"), ["profile"],
                               world.proxy_addresses, 2)
