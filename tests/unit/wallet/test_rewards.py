"""Institution rewards (§3.2.1): an insurer pays patients for verified check-up records, with
exact balances, once per qualifying record, and the unspent escrow returns."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.apps.wallet import reward_client as rw
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld

ENCOUNTER = {"resourceType": "Encounter", "status": "completed",
             "class": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                    "v3-ActCode", "code": "AMB"}]}],
             "subject": {"reference": "Patient/1"}}
BUDGET, AMOUNT, SLOTS = 5_000, 40, 3


@pytest.fixture
def world() -> WalletWorld:
    return WalletWorld.create(funded={INSTITUTION: BUDGET})


def _checkup(world: WalletWorld, wid: bytes, who: str = "doctor-a") -> bytes:
    rid, _ = world[who].add(wid, "profile", "Encounter", json.dumps(ENCOUNTER).encode())
    return rid


def test_insurer_pays_each_verified_checkup_once_and_gets_the_rest_back(
        world: WalletWorld) -> None:
    wid = world.setup()
    insurer, patient = world[INSTITUTION], world["patient"]
    patient.grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2,
                  write=True)
    start = world.test.balance(INSTITUTION)
    before = world.test.balance("patient")
    deadline = world.chain.height() + 30
    pid = rw.open_programme(insurer, "Encounter", AMOUNT, SLOTS, deadline)
    assert world.test.balance(INSTITUTION) == start - AMOUNT * SLOTS
    first, second = _checkup(world, wid), _checkup(world, wid)
    assert rw.claim(patient, pid, wid, first) == AMOUNT
    with pytest.raises(WalletError, match="rewarded already"):
        rw.claim(patient, pid, wid, first)  # double claim
    # a new version of a rewarded record is still the same record
    world["doctor-a"].add(wid, "profile", "Encounter", json.dumps(ENCOUNTER).encode(),
                          record=first)
    with pytest.raises(WalletError, match="rewarded already"):
        rw.claim(patient, pid, wid, first)
    assert rw.claim_all(patient, pid, wid) == [second]
    assert rw.claim_all(patient, pid, wid) == []
    assert world.test.balance("patient") == before + 2 * AMOUNT
    with pytest.raises(WalletError, match="can close at height"):
        rw.close(insurer, pid)
    world.test.mine(deadline - world.chain.height())
    late = _checkup(world, wid)
    with pytest.raises(WalletError, match="past its deadline"):
        rw.claim(patient, pid, wid, late)
    assert rw.close(insurer, pid) == AMOUNT * (SLOTS - 2)
    assert world.test.balance(INSTITUTION) == start - 2 * AMOUNT
    assert world.test.balance("patient") == before + 2 * AMOUNT
    with pytest.raises(WalletError, match="closed already"):
        rw.close(insurer, pid)
    assert rw.programme(patient, pid)["paid"] == 2


def test_only_verified_records_qualify(world: WalletWorld) -> None:
    wid = world.setup()
    insurer, patient = world[INSTITUTION], world["patient"]
    pid = rw.open_programme(insurer, "Encounter", AMOUNT, SLOTS, world.chain.height() + 100)
    pid_act = rw.open_programme(insurer, "Encounter", AMOUNT, 1, world.chain.height() + 100,
                                layer="activities")
    # records added before a programme opened do not qualify for it
    early = world.chain.height()
    # the patient's own check-up entry does not qualify
    own, _ = patient.add(wid, "activities/diary", "Encounter", json.dumps(ENCOUNTER).encode())
    with pytest.raises(WalletError, match="not in 'profile'"):
        rw.claim(patient, pid, wid, own)
    with pytest.raises(WalletError, match="patient's own entries"):
        rw.claim(patient, pid_act, wid, own)
    pid_late = rw.open_programme(insurer, "Encounter", AMOUNT, 1, world.chain.height() + 100,
                                 layer="activities")
    assert world.chain.query("reward_programme", {"programme": pid_late})["opened"] > early
    with pytest.raises(WalletError, match="no version was added in the programme's window"):
        rw.claim(patient, pid_late, wid, own)
    # a professional without institution authorisation does not verify anything
    patient.grant(wid, world.address("doctor-b"), ["profile"], world.proxy_addresses, 2,
                  write=True)
    unverified = _checkup(world, wid, "doctor-b")
    with pytest.raises(WalletError, match="not authorised by an institution"):
        rw.claim(patient, pid, wid, unverified)
    # the wrong record type does not qualify
    patient.grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2,
                  write=True)
    condition, _ = world["doctor-a"].add(wid, "profile", "Condition", json.dumps({
        "resourceType": "Condition", "subject": {"reference": "Patient/1"},
        "code": {"text": "asthma"}, "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]}}).encode())
    with pytest.raises(WalletError, match="pays for Encounter records"):
        rw.claim(patient, pid, wid, condition)
    # a programme limited to other institutions' professionals refuses doctor A's record
    pid_other = rw.open_programme(insurer, "Encounter", AMOUNT, 1, world.chain.height() + 100,
                                  institutions=[world.address("miner")])
    good = _checkup(world, wid)
    with pytest.raises(WalletError, match="one of the programme's institutions"):
        rw.claim(patient, pid_other, wid, good)
    # someone else cannot claim the patient's reward
    with pytest.raises(WalletError, match="only the wallet's owner"):
        rw.claim(world["stranger"], pid, wid, good)
    assert rw.claim(patient, pid, wid, good) == AMOUNT


def test_slots_bound_the_payout_and_funding_rules(world: WalletWorld) -> None:
    wid = world.setup()
    insurer, patient = world[INSTITUTION], world["patient"]
    patient.grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2,
                  write=True)
    pid = rw.open_programme(insurer, "Encounter", AMOUNT, 1, world.chain.height() + 100)
    one, two = _checkup(world, wid), _checkup(world, wid)
    rw.claim(patient, pid, wid, one)
    with pytest.raises(WalletError, match="paid all its slots"):
        rw.claim(patient, pid, wid, two)
    with pytest.raises(WalletError, match="consortium member or a registered institution"):
        rw.open_programme(patient, "Encounter", 1, 1, world.chain.height() + 10)
    with pytest.raises(WalletError, match="FHIR record type"):
        rw.open_programme(insurer, "file", 1, 1, world.chain.height() + 10)
    with pytest.raises(WalletError, match=r"insufficient|balance"):
        rw.open_programme(insurer, "Encounter", BUDGET, 2, world.chain.height() + 10)


_SHARED: dict[str, object] = {}


def _shared_world() -> tuple[WalletWorld, bytes]:
    """One world for every example (building one costs more than an example)."""
    if not _SHARED:
        w = WalletWorld.create(funded={INSTITUTION: 10**9})
        wid = w.setup()
        w["patient"].grant(wid, w.address("doctor-a"), ["profile"], w.proxy_addresses, 2,
                           write=True)
        _SHARED.update(world=w, wid=wid)
    return _SHARED["world"], _SHARED["wid"]  # type: ignore[return-value]


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(records=st.integers(1, 4), slots=st.integers(1, 4), amount=st.integers(1, 1000),
       claims=st.lists(st.integers(0, 3), max_size=8))
def test_rewards_conserve_money_and_pay_each_record_at_most_once(
        records: int, slots: int, amount: int, claims: list[int]) -> None:
    world, wid = _shared_world()
    insurer, patient = world[INSTITUTION], world["patient"]
    total = world.test.balance(INSTITUTION) + world.test.balance("patient")
    deadline = world.chain.height() + 2 + records + len(claims) * 2
    pid = rw.open_programme(insurer, "Encounter", amount, slots, deadline)
    rids = [_checkup(world, wid) for _ in range(records)]
    paid: list[bytes] = []
    for i in claims:
        if i >= records:
            continue
        try:
            rw.claim(patient, pid, wid, rids[i])
            paid.append(rids[i])
        except WalletError as exc:
            assert rids[i] in paid or len(paid) == slots, exc
        escrow = world.test.node.chain.query("wallet", "reward_programme", {"programme": pid})
        assert escrow["paid"] == len(paid)
    assert len(set(paid)) == len(paid) == min(len({i for i in claims if i < records}), slots)
    world.test.mine(max(0, deadline - world.chain.height()))
    assert rw.close(insurer, pid) == amount * (slots - len(paid))
    assert world.test.balance(INSTITUTION) + world.test.balance("patient") == total
