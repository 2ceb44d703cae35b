"""Studies with rewards: publish, local matching, opt-in, delivery, payment, withdrawal, refund,
with exact balances, and the attacks of issue 14."""

from __future__ import annotations

import json

import pytest

from learnchain.apps.wallet import study_client as sc
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.studies import study_layer
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
from learnchain.privacy.errors import AccessDenied

ASTHMA = "195967001"
CRITERIA = {"condition": ASTHMA, "age_min": 30, "age_max": 60, "reference_date": "2026-01-01"}
FIELDS = ["age_band", "obs:19935-6"]
BUDGET, REWARD, SLOTS = 10_000, 100, 3
PATIENTS = {"p-a": ("1980-05-01", ASTHMA), "p-b": ("1975-02-02", ASTHMA),
            "p-old": ("1940-01-01", ASTHMA), "p-other": ("1980-05-01", "44054006")}


def _records(born: str, code: str) -> list[tuple[str, str, bytes, str]]:
    ref = {"reference": "Patient/x"}
    docs = [("identification", {"resourceType": "Patient", "birthDate": born, "gender": "female",
                                "name": [{"family": "Secret-" + born}]}),
            ("profile/self-reported", {
                "resourceType": "Condition", "subject": ref,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}})]
    for value in (400.0, 420.5, 410.0):
        docs.append(("profile/self-reported", {
            "resourceType": "Observation", "status": "final", "subject": ref,
            "code": {"coding": [{"system": "http://loinc.org", "code": "19935-6"}]},
            "valueQuantity": {"value": value, "unit": "L/min"}}))
    return [(layer, doc["resourceType"], json.dumps(doc).encode(), "") for layer, doc in docs]


@pytest.fixture
def world() -> WalletWorld:
    world = WalletWorld.create(extra={n: "patient" for n in PATIENTS},
                               funded={"researcher": BUDGET})
    world.setup()
    world[INSTITUTION].authorise(world.address("researcher"))
    return world


def _open(world: WalletWorld, name: str) -> bytes:
    wid = world[name].open(world.address(INSTITUTION))
    world[name].add_many(wid, _records(*PATIENTS[name]))
    return wid


def _balance(world: WalletWorld, name: str) -> int:
    return world.test.balance(name)


def _publish(world: WalletWorld, deadline: int = 60) -> bytes:
    return sc.publish(world["researcher"], CRITERIA, FIELDS, REWARD, SLOTS,
                      world.chain.height() + deadline)


def _join(world: WalletWorld, name: str, wid: bytes, sid: bytes) -> bytes:
    patient = world[name]
    profile = sc.my_profile(patient, wid)
    [study] = [s for s in sc.eligible_studies(patient, profile) if s["id"] == sid]
    return sc.opt_in(patient, wid, study, profile, world.proxy_addresses, 2)


def test_study_end_to_end_with_exact_balances(world: WalletWorld) -> None:
    wallets = {n: _open(world, n) for n in PATIENTS}
    sid = _publish(world)
    assert _balance(world, "researcher") == BUDGET - REWARD * SLOTS
    eligible = {n for n in PATIENTS
                if sc.eligible_studies(world[n], sc.my_profile(world[n], wallets[n]))}
    assert eligible == {"p-a", "p-b"}
    pids = {n: _join(world, n, wallets[n], sid) for n in ("p-a", "p-b")}
    data = sc.collect(world["researcher"], sid)
    assert set(data) == set(pids.values())
    for record in data.values():  # exactly what was asked for, nothing else
        assert set(record) == {"study", "participant", "age_band", "obs:19935-6"}
        assert record["obs:19935-6"] == [20.5, -10.5]
    assert data[pids["p-a"]]["age_band"] == "40-49"
    world.test.mine()  # the proxies' log transactions: the deliveries
    for name in ("p-a", "p-b"):
        assert sc.claim(world[name], sid, pids[name]) == REWARD
        assert _balance(world, name) == REWARD
        log = world[name].log(wallets[name])
        assert {e["grantee"] for e in log} == {world.address("researcher")}
        assert len(log) == 2  # two proxies served the one read, both logged it
    while world.chain.height() < world.chain.query("study", {"study": sid})["deadline"]:
        world.test.mine()
    assert sc.close(world["researcher"], sid) == REWARD  # the unused third slot
    assert _balance(world, "researcher") == BUDGET - 2 * REWARD
    assert world.test.chain.query("bank", "escrow", {
        "app": "wallet", "escrow": "study/" + sid.hex()}) == 0


def test_no_claim_without_delivery_and_no_double_claim(world: WalletWorld) -> None:
    wid = _open(world, "p-a")
    sid = _publish(world)
    pid = _join(world, "p-a", wid, sid)
    with pytest.raises(WalletError, match="no delivery"):
        sc.claim(world["p-a"], sid, pid)
    sc.collect(world["researcher"], sid)
    world.test.mine()
    sc.claim(world["p-a"], sid, pid)
    with pytest.raises(WalletError, match="paid already"):
        sc.claim(world["p-a"], sid, pid)
    with pytest.raises(WalletError, match="only the participating wallet's owner"):
        sc.claim(world["p-b"], sid, pid)
    assert _balance(world, "p-a") == REWARD and _balance(world, "p-b") == 0


def test_one_participation_per_wallet(world: WalletWorld) -> None:
    wid = _open(world, "p-a")
    sid = _publish(world)
    _join(world, "p-a", wid, sid)
    study = world.chain.query("study", {"study": sid})
    with pytest.raises(WalletError, match="takes part in the study already"):
        sc.opt_in(world["p-a"], wid, study, sc.my_profile(world["p-a"], wid),
                  world.proxy_addresses, 2)


def test_study_reads_nothing_beyond_its_sublayer(world: WalletWorld) -> None:
    wid = _open(world, "p-a")
    sid = _publish(world)
    _join(world, "p-a", wid, sid)
    researcher = world["researcher"]
    for record in world["p-a"].records(wid):
        if record["layer"] == study_layer(sid):
            continue
        with pytest.raises(AccessDenied):
            researcher.read(wid, record["record"])
    # nor can a patient widen the study grant: the role cap refuses profile/identification
    for layers in (["profile"], ["identification"], [study_layer(sid), "profile"]):
        with pytest.raises(WalletError, match="roles do not allow"):
            world["p-a"].grant(wid, world.address("researcher"), layers,
                               world.proxy_addresses, 2)


def test_non_participants_leave_no_trace(world: WalletWorld) -> None:
    wallets = {n: _open(world, n) for n in ("p-a", "p-old", "p-other")}
    sid = _publish(world)
    pid = _join(world, "p-a", wallets["p-a"], sid)
    roster = world.chain.query("participants", {"study": sid})
    assert [bytes(e["participant"]) for e in roster] == [pid]
    for name in ("p-old", "p-other"):
        wid = wallets[name]
        assert all(g["grantee"] != world.address("researcher")
                   for g in world.chain.query("grants", {"wallet": wid}))
        assert not any(r["layer"].startswith("activities/study:")
                       for r in world[name].records(wid))
        assert world[name].log(wid) == []
    # the participant id is not the wallet id nor the address, and differs per study
    sid2 = _publish(world)
    pid2 = _join(world, "p-a", wallets["p-a"], sid2)
    assert pid != pid2 and pid[:20] not in (wallets["p-a"], world.address("p-a"))


def test_ineligible_patient_cannot_opt_in(world: WalletWorld) -> None:
    wid = _open(world, "p-old")
    sid = _publish(world)
    study = world.chain.query("study", {"study": sid})
    with pytest.raises(WalletError, match="does not meet"):
        sc.opt_in(world["p-old"], wid, study, sc.my_profile(world["p-old"], wid),
                  world.proxy_addresses, 2)


def test_withdrawn_participant_is_no_longer_served(world: WalletWorld) -> None:
    wid = _open(world, "p-a")
    sid = _publish(world)
    pid = _join(world, "p-a", wid, sid)
    entry = world.chain.query("participation", {"study": sid, "participant": pid})
    sc.withdraw(world["p-a"], sid, pid)
    with pytest.raises((AccessDenied, WalletError)):
        world["researcher"].read(wid, entry["record"], grant=entry["grant"])
    assert sc.collect(world["researcher"], sid) == {}
    assert world.chain.query("study", {"study": sid})["joined"] == 0  # slot freed
    with pytest.raises(WalletError, match="no delivery"):
        sc.claim(world["p-a"], sid, pid)
    with pytest.raises(WalletError, match="withdrew already"):
        sc.withdraw(world["p-a"], sid, pid)


def test_researcher_without_authorisation_cannot_publish(world: WalletWorld) -> None:
    world[INSTITUTION].authorise(world.address("researcher"), revoke=True)
    with pytest.raises(WalletError, match="institution's authorisation"):
        _publish(world)
    with pytest.raises(WalletError, match="only identities registered as researcher"):
        sc.publish(world["doctor-a"], CRITERIA, FIELDS, REWARD, 1, world.chain.height() + 5)
    assert _balance(world, "researcher") == BUDGET


@pytest.mark.parametrize("criteria, fields, match", [
    ({**CRITERIA, "age_min": 70}, FIELDS, "age_min <= age_max"),
    ({**CRITERIA, "extra": 1}, FIELDS, "criteria are"),
    (CRITERIA, ["identification"], "unknown study field"),
    (CRITERIA, [], "1..8 distinct"),
])
def test_bad_studies_are_refused(world: WalletWorld, criteria: dict, fields: list,
                                 match: str) -> None:
    with pytest.raises(WalletError, match=match):
        sc.publish(world["researcher"], criteria, fields, REWARD, 1, world.chain.height() + 5)


def test_close_before_deadline_and_underfunded_are_refused(world: WalletWorld) -> None:
    sid = _publish(world)
    with pytest.raises(WalletError, match="can close at height"):
        sc.close(world["researcher"], sid)
    with pytest.raises(WalletError):
        sc.publish(world["researcher"], CRITERIA, FIELDS, BUDGET, SLOTS,
                   world.chain.height() + 5)
