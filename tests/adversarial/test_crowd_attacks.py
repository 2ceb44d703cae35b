"""Attacks on the crowd protocol: free-riding, front-running, E_ck junk, coalitions."""

from __future__ import annotations

import pytest

from learnchain.apps.commit_reveal import CommitRevealError, commitment, validate_opening
from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.experiments import Sandbox, reference_model
from learnchain.core.encoding import encode
from learnchain.testing import dev_key

NAMES = ["req", "a", "b", "c", "d"]


def data() -> bytes:
    return ml.eval_input("digits", reference_model(), 512)


def settle_all(box, workers, task_id):
    box.run(workers, [task_id])
    return box.task(task_id)


def test_copycat_cannot_reuse_a_commitment_and_loses_its_deposit():
    box = Sandbox(NAMES)
    task_id = box.publish("req", data(), n=3)
    honest = [box.worker("a"), box.worker("b")]
    copycat = box.worker("c", "copycat")
    task = settle_all(box, [*honest, copycat], task_id)
    seat = task["workers"].index(dev_key("c").address)
    assert not task["commits"][seat]  # its copied commitment was refused
    assert any("already submitted by another worker" in e for e in copycat.stats.errors)
    assert task["payouts"][seat] == 0
    assert sorted(task["payouts"]) == [0, 500, 500]


def test_a_revealed_opening_does_not_open_for_another_address():
    """Free-riding after the reveal: the copier replays the honest (result, salt) pair."""
    box = Sandbox(NAMES)
    task_id = box.publish("req", data())
    a, c = box.worker("a"), box.worker("c", "junk")
    for _ in range(40):
        task = box.task(task_id)
        seat_a = task["workers"].index(dev_key("a").address) if dev_key(
            "a").address in task["workers"] else None
        if seat_a is not None and task["results"][seat_a]:
            break
        a.step()
        c.step()
        box.node.mine(1)
    reveal_tx = next(tx for block in box.node.chain.canonical_blocks(0, box.node.chain.height)
                     for tx in block.transactions
                     if tx.method == "reveal" and tx.sender == dev_key("a").address)
    receipt = box.call("c", "reveal", reveal_tx.args, expect_ok=False)
    assert not receipt.success
    assert ("does not open" in receipt.error or "already revealed" in receipt.error)
    # and the honest worker's copied commitment cannot be opened by c either
    args = reveal_tx.args
    with pytest.raises(CommitRevealError, match="does not open"):
        validate_opening(box.task(task_id)["commits"][seat_a], R.sha256(args["result"]),
                         args["salt"], dev_key("c").address, R.task_context(task_id))


def test_front_run_commitment_is_retried_under_a_fresh_salt():
    box = Sandbox(NAMES)
    task_id = box.publish("req", data())
    a, b = box.worker("a"), box.worker("b")
    for _ in range(20):
        if R.phase_at(box.task(task_id), box.node.chain.height + 1) == "commit":
            break
        a.step()
        b.step()
        box.node.mine(1)
    task = box.task(task_id)
    stolen = a.my_commitment(task)  # what a griefer would lift from the mempool
    box.call("b", "commit", {"task_id": task_id, "commitment": stolen})  # lands first
    b._done.add((task_id, "commit0"))  # b already committed (the stolen value)
    task = settle_all(box, [a, b], task_id)
    seat_a = task["workers"].index(dev_key("a").address)
    assert task["verdicts"][seat_a] == "ok"  # a committed again and revealed
    assert a._attempt[task_id] == 1


def test_eck_and_low_entropy_results_lose_the_deposit():
    box = Sandbox(NAMES)
    task_id = box.publish("req", data(), n=3)
    workers = [box.worker("a"), box.worker("b", "eck"), box.worker("c", "coalition",
                                                                  coalition=b"x")]
    task = settle_all(box, workers, task_id)
    verdicts = dict(zip([w.hex() for w in task["workers"]], task["verdicts"], strict=True))
    assert verdicts[dev_key("b").address.hex()].startswith("eck: all zeros")
    assert verdicts[dev_key("c").address.hex()] == "ok"  # random-looking shared junk
    assert task["payouts"][task["workers"].index(dev_key("b").address)] == 0
    # the same junk under every coin is low entropy (multiple-coins heuristic)
    same = encode([b"junk-junk", b"junk-junk"])
    assert "low entropy" in R.eck_reason(same, {"coins": 2, "input": bytes(32), "eck": []})


def test_revealing_the_input_is_in_eck():
    box = Sandbox(NAMES)
    task_id = box.publish("req", data(), coins=1)
    box.call("a", "join", {"task_id": task_id, "deposit": 1000})
    box.call("b", "join", {"task_id": task_id, "deposit": 1000})
    while R.phase_at(box.task(task_id), box.node.chain.height + 1) != "commit":
        box.node.mine(1)
    salt = b"k" * 16
    for name, result in (("a", data()), ("b", encode([data()]))):
        c = commitment(R.sha256(result), salt, dev_key(name).address, R.task_context(task_id))
        box.call(name, "commit", {"task_id": task_id, "commitment": c})
    for name, result in (("a", data()), ("b", encode([data()]))):
        box.call(name, "reveal", {"task_id": task_id, "result": result, "salt": salt})
    task = box.task(task_id)
    assert task["verdicts"][0].startswith("eck: known: the result is the input")
    assert task["verdicts"][1].startswith("eck: known: output under coin 0 is the input")
    assert box.call("c", "settle", {"task_id": task_id}).result["payouts"] == [0, 0]


def test_coalition_of_n_minus_one_with_shared_junk_earns_nothing():
    box = Sandbox(NAMES)
    task_id = box.publish("req", data(), n=3)
    workers = [box.worker("a"), box.worker("b", "coalition", coalition=b"k"),
               box.worker("c", "coalition", coalition=b"k")]
    task = settle_all(box, workers, task_id)
    assert not task["agreed"] and task["payouts"] == [500, 500, 500]


def test_a_coalition_holding_every_seat_is_the_mechanisms_limit():
    """|C| = n is outside the seed's guarantee: shared junk is then 'agreed' and paid."""
    box = Sandbox(NAMES)
    task_id = box.publish("req", data(), n=2)
    workers = [box.worker("b", "coalition", coalition=b"k"),
               box.worker("c", "coalition", coalition=b"k")]
    task = settle_all(box, workers, task_id)
    assert task["agreed"] and task["results"][0] != R.sha256(box.true_result(task_id))
