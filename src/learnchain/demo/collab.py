"""Step (a): a collaborative model gets good and bad contributions (apps/collab, Stakeable).

The owner (dev account alice) deploys a sparse perceptron trained off-chain on a small part of
the binned breast-cancer data set, under the Stakeable mechanism (Harris & Waggoner 2019,
docs/collab.md) with short claim windows so the day can show them. An honest contributor
(bob) adds correctly labelled samples, a dishonest one (a fresh key) adds the same kind of
samples with flipped labels; both attach the deposit the chain asks for. After the refund
wait, bob takes back every deposit the model now agrees with, and, having good
contributions of his own, reports the bad ones the model disagrees with and takes part of
their deposit. Accuracy on the held-out test set is read from the chain (`evaluate`) before,
after the contributions, and at the end.
"""

from __future__ import annotations

from learnchain.apps.collab.models import DictStore, SparsePerceptron
from learnchain.core.crypto import PrivateKey
from learnchain.demo.common import Day, Sender, StepResult, wait_until
from learnchain.net.jsonview import from_json

DEPOSIT_OFFER = 3_600  # the most the mechanism can ask (cost_weight 1); excess is not taken
FUNDS = 200_000


def _accuracy(client: object, model_id: int, test: list[tuple[list[int], int]]) -> int:
    res = client.query("collab", "evaluate", {  # type: ignore[attr-defined]
        "model_id": model_id, "data": [x for x, _ in test], "labels": [y for _, y in test]})
    return int(res["accuracy_ppm"])


def run(day: Day) -> StepResult:
    from learnchain.apps.collab.datasets import breast_cancer

    step = "a"
    result = StepResult(step, "collaborative model: good and bad contributions")
    client = day.client(0)
    data = breast_cancer(seed=7)
    owner = Sender(client, day.accounts["alice"])
    good = Sender(client, day.accounts["bob"])
    bad_key = PrivateKey.generate()
    tx, h, _ = owner.call("bank", "transfer", {"to": bad_key.address, "amount": FUNDS})
    bad = Sender(client, bad_key)
    wait_s = day.profile.refund_wait_s
    prototype = SparsePerceptron({"intercept": 0, "learning_rate": 10**9}, DictStore())
    for x, y in data.init:
        prototype.update(x, y)
    tx, h, res = owner.call("collab", "create_model", {
        "model": prototype.export(), "name": "breast-cancer (demo)", "mechanism": "stakeable",
        "mechanism_params": {"refund_wait_s": wait_s, "owner_wait_s": 3600,
                             "any_wait_s": 7200, "cost_weight": 1}})
    model_id = int(res["model_id"])
    result.txs.append(tx)
    result.heights.append(h)
    day.say(step, f"model {model_id} deployed at height {h}")
    day.tick(step)
    test = data.test
    before = _accuracy(client, model_id, test)
    n = day.profile.collab_samples

    def predicted(x: list[int]) -> int:
        return int(client.query("collab", "prediction", {"model_id": model_id, "data": x}))

    # the dishonest contributor flips labels of samples the deployed model gets right (so
    # each one moves the model); the honest one then adds those samples with their true
    # labels, and as many more, after them
    right = [(x, y) for x, y in data.pool[:8 * n] if predicted(x) == y]
    bad_samples = right[:n]
    good_samples = bad_samples + [s for s in data.pool[8 * n:] if s not in bad_samples][:n]
    deposits = {"good": 0, "bad": 0}
    good_c: list[int] = []
    bad_c: list[int] = []
    accuracy = {"deployed": before}
    for kind, sender, samples, into in (("bad", bad, bad_samples, bad_c),
                                        ("good", good, good_samples, good_c)):
        hashes = [sender.send("collab", "add_data", {
            "model_id": model_id, "data": x, "label": y if kind == "good" else 1 - y,
            "deposit": DEPOSIT_OFFER}) for x, y in samples]
        for th in hashes:
            r = from_json(sender.wait(th)["receipt"]["result"])
            into.append(int(r["contribution"]))
            deposits[kind] += int(r["deposit"])
        result.txs.append("0x" + hashes[0].hex())
        result.heights.append(int(client.transaction(hashes[0])["height"]))
        accuracy[f"after_{kind}"] = _accuracy(client, model_id, test)
        day.say(step, f"{len(samples)} {kind} contributions: accuracy "
                      f"{accuracy[f'after_{kind}'] / 1e4:.1f}%")
    day.say(step, f"waiting {wait_s} s for the refund window")
    day.tick(step)
    # the refund window is in block time: wait until a block is at least that much younger
    added_at = max(int(from_json(client.query("collab", "contribution", {
        "model_id": model_id, "contribution": c}))["time"]) for c in good_c + bad_c)
    wait_until(lambda: int(client.block("head")["timestamp_ms"]) // 1000
               >= added_at + wait_s + 1, 120, "the refund window to open")

    def agrees(c: int) -> bool:
        rec = from_json(client.query("collab", "contribution",
                                     {"model_id": model_id, "contribution": c}))
        pred = client.query("collab", "prediction", {"model_id": model_id, "data": rec["data"]})
        return int(pred) == int(rec["label"])

    refunds = [good.send("collab", "refund", {"model_id": model_id, "contribution": c})
               for c in good_c if agrees(c)]
    refunded = 0
    for th in refunds:
        refunded += int(from_json(good.wait(th)["receipt"]["result"])["amount"])
    if refunds:
        result.txs.append("0x" + refunds[0].hex())
        result.heights.append(int(client.transaction(refunds[0])["height"]))
    day.tick(step)
    reports = [good.send("collab", "report", {"model_id": model_id, "contribution": c})
               for c in bad_c if not agrees(c)]
    taken = 0
    for th in reports:
        taken += int(from_json(good.wait(th)["receipt"]["result"])["amount"])
    if reports:
        result.txs.append("0x" + reports[0].hex())
        result.heights.append(int(client.transaction(reports[0])["height"]))
    final = _accuracy(client, model_id, test)
    day.tick(step)
    result.details = {
        "model_id": model_id, "contributions": {"good": len(good_c), "bad": len(bad_c)},
        "deposits": deposits, "refunds": len(refunds), "refunded": refunded,
        "reports": len(reports), "taken": taken, "accuracy_ppm": {**accuracy, "end": final},
        "test_samples": len(test)}
    result.what = (f"model {model_id}: {len(bad_c)} bad samples (flipped labels) took test "
                   f"accuracy {before / 1e4:.1f}% → {accuracy['after_bad'] / 1e4:.1f}%, "
                   f"{len(good_c)} good ones → {accuracy['after_good'] / 1e4:.1f}%; "
                   f"{len(refunds)} good deposits refunded ({refunded}); {len(reports)} bad "
                   f"ones reported and {taken} of their deposits ({deposits['bad']}) taken")
    if refunded <= 0 or taken <= 0:
        result.status = "failed"
        result.what += " (expected at least one refund and one deposit taken)"
    return result
