"""The collab app through real blocks: deposits, refunds, takes, points, fees, deployment."""

from __future__ import annotations

import re

import pytest

from learnchain.apps.collab.agents import DAY_S, LocalChain, TxFailed, agent_keys
from learnchain.apps.collab.encoders import encode_dense
from learnchain.apps.collab.models import (
    DictStore,
    NaiveBayes,
    dense_perceptron_from_weights,
    from_json,
    sparse_perceptron_from_weights,
    to_json,
)

KEYS = agent_keys(["owner", "alice", "bob", "carol", "dave"], seed=b"collab-app-test")
FUND = 10**9
STAKE = {"refund_wait_s": DAY_S, "owner_wait_s": 9 * DAY_S, "any_wait_s": 10 * DAY_S,
         "cost_weight": 1000}


def new_chain() -> LocalChain:
    return LocalChain({k.address: FUND for k in KEYS.values()})


def deploy(chain: LocalChain, mechanism: str = "stakeable", params: dict | None = None) -> int:
    # feature 1 is positive, feature 2 negative: a model that already knows a little
    model = sparse_perceptron_from_weights({1: 3 * 10**9, 2: -(10**9)})
    result = chain.call(KEYS["owner"], "create_model", {
        "model": model.export(), "mechanism": mechanism, "name": "spam",
        "mechanism_params": STAKE if params is None else params,
        "encoder": {"type": "murmurhash3"}})
    return result["model_id"]


def add(chain: LocalChain, who: str, data: list[int], label: int, deposit: int = 10**7) -> dict:
    return chain.call(KEYS[who], "add_data", {"model_id": 0, "data": data, "label": label,
                                              "deposit": deposit})


def bal(chain: LocalChain, who: str) -> int:
    return chain.balance(KEYS[who].address)


def test_stakeable_scenario_with_exact_balances() -> None:
    chain = new_chain()
    t0 = chain.time
    assert deploy(chain) == 0
    chain.set_time(t0 + 100)                    # 100 s after creation: 3_600_000 // 10
    assert chain.query("deposit_cost", {"model_id": 0, "now": t0 + 100}) == 360_000
    with pytest.raises(TxFailed, match=re.escape("Didn't pay enough for the deposit.")):
        add(chain, "alice", [1, 3], 1, deposit=359_999)
    assert add(chain, "alice", [1, 3], 1) == {"contribution": 0, "deposit": 360_000,
                                              "time": t0 + 100}
    assert bal(chain, "alice") == FUND - 360_000           # the excess was never taken
    chain.set_time(t0 + 104)                    # 4 s later: 3_600_000 // 2
    add(chain, "bob", [1], 0)                   # a wrong label: model says 1
    assert bal(chain, "bob") == FUND - 1_800_000
    chain.set_time(t0 + 104)                    # same second: divisor 1
    add(chain, "carol", [2], 0)
    assert bal(chain, "carol") == FUND - 3_600_000
    assert chain.escrow(0) == 360_000 + 1_800_000 + 3_600_000

    # Alice: one second early, then exactly at the wait
    chain.set_time(t0 + 100 + DAY_S - 1)
    with pytest.raises(TxFailed, match=re.escape("Not enough time has passed.")):
        chain.call(KEYS["alice"], "refund", {"model_id": 0, "contribution": 0})
    chain.set_time(t0 + 100 + DAY_S)
    assert chain.call(KEYS["alice"], "refund", {"model_id": 0, "contribution": 0})["amount"] \
        == 360_000
    with pytest.raises(TxFailed, match=re.escape("Deposit already claimed by submitter.")):
        chain.call(KEYS["alice"], "refund", {"model_id": 0, "contribution": 0})
    with pytest.raises(TxFailed, match=re.escape("Data is not from the sender.")):
        chain.call(KEYS["bob"], "refund", {"model_id": 0, "contribution": 0})
    with pytest.raises(TxFailed, match=re.escape("Data not found.")):
        chain.call(KEYS["bob"], "refund", {"model_id": 0, "contribution": 9})

    chain.set_time(t0 + 104 + DAY_S)
    with pytest.raises(TxFailed,
                       match=re.escape("The model doesn't agree with your contribution.")):
        chain.call(KEYS["bob"], "refund", {"model_id": 0, "contribution": 1})
    with pytest.raises(TxFailed, match=re.escape("The sender has not sent any good data.")):
        chain.call(KEYS["dave"], "report", {"model_id": 0, "contribution": 1})
    with pytest.raises(TxFailed, match=re.escape("Cannot take your own deposit.")):
        chain.call(KEYS["bob"], "report", {"model_id": 0, "contribution": 1})
    with pytest.raises(TxFailed,
                       match=re.escape("The model should not agree with the contribution.")):
        chain.call(KEYS["alice"], "report", {"model_id": 0, "contribution": 2})
    # Carol is refunded (2 good in total); Alice then takes 1/2 of Bob's deposit
    chain.call(KEYS["carol"], "refund", {"model_id": 0, "contribution": 2})
    assert chain.call(KEYS["alice"], "report", {"model_id": 0, "contribution": 1})["amount"] \
        == 1_800_000 * 1 // 2
    with pytest.raises(TxFailed, match=re.escape("Deposit already claimed by reporter.")):
        chain.call(KEYS["alice"], "report", {"model_id": 0, "contribution": 1})
    assert chain.call(KEYS["carol"], "report", {"model_id": 0, "contribution": 1})["amount"] \
        == 900_000                                # 1_800_000 // 2 == what is left
    assert bal(chain, "alice") == FUND + 900_000
    assert bal(chain, "carol") == FUND + 900_000
    assert bal(chain, "bob") == FUND - 1_800_000
    assert chain.escrow(0) == 0

    people = {row["address"]: row for row in chain.query("contributors", {"model_id": 0})}
    assert people[KEYS["alice"].address]["good"] == 1
    assert people[KEYS["alice"].address]["reports"] == 1
    assert people[KEYS["bob"].address]["good"] == 0


def test_owner_and_any_address_take_all_on_chain() -> None:
    chain = new_chain()
    t0 = chain.time
    deploy(chain)
    add(chain, "bob", [1], 0)                   # 3_600_000 (same second as creation)
    add(chain, "carol", [1], 0)                 # again same second
    assert chain.escrow(0) == 7_200_000
    chain.set_time(t0 + 9 * DAY_S - 1)
    with pytest.raises(TxFailed, match=re.escape("The sender has not sent any good data.")):
        chain.call(KEYS["owner"], "report", {"model_id": 0, "contribution": 0})
    chain.set_time(t0 + 9 * DAY_S)
    assert chain.call(KEYS["owner"], "report", {"model_id": 0, "contribution": 0})["amount"] \
        == 3_600_000
    with pytest.raises(TxFailed, match=re.escape("The sender has not sent any good data.")):
        chain.call(KEYS["dave"], "report", {"model_id": 0, "contribution": 1})
    chain.set_time(t0 + 10 * DAY_S)
    assert chain.call(KEYS["dave"], "report", {"model_id": 0, "contribution": 1})["amount"] \
        == 3_600_000
    with pytest.raises(TxFailed, match=re.escape("There is no reward left to claim.")):
        chain.call(KEYS["alice"], "report", {"model_id": 0, "contribution": 1})
    assert chain.escrow(0) == 0
    assert bal(chain, "dave") == FUND + 3_600_000


def test_points_mechanism_paid_predictions_and_badges() -> None:
    chain = new_chain()
    t0 = chain.time
    deploy(chain, "points", {"refund_wait_s": DAY_S})
    add(chain, "alice", [1], 1, deposit=0)
    add(chain, "bob", [1, 3], 1, deposit=0)
    add(chain, "carol", [2], 1, deposit=0)      # wrong
    add(chain, "carol", [1], 0, deposit=0)      # wrong (w1 drops to 2e9: still 1)
    assert chain.escrow(0) == 0
    chain.set_time(t0 + DAY_S)
    chain.call(KEYS["alice"], "refund", {"model_id": 0, "contribution": 0})
    chain.call(KEYS["bob"], "refund", {"model_id": 0, "contribution": 1})
    with pytest.raises(TxFailed, match=re.escape("Already claimed.")):
        chain.call(KEYS["bob"], "refund", {"model_id": 0, "contribution": 1})
    with pytest.raises(TxFailed, match=re.escape("Cannot report yourself.")):
        chain.call(KEYS["carol"], "report", {"model_id": 0, "contribution": 2})
    chain.call(KEYS["alice"], "report", {"model_id": 0, "contribution": 2})
    with pytest.raises(TxFailed, match=re.escape("Already claimed.")):
        chain.call(KEYS["bob"], "report", {"model_id": 0, "contribution": 2})
    # Dave has never added data: Points64 lets him report anyway (no money at stake)
    chain.call(KEYS["dave"], "report", {"model_id": 0, "contribution": 3})
    people = {row["address"]: row for row in chain.query("contributors", {"model_id": 0})}
    alice = people[KEYS["alice"].address]
    assert (alice["points"], alice["badges"]) == (2, ["first-contribution", "watchdog"])
    assert people[KEYS["carol"].address]["bad"] == 2
    # a paid prediction: 101 split 1:1 between Alice and Bob, the odd unit stays with Dave
    result = chain.call(KEYS["dave"], "predict", {"model_id": 0, "data": [1], "fee": 101})
    assert result == {"prediction": 1, "paid": 100}
    assert bal(chain, "dave") == FUND - 100
    assert bal(chain, "alice") == FUND + 50 and bal(chain, "bob") == FUND + 50


def test_off_chain_model_deploys_and_exports_identically() -> None:
    chain = new_chain()
    nb = NaiveBayes({"classes": ["ham", "spam"], "total_features": 10}, DictStore())
    for x, y in (([1, 2], 0), ([3, 4], 1), ([3], 1)):
        nb.update(x, y)
    doc = from_json(to_json(nb)).export()
    chain.call(KEYS["owner"], "create_model", {"model": doc, "mechanism": "points"})
    assert chain.query("export", {"model_id": 0}) == doc
    assert chain.query("prediction", {"model_id": 0, "data": [3]}) == 1
    got = chain.query("evaluate", {"model_id": 0, "data": [[1], [3], [4]], "labels": [0, 1, 0]})
    assert got == {"correct": 2, "total": 3, "accuracy_ppm": 666_666}
    chain.call(KEYS["alice"], "add_data", {"model_id": 0, "data": [1, 1], "label": 0})
    nb.update([1, 1], 0)
    assert chain.query("export", {"model_id": 0}) == nb.export()


def test_dense_model_on_chain_and_extend_model() -> None:
    chain = new_chain()
    model = dense_perceptron_from_weights([0] * 100)
    doc = model.export()
    doc["state"] = {}                                   # deploy empty, then initialise
    chain.call(KEYS["owner"], "create_model", {"model": doc, "mechanism": "points",
                                               "encoder": {"type": "dense", "dims": 100}})
    with pytest.raises(TxFailed, match="only the model's owner"):
        chain.call(KEYS["alice"], "extend_model", {"model_id": 0, "state": {"w/0": [1] * 64}})
    chain.call(KEYS["owner"], "extend_model", {"model_id": 0, "state": {"w/1": [5] * 36}})
    data = encode_dense([1.0] * 100)
    assert chain.query("prediction", {"model_id": 0, "data": data}) == 1
    with pytest.raises(TxFailed, match=re.escape("The provided data does not have a norm of 1.")):
        chain.call(KEYS["alice"], "add_data", {"model_id": 0, "data": [10**9] * 100,
                                               "label": 0})
    chain.call(KEYS["alice"], "add_data", {"model_id": 0, "data": data, "label": 0})
    with pytest.raises(TxFailed, match="no longer initialisable"):
        chain.call(KEYS["owner"], "extend_model", {"model_id": 0, "state": {"w/0": [1] * 64}})
    assert chain.query("prediction", {"model_id": 0, "data": data}) == 0


def test_bad_requests_are_refused_with_clear_errors() -> None:
    chain = new_chain()
    with pytest.raises(TxFailed, match="no model with id 0"):
        add(chain, "alice", [1], 1)
    deploy(chain)
    with pytest.raises(TxFailed, match=re.escape("Not all indices are >= 0.")):
        add(chain, "alice", [-1], 1)
    with pytest.raises(TxFailed, match=re.escape("Classification is out of bounds.")):
        add(chain, "alice", [1], 2)
    with pytest.raises(TxFailed, match="unknown mechanism"):
        chain.call(KEYS["owner"], "create_model", {
            "model": sparse_perceptron_from_weights({}).export(), "mechanism": "lottery"})
    with pytest.raises(TxFailed, match="Owner claim wait time must be at least"):
        chain.call(KEYS["owner"], "create_model", {
            "model": sparse_perceptron_from_weights({}).export(),
            "mechanism_params": {"refund_wait_s": 5, "owner_wait_s": 4, "any_wait_s": 6}})
    assert [m["name"] for m in chain.query("models", {})] == ["spam"]


def test_a_reporter_who_contributes_later_is_listed_and_paid_fees() -> None:
    chain = new_chain()
    t0 = chain.time
    deploy(chain)
    add(chain, "alice", [1], 1)
    add(chain, "bob", [1], 0)
    chain.set_time(t0 + 10 * DAY_S)
    chain.call(KEYS["dave"], "report", {"model_id": 0, "contribution": 1})   # sweeps Bob's
    add(chain, "dave", [1], 1)
    chain.call(KEYS["alice"], "refund", {"model_id": 0, "contribution": 0})
    chain.set_time(t0 + 12 * DAY_S)
    chain.call(KEYS["dave"], "refund", {"model_id": 0, "contribution": 2})
    rows = chain.query("contributors", {"model_id": 0})
    assert [r["address"] for r in rows] == [KEYS[n].address for n in ("alice", "bob", "dave")]
    assert chain.call(KEYS["carol"], "predict", {"model_id": 0, "data": [1], "fee": 10}) == {
        "prediction": 1, "paid": 10}
