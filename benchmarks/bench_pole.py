"""PoLe verification cost against the winner's training cost, measured in one run.

One in-process chain (engine `pole`, app `tasks`). The data node publishes an MLP task on
scikit-learn's digits (SML width 32, 32 hidden units, 30 epochs, single thread); consensus
node alice trains (timed: the honest work, the baseline) and bob trains a weaker model; both
commit and reveal; the winner proposes the PoLe block. A second node that imported the same
history then imports, separately and timed:

* the PoLe block (the engine recomputes the winner's train and test accuracy by integer
  inference and checks every settlement field): ratio = pole_block_s / train_s, target <= 0.05;
* everything a verifier does for the task: the reveal block (each reveal's commitment check and
  training-set accuracy), the closing block (test accuracy of every reveal) and the PoLe
  block: ratio = task_verify_s / train_s;
* a plain governed-PoW block, for scale.

Run: python benchmarks/bench_pole.py [--epochs 30] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch  # imported up front: the import is not training work

from learnchain.apps.tasks import actors
from learnchain.apps.tasks import rules as R
from learnchain.core.types import Block
from learnchain.testing import ManualClock, TestNode, dev_genesis, dev_key, make_node

NAMES = ("alice", "bob")


def _genesis() -> Any:
    return dev_genesis(miners=NAMES, members=(*NAMES, "data"), controller="alice",
                       funded={"data": 10**6}, extra_apps=["tasks"], engine="pole")


def _timed_import(node: TestNode, block: Block) -> float:
    start = time.perf_counter()
    node.node.import_block(block)
    return time.perf_counter() - start


def one_round(epochs: int) -> dict[str, float]:
    clock = ManualClock()
    genesis = _genesis()
    prover = {n: make_node(genesis, n, clock=clock) for n in NAMES}
    verifier = make_node(genesis, None, clock=clock)
    history: list[Block] = []

    def send(name: str, method: str, args: dict[str, Any]) -> None:
        tx = prover["alice"].tx(name, "tasks", method, args)
        for node in prover.values():
            node.node.submit(tx)

    def mine(name: str = "alice") -> Block:
        block = prover[name].mine()[0]
        for other in prover.values():
            if other is not prover[name]:
                other.node.import_block(block)
        history.append(block)
        return block

    torch.set_num_threads(1)
    hp = {"hidden": 32, "epochs": epochs, "lr_ppm": 10_000, "batch": 64}
    prepared = actors.prepare_task(dev_key("data").address, 0, kind="mlp", sml_width=32,
                                   threshold_ppm=500_000, deadline=3, hp=hp)
    send("data", "publish", prepared.publish_args)
    mine()
    task = prover["alice"].chain.query("tasks", "task", {"task": 0})
    # bob's short training first: it also warms torch up, so the baseline is pure training
    weak = actors.train_candidate(task, dev_key("bob").address, hp={**hp, "epochs": 2})
    start = time.perf_counter()
    honest = actors.train_candidate(task, dev_key("alice").address)
    train_s = time.perf_counter() - start
    send("alice", "commit", honest.commit_args())
    send("bob", "commit", weak.commit_args())
    while prover["alice"].chain.height <= task["deadline"]:
        mine()
    send("data", "open_test", prepared.open_args(0))
    send("alice", "reveal", honest.reveal_args())
    send("bob", "reveal", weak.reveal_args())
    reveal_block = mine()
    while prover["alice"].chain.height < R.close_height(task):
        mine()
    close_block = history[-1]
    winner = prover["alice"].chain.query("tasks", "task", {"task": 0})["winner"]["address"]
    wname = next(n for n in NAMES if dev_key(n).address == winner)
    pole_block = mine(wname)
    assert "pole" in pole_block.header.engine_fields
    pow_block = mine(next(n for n in NAMES if n != wname))
    timings: dict[str, float] = {}
    for block in history:
        t = _timed_import(verifier, block)
        for label, ref in (("reveal_block_s", reveal_block), ("close_block_s", close_block),
                           ("pole_block_s", pole_block), ("pow_block_s", pow_block)):
            if block is ref:
                timings[label] = t
    assert verifier.chain.head_hash == pow_block.hash
    timings["train_s"] = train_s
    timings["task_verify_s"] = (timings["reveal_block_s"] + timings["close_block_s"]
                                + timings["pole_block_s"])
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds = [one_round(args.epochs) for _ in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    report = {**med, "pole_block_over_train": med["pole_block_s"] / med["train_s"],
              "task_verify_over_train": med["task_verify_s"] / med["train_s"],
              "pole_block_over_pow_block": med["pole_block_s"] / med["pow_block_s"],
              "epochs": args.epochs, "rounds": args.rounds}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"MLP on digits, {args.epochs} epochs, SML width 32, median of {args.rounds} rounds")
    print(f"  winner's training: {med['train_s']:.3f} s (baseline)")
    print(f"  PoLe block verification: {med['pole_block_s'] * 1000:.1f} ms; ratio "
          f"{report['pole_block_over_train']:.4f} (target <= 0.05)")
    print(f"  whole task verification (reveal + close + PoLe blocks): "
          f"{med['task_verify_s'] * 1000:.1f} ms; ratio {report['task_verify_over_train']:.4f}")
    print(f"  PoLe block / plain PoW block import: {report['pole_block_over_pow_block']:.1f}x")


if __name__ == "__main__":
    main()
