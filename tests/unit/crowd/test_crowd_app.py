"""The crowd app on real blocks: the happy path, every bad input's error, conservation."""

from __future__ import annotations

import pytest
from crowd_helpers import eval_data, try_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnchain.apps.commit_reveal import CommitRevealError, commitment
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.experiments import Sandbox
from learnchain.apps.crowd.worker import COIN_CONFIRMATIONS, STRATEGIES
from learnchain.core.encoding import encode
from learnchain.storage.blobstore import BlobStore
from learnchain.storage.digest_store import TABLE, DigestStore
from learnchain.testing import dev_key

NAMES = ["req", "w0", "w1", "w2", "seller"]
SALT = b"s" * 16


def addr(name: str) -> bytes:
    return dev_key(name).address


def full_task(box: Sandbox, **params) -> int:
    task_id = box.publish("req", eval_data(), **params)
    box.call("w0", "join", {"task_id": task_id, "deposit": 1000})
    box.call("w1", "join", {"task_id": task_id, "deposit": 1000})
    return task_id


def until_phase(box: Sandbox, task_id: int, phase: str) -> None:
    for _ in range(50):
        if R.phase_at(box.task(task_id), box.node.chain.height + 1) == phase:
            return
        box.node.mine(1)
    raise AssertionError(f"task never reached {phase}")


def commit_of(name: str, task_id: int, result: bytes) -> bytes:
    return commitment(R.sha256(result), SALT, addr(name), R.task_context(task_id))


def test_honest_pair_is_paid_and_the_seller_sold():
    box = Sandbox(NAMES)
    task_id = box.publish("req", eval_data(), price=700, seller=addr("seller"),
                          threshold_ppm=900_000, reward=2001)
    workers = [box.worker("w0"), box.worker("w1")]
    before = {n: box.balance(n) for n in NAMES}
    box.run(workers, [task_id])
    task = box.task(task_id)
    assert task["payouts"] == [2000, 2000] and task["refund"] == 1 and task["sold"]
    assert task["results"][0] == task["results"][1] == R.sha256(box.true_result(task_id))
    assert box.balance("w0") - before["w0"] == 1000 and box.balance("seller") == before[
        "seller"] + 700
    assert box.balance("req") == before["req"] + 1  # remainder of r/n returned
    assert [w.stats.earnings for w in workers] == [1000, 1000]
    assert box.store.get(box.task(task_id)["results"][0]) is not None  # result in the store


def test_purchase_below_threshold_refunds_the_price():
    box = Sandbox(NAMES)
    task_id = box.publish("req", eval_data(), price=700, seller=addr("seller"),
                          threshold_ppm=999_999)
    before = {n: box.balance(n) for n in NAMES}
    box.run([box.worker("w0"), box.worker("w1")], [task_id])
    task = box.task(task_id)
    assert task["agreed"] and not task["sold"] and task["precision"][0] < 999_999
    assert box.balance("req") == before["req"] + 700  # price back (and the r/n remainder 0)
    assert box.balance("seller") == before["seller"]


def test_every_bad_input_raises_its_own_error():
    box = Sandbox(NAMES)
    with pytest.raises(R.UnknownProgram):
        try_call(box, "req", "publish", {"program": "nope", "version": 1, "input": bytes(32),
                                         "n": 2, "deposit": 1000, "reward": 2000})
    with pytest.raises(R.BadTaskParams):
        try_call(box, "req", "publish", {"program": "eval-classifier", "version": 1,
                                         "input": bytes(32), "n": 2, "deposit": 999,
                                         "reward": 2000})
    task_id = box.publish("req", eval_data())
    with pytest.raises(R.UnknownTask):
        try_call(box, "w0", "join", {"task_id": 99, "deposit": 1000})
    with pytest.raises(R.WrongDeposit):
        try_call(box, "w0", "join", {"task_id": task_id, "deposit": 999})
    with pytest.raises(R.AlreadyJoined):
        try_call(box, "req", "join", {"task_id": task_id, "deposit": 1000})
    with pytest.raises(R.WrongPhase, match="'expired'"):
        try_call(box, "w0", "cancel", {"task_id": task_id})
    box.call("w0", "join", {"task_id": task_id, "deposit": 1000})
    with pytest.raises(R.AlreadyJoined):
        try_call(box, "w0", "join", {"task_id": task_id, "deposit": 1000})
    box.call("w1", "join", {"task_id": task_id, "deposit": 1000})
    with pytest.raises(R.WrongPhase, match="'coin'"):  # full: seats closed, coin not yet fixed
        try_call(box, "w2", "join", {"task_id": task_id, "deposit": 1000})
    with pytest.raises(R.WrongPhase):  # commit before the coin is fixed
        try_call(box, "w0", "commit", {"task_id": task_id, "commitment": b"c" * 32})
    until_phase(box, task_id, "commit")
    result = box.true_result(task_id)
    with pytest.raises(R.NotAWorker):
        try_call(box, "w2", "commit", {"task_id": task_id, "commitment": b"c" * 32})
    with pytest.raises(CommitRevealError):
        try_call(box, "w0", "commit", {"task_id": task_id, "commitment": b"short"})
    box.call("w0", "commit", {"task_id": task_id, "commitment": commit_of("w0", task_id,
                                                                          result)})
    with pytest.raises(R.AlreadyCommitted):
        try_call(box, "w0", "commit", {"task_id": task_id, "commitment": b"d" * 32})
    with pytest.raises(R.DuplicateCommitment):
        try_call(box, "w1", "commit", {"task_id": task_id,
                                       "commitment": commit_of("w0", task_id, result)})
    with pytest.raises(R.WrongPhase, match="'commit'"):  # reveal before all committed
        try_call(box, "w0", "reveal", {"task_id": task_id, "result": result, "salt": SALT})
    with pytest.raises(R.WrongPhase):
        try_call(box, "req", "settle", {"task_id": task_id})
    until_phase(box, task_id, "reveal")  # w1 never commits: the commit deadline passes
    with pytest.raises(R.NotCommitted):
        try_call(box, "w1", "reveal", {"task_id": task_id, "result": result, "salt": SALT})
    with pytest.raises(CommitRevealError):
        try_call(box, "w0", "reveal", {"task_id": task_id, "result": result + b"x",
                                       "salt": SALT})
    box.call("w0", "reveal", {"task_id": task_id, "result": result, "salt": SALT})
    with pytest.raises(R.AlreadyRevealed):
        try_call(box, "w0", "reveal", {"task_id": task_id, "result": result, "salt": SALT})
    receipt = box.call("w2", "settle", {"task_id": task_id})  # anyone may settle
    assert receipt.result["payouts"] == [500, 0]
    with pytest.raises(R.AlreadySettled):
        try_call(box, "w2", "settle", {"task_id": task_id})


def test_cancel_after_the_join_deadline_refunds_everyone():
    box = Sandbox(NAMES)
    before = {n: box.balance(n) for n in NAMES}
    task_id = box.publish("req", eval_data(), delta_p=3, n=3, price=50,
                          seller=addr("seller"))
    box.call("w0", "join", {"task_id": task_id, "deposit": 1000})
    until_phase(box, task_id, "expired")
    with pytest.raises(R.WrongPhase):
        try_call(box, "w1", "join", {"task_id": task_id, "deposit": 1000})
    box.call("w1", "cancel", {"task_id": task_id})
    assert {n: box.balance(n) for n in NAMES} == before
    with pytest.raises(R.AlreadySettled):
        try_call(box, "w1", "cancel", {"task_id": task_id})


def test_worker_refuses_an_input_that_does_not_match_its_digest():
    box = Sandbox(NAMES)
    task_id = box.publish("req", eval_data())
    digest = box.task(task_id)["input"]
    box.store.blobs.conn.execute(f"UPDATE {TABLE} SET data=? WHERE hash=?",
                                 (eval_data() + b"tampered", digest))
    worker = box.worker("w0")
    worker.backend.store = DigestStore(BlobStore(box.store.blobs.conn, table=TABLE))
    box.call("w1", "join", {"task_id": task_id, "deposit": 1000})
    box.call("w0", "join", {"task_id": task_id, "deposit": 1000})
    until_phase(box, task_id, "commit")
    box.node.mine(COIN_CONFIRMATIONS)  # the worker computes once the coin block is buried
    with pytest.raises(R.InputMismatch, match="does not hash"):
        worker.step()


def test_a_restarted_worker_resumes_from_chain_state():
    box = Sandbox(NAMES)
    task_id = box.publish("req", eval_data())
    first = box.worker("w0")
    other = box.worker("w1")
    until = box.task
    for _ in range(30):  # run until w0 has committed, then drop it
        first.step()
        other.step()
        box.node.mine(1)
        if until(task_id)["commits"] and until(task_id)["commits"][
                until(task_id)["workers"].index(addr("w0"))]:
            break
    restarted = box.worker("w0")  # a new process: no memory of salts or results
    box.run([restarted, other], [task_id])
    task = box.task(task_id)
    assert task["agreed"] and task["payouts"] == [2000, 2000]
    assert restarted.stats.earnings == 1000


# ----- conservation over random protocol traces -----------------------------------------------

ACTIONS = st.lists(st.tuples(st.sampled_from(["settle", "cancel", "join", "commit", "reveal"]),
                             st.integers(0, 3), st.integers(0, 2)), max_size=6)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(n=st.integers(2, 3), half=st.integers(1, 500), reward=st.integers(3, 5000),
       strategies=st.lists(st.sampled_from(STRATEGIES), min_size=1, max_size=4),
       delta_p=st.integers(2, 6), stray=ACTIONS)
def test_no_money_is_created_or_lost(n, half, reward, strategies, delta_p, stray):
    names = ["req", "w0", "w1", "w2", "w3", "x"]
    box = Sandbox(names, fund=10**7)
    supply = box.node.chain.query("bank", "supply", {})
    task_id = box.publish("req", eval_data(), n=n, deposit=2 * half, reward=reward,
                          delta_p=delta_p, delta_c=3, delta_o=3)
    workers = [box.worker(f"w{i}", s, coalition=b"c") for i, s in enumerate(strategies)]
    for _ in range(40):
        if box.task(task_id)["status"] != "open":
            break
        for w in workers:
            w.step()
        for action, who, _ in stray:  # random extra transactions, mostly refused
            args = {"task_id": task_id}
            if action == "join":
                args["deposit"] = 2 * half
            if action in ("commit", "reveal"):
                args.update(commitment=b"c" * 32, result=encode([b"a"]), salt=SALT)
            box.node.send(f"w{who}" if who < 3 else "x", "crowd", action, args)
        if R.phase_at(box.task(task_id), box.node.chain.height + 1) == "expired":
            box.node.send("req", "crowd", "cancel", {"task_id": task_id})
        box.node.mine(1)
        balances = sum(box.balance(a) for a in [*names, "miner"])
        escrow = sum(box.node.chain.query("bank", "escrow", {"app": "crowd", "escrow": e})
                     for e in (f"t{task_id}", "burned"))
        minted = box.node.chain.query("bank", "supply", {}) - supply
        assert balances + escrow == supply + minted
    task = box.task(task_id)
    assert task["status"] != "open"
    assert box.node.chain.query("bank", "escrow", {"app": "crowd", "escrow": f"t{task_id}"}) == 0
    paid = sum(task["payouts"]) + task["burned"] + task["refund"]
    assert paid == len(task["workers"]) * 2 * half + reward
