"""The dedicated /v1/wallet routes and the Python client's wallet methods over real HTTP:
the study flow end to end (publish, match, opt in, deliver, pay) against a live node, and the
forum, review, collaboration and reward views with their `{error, detail}` errors."""

from __future__ import annotations

import json

import pytest

from learnchain.apps.wallet import case_client as cc
from learnchain.apps.wallet import forum_client as fc
from learnchain.apps.wallet import review_client as rc
from learnchain.apps.wallet import reward_client as rw
from learnchain.apps.wallet.proxy_http import ThreadedServer
from learnchain.apps.wallet.service import WalletNodeService
from learnchain.apps.wallet.study_scenario import study_scenario
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
from learnchain.client import Client, TransactionFailed
from learnchain.net.api import create_app
from learnchain.net.client import ApiClientError
from learnchain.storage.content import LocalContentStore
from learnchain.testing import dev_genesis, dev_key, make_node

CONDITION = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001"}]},
             "clinicalStatus": {"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                 "code": "active"}]}}
ENCOUNTER = {"resourceType": "Encounter", "status": "completed",
             "subject": {"reference": "Patient/1"}}


def _wall_clock():
    from learnchain.core.chain import wall_clock_ms

    return wall_clock_ms


@pytest.fixture
def live_node(tmp_path):
    genesis = dev_genesis(members=("miner",), extra_apps=["wallet"],
                          funded={"miner": 10_000_000})
    test = make_node(genesis, database=str(tmp_path / "chain.sqlite"))
    test.node.min_block_interval_ms = 200
    test.node.chain.clock = _wall_clock()
    api = create_app(test.node)
    service = WalletNodeService(test.node, LocalContentStore(tmp_path / "content.sqlite"))
    service.mount(api)
    service.start()
    test.node.start()
    with ThreadedServer(api) as server:
        yield server.url
    test.node.stop()
    service.stop()


def test_study_flow_over_http_with_exact_balances(live_node) -> None:
    report = study_scenario([live_node], dev_key("miner"))
    assert report["ok"], report["checks"]
    assert report["matched"] == 2
    assert report["counts"]["paid"] == 2 and report["counts"]["delivered"] == 2


@pytest.fixture
def world():
    """A wallet world whose node produces blocks by itself (wall clock), served over HTTP."""
    w = WalletWorld.create(funded={INSTITUTION: 100_000})
    w.chain._mine = None
    w.test.node.chain.clock = _wall_clock()
    w.test.node.min_block_interval_ms = 100
    api = create_app(w.test.node)
    WalletNodeService(w.test.node, w.store).mount(api)
    w.test.node.start()
    with ThreadedServer(api) as server:
        yield w, Client(server.url)
    w.test.node.stop()


def test_forum_review_case_and_reward_views(world) -> None:
    w, node = world
    wid = w.setup()
    patient, doctor_a, hospital = w["patient"], w["doctor-a"], w[INSTITUTION]
    patient.grant(wid, w.address("doctor-a"), ["profile"], w.proxy_addresses, 2, write=True)
    record, _ = doctor_a.add(wid, "profile", "Condition", json.dumps(CONDITION).encode())

    # forums: open, badge, join, post through the client, search by condition
    fid = fc.open_forum(hospital, "195967001", "asthma")
    fc.open_forum(hospital, "44054006", "diabetes")
    pseudonym = fc.pseudonym_key(patient, fid)
    fc.join(patient, fid, fc.issue_badge(doctor_a, fid, pseudonym.address, wid, record))
    assert node.forum_post(pseudonym, fid, patient.content.put(b"hello")) == 0
    [forum] = node.forums("195967001")
    assert forum["members"] == 1 and forum["posts"] == 1 and forum["title"] == "asthma"
    [member] = node.search_forums("195967001")
    assert member["pseudonym"] == "0x" + pseudonym.address.hex()
    assert member["badge"]["professional"] == "0x" + w.address("doctor-a").hex()
    assert "0x" + w.address("patient").hex() not in json.dumps(node.forums())
    assert node.forum_posts(fid)[0]["by"] == member["pseudonym"]
    assert len(node.forums()) == 2 and node.search_forums("000000") == []

    # review: flag in the wallet, answer through the client, read through the route
    n = rc.flag(patient, wid, record, 1, "not asthma", w.proxy_addresses, 2)
    doctor_a.add(wid, "profile", "Condition", json.dumps(CONDITION).encode(), record=record)
    node.answer_flag(dev_key("doctor-a"), wid, n, corrected_version=2)
    [flag] = node.flags(wid)
    assert flag["flag"] == n and flag["answer"]["kind"] == "corrected"
    assert flag["answer"]["version"] == 2

    # collaboration: open and invite through the client, consent in the wallet
    w[INSTITUTION].authorise(w.address("doctor-b"))
    case = node.open_case(dev_key("doctor-a"), wid, ["profile"])
    node.invite_colleague(dev_key("doctor-a"), case, w.address("doctor-b"))
    cc.consent(patient, bytes.fromhex(case[2:]), w.address("doctor-b"), w.proxy_addresses, 2)
    w["doctor-b"].add(wid, "profile", "Condition", json.dumps(CONDITION).encode())
    [entry] = node.case_contributors(case)
    assert entry["by"] == "0x" + w.address("doctor-b").hex() and entry["role"] == "colleague"
    assert node.case_contributors(case, by=w.address("doctor-a")) == []
    assert node.case(case)["members"][0]["grant"] is not None
    assert [c["id"] for c in node.wallet_cases(wid)] == [case]

    # rewards: open through the client, claim once, exact balances
    start = node.balance(w.address(INSTITUTION))
    programme = node.open_reward(dev_key(INSTITUTION), "Encounter", amount=30, slots=2,
                                 deadline=node.height() + 500)
    checkup, _ = doctor_a.add(wid, "profile", "Encounter", json.dumps(ENCOUNTER).encode())
    before = node.balance(w.address("patient"))
    assert node.claim_reward(dev_key("patient"), programme, wid, checkup) == 30
    assert node.balance(w.address("patient")) == before + 30  # no fees on this chain
    with pytest.raises(TransactionFailed, match="rewarded already"):
        node.claim_reward(dev_key("patient"), programme, wid, checkup)
    view = node.reward_programme(programme)
    assert view["paid"] == 1 and view["escrow_left"] == 30
    assert node.balance(w.address(INSTITUTION)) == start - 60
    assert rw.programme(patient, bytes.fromhex(programme[2:]))["rtype"] == "Encounter"


def test_route_errors_are_json(world) -> None:
    _, node = world
    for path, status, kind in (("/v1/wallet/studies/0x00", 400, "bad-hex"),
                               ("/v1/wallet/studies/zz", 400, "bad-hex"),
                               ("/v1/wallet/studies/0x" + "00" * 8, 404, "not-found"),
                               ("/v1/wallet/cases/0x" + "00" * 16, 404, "not-found"),
                               ("/v1/wallet/forums/0x" + "00" * 8 + "/members", 404,
                                "not-found"),
                               ("/v1/wallet/wallets/0x" + "00" * 20 + "/flags", 404,
                                "not-found"),
                               ("/v1/wallet/rewards/0x" + "11" * 8, 404, "not-found")):
        response = node.http.get(path)
        assert response.status_code == status, path
        assert response.json()["error"] == kind and response.json()["detail"], path
    with pytest.raises(ApiClientError, match="no such study"):
        node.study("0x" + "00" * 8)
    assert node.studies() == []
