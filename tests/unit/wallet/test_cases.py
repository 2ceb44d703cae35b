"""Professional collaboration (§3.1.3, §3.2.1): a treating professional brings a colleague into
a case with the patient's on-chain consent; a per-case contributor log; and the attacks."""

from __future__ import annotations

import json

import pytest

from learnchain.apps.wallet import case_client as cc
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
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


def _case(world: WalletWorld) -> tuple[bytes, bytes, bytes, bytes]:
    """Doctor A treats the patient (read-write grant on profile) and opens a case on it;
    doctor B is authorised by the hospital too. Returns (wallet, case, A's record, ident)."""
    wid = world.setup()
    patient = world["patient"]
    ident, _ = patient.add(wid, "identification", "Patient", json.dumps(
        {"resourceType": "Patient", "birthDate": "1980-01-01",
         "name": [{"family": "Secret"}]}).encode())
    patient.grant(wid, world.address("doctor-a"), ["identification", "profile"],
                  world.proxy_addresses, 2, write=True)
    rid, _ = world["doctor-a"].add(wid, "profile", "Condition", _body("asthma, severe"))
    world[INSTITUTION].authorise(world.address("doctor-b"))
    cid = cc.open_case(world["doctor-a"], wid, ["profile"])
    return wid, cid, rid, ident


def test_colleague_reads_and_contributes_with_consent_and_the_log_says_who(
        world: WalletWorld) -> None:
    wid, cid, rid, ident = _case(world)
    a, b, patient = world["doctor-a"], world["doctor-b"], world["patient"]
    cc.invite(a, cid, world.address("doctor-b"))
    gid = cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2)
    assert b"severe" in b.read(wid, rid).payload.body  # through the proxies
    note, _ = b.add(wid, "profile", "Condition", _body("second opinion: moderate"))
    a.add(wid, "profile", "Condition", _body("asthma, moderate"), record=rid)
    log = cc.contributors(patient, cid)
    assert [(e["by"], e["role"], e["record"], e["version"]) for e in log] == [
        (world.address("doctor-b"), "colleague", note, 1),
        (world.address("doctor-a"), "lead", rid, 2)]
    assert all(e["institution"] == world.address(INSTITUTION) for e in log)
    assert cc.contributors(patient, cid, by=world.address("doctor-b")) == [log[0]]
    # the colleague's reads are in the patient's access log, under the case grant
    assert any(e["grantee"] == world.address("doctor-b") and e["grant"] == gid
               for e in patient.log(wid))
    members = cc.case(patient, cid)["members"]
    assert members[0]["colleague"] == world.address("doctor-b") and members[0]["grant"] == gid
    # scoped to the case's layers: never identification through the case
    with pytest.raises(AccessDenied):
        b.read(wid, ident)


def test_colleague_without_consent_gets_nothing(world: WalletWorld) -> None:
    wid, cid, rid, _ = _case(world)
    a, b = world["doctor-a"], world["doctor-b"]
    with pytest.raises(AccessDenied, match="no active grant"):
        b.read(wid, rid)  # not even invited
    cc.invite(a, cid, world.address("doctor-b"))
    with pytest.raises(AccessDenied, match="no active grant"):
        b.read(wid, rid)  # invited, but the patient has not consented
    lead_grant = next(g for g in world.chain.query("grants", {"wallet": wid})
                      if g["grantee"] == world.address("doctor-a"))
    with pytest.raises(AccessDenied, match="not the grantee"):
        b.read(wid, rid, grant=lead_grant["id"])  # the lead's grant serves only the lead
    with pytest.raises(WalletError, match="no active write grant"):
        b.add(wid, "profile", "Condition", _body("sneaked in"))
    with pytest.raises(WalletError, match="only the wallet's owner"):  # nobody consents for her
        a._tx("consent_colleague", {
            "case": cid, "colleague": world.address("doctor-b"), "grant": b"\x01" * 16,
            "grantee_pk": b.umbral.public_bytes, "proxies": world.proxy_addresses,
            "threshold": 2})
    assert cc.contributors(world["patient"], cid) == []


def test_withdrawn_consent_and_closed_case_stop_further_access(world: WalletWorld) -> None:
    wid, cid, rid, _ = _case(world)
    a, b, patient = world["doctor-a"], world["doctor-b"], world["patient"]
    cc.invite(a, cid, world.address("doctor-b"))
    gid = cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2)
    assert b"severe" in b.read(wid, rid).payload.body
    assert cc.withdraw(patient, cid, world.address("doctor-b")) == []
    with pytest.raises(AccessDenied):
        b.read(wid, rid)
    with pytest.raises(AccessDenied):
        b.read(wid, rid, grant=gid)
    for service in world.services.values():  # every proxy dropped its fragment
        assert service._kfrag_cache.get(gid) is None
    with pytest.raises(WalletError, match="no active write grant"):
        b.add(wid, "profile", "Condition", _body("after withdrawal"))
    with pytest.raises(WalletError, match="withdrawn already"):
        patient._tx("withdraw_consent", {"case": cid, "colleague": world.address("doctor-b")})
    # a closed case revokes every colleague grant; only lead or patient close it
    cid2 = cc.open_case(a, wid, ["profile"])
    cc.invite(a, cid2, world.address("doctor-b"))
    gid2 = cc.consent(patient, cid2, world.address("doctor-b"), world.proxy_addresses, 2)
    with pytest.raises(WalletError, match="only the treating professional or the patient"):
        cc.close(b, cid2)
    cc.close(patient, cid2)
    assert world.chain.query("grant_info", {"grant": gid2})["revoked"] is not None
    with pytest.raises(AccessDenied):
        b.read(wid, rid, grant=gid2)


def test_role_caps_hold_in_a_case_even_when_the_patient_over_grants(world: WalletWorld) -> None:
    """A colleague who also holds the researcher (pharmaceutical) role never reads profile or
    identification, although the patient consented to a profile case grant."""
    wid, cid, rid, ident = _case(world)
    a, b, patient = world["doctor-a"], world["doctor-b"], world["patient"]
    cc.invite(a, cid, world.address("doctor-b"))
    gid = cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2)
    patient.grant(wid, world.address("doctor-b"), ["identification"], world.proxy_addresses, 2)
    assert b"severe" in b.read(wid, rid, grant=gid).payload.body
    world.chain.wait(world.chain.send(dev_key(INSTITUTION), "identity", "register", {
        "address": world.address("doctor-b"), "role": "researcher"}))
    for record in (rid, ident):
        with pytest.raises(AccessDenied, match="role does not allow"):
            b.read(wid, record)
    # and a capped identity cannot be consented into a profile case at all
    cid2 = cc.open_case(a, wid, ["profile"])
    cc.invite(a, cid2, world.address("doctor-b"))
    with pytest.raises(WalletError, match="roles do not allow"):
        cc.consent(patient, cid2, world.address("doctor-b"), world.proxy_addresses, 2)


def test_case_rules(world: WalletWorld) -> None:
    wid = world.setup()
    a, b, patient = world["doctor-a"], world["doctor-b"], world["patient"]
    with pytest.raises(WalletError, match="holds no live grant"):
        cc.open_case(a, wid, ["profile"])  # not treating this patient
    patient.grant(wid, world.address("doctor-b"), ["profile"], world.proxy_addresses, 2)
    with pytest.raises(WalletError, match="institution's authorisation"):
        cc.open_case(b, wid, ["profile"])  # doctor B is not authorised by an institution
    patient.grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2)
    with pytest.raises(WalletError, match="not identification"):
        cc.open_case(a, wid, ["identification"])
    cid = cc.open_case(a, wid, ["profile"])
    with pytest.raises(WalletError, match="colleague needs an institution"):
        cc.invite(a, cid, world.address("doctor-b"))
    with pytest.raises(WalletError, match="must be registered as professional"):
        cc.invite(a, cid, world.address("researcher"))
    world[INSTITUTION].authorise(world.address("doctor-b"))
    with pytest.raises(WalletError, match="only the case's treating professional"):
        cc.invite(b, cid, world.address("doctor-b"))
    with pytest.raises(WalletError, match="has not invited"):
        cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2)
    cc.invite(a, cid, world.address("doctor-b"))
    with pytest.raises(WalletError, match="in the case already"):
        cc.invite(a, cid, world.address("doctor-b"))
    cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2, write=False)
    with pytest.raises(WalletError, match="consent was given already"):
        cc.consent(patient, cid, world.address("doctor-b"), world.proxy_addresses, 2)
    with pytest.raises(WalletError, match="no active write grant"):  # read-only consent
        b.add(wid, "profile", "Condition", _body("x"))
