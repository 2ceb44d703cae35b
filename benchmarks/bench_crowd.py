"""Crowd app costs, measured against honest baselines in the same run.

1. Settlement on chain vs a plain transfer: N `settle` transactions (n = 2 workers each,
   both revealed, so settlement pays 2 workers and refunds the remainder) in one block against
   N `bank.transfer` transactions in one block; submit + build + import, median of rounds.
   Ratio = settle seconds / transfer seconds (how many transfers one settlement costs).
2. Worker overhead: two honest workers talk to a node over real HTTP (`/v1`); the task is the
   evaluation program on a 10,000-sample test subset (synthetic40k, 2 coins). Overhead is
   the time the worker spends on its own transactions (join/deposit, commit, reveal, settle:
   build, sign, submit) and, separately, on polling chain state, divided by the time the
   program itself takes (compute_s). Target: transactions / program <= 0.1, per task in
   steady state (the second task of the same daemons; the first task's ratio, which also
   pays opening connections and reading the nonce and fee rate, is printed apart).

Run: python benchmarks/bench_crowd.py [--tasks 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.experiments import Sandbox, reference_model
from learnchain.apps.crowd.programs import run_program
from learnchain.apps.crowd.worker import HttpBackend, Worker, WorkerStats
from learnchain.net.server import ApiServer
from learnchain.testing import dev_key


def _block_seconds(box: Sandbox, sends: list[tuple[str, str, str, dict]]) -> float:
    box.node.clock.advance(1000)
    start = time.perf_counter()
    txs = [box.node.send(name, app, method, args) for name, app, method, args in sends]
    block = box.node.node.produce_block()
    elapsed = time.perf_counter() - start
    assert block is not None and len(block.transactions) == len(txs), "transactions left out"
    receipts = box.node.chain.receipts(block.hash) or []
    failed = [r.error for r in receipts if not r.success]
    assert not failed, f"failed: {failed[:3]}"
    return elapsed


def settlement_ratio(tasks: int, rounds: int) -> dict:
    names = ["req", "payee", *[f"w{i}" for i in range(2 * tasks)]]
    box = Sandbox(names)
    data = ml.eval_input("digits", reference_model(), 512)
    batches = []
    for _ in range(rounds):
        ids = box.publish_many("req", [{"data": data} for _ in range(tasks)])
        for i, task_id in enumerate(ids):
            for w in (2 * i, 2 * i + 1):
                box.node.send(f"w{w}", "crowd", "join", {"task_id": task_id, "deposit": 1000})
        box.node.mine(1)
        while R.phase_at(box.task(ids[0]), box.node.chain.height + 1) != "commit":
            box.node.mine(1)
        salt = b"bench-salt-16byte"
        results = {}
        for i, task_id in enumerate(ids):
            task = box.task(task_id)
            results[task_id] = run_program("eval-classifier", 1, data, task["seed"], 2)
            for w in (2 * i, 2 * i + 1):
                c = R.commitment_for(results[task_id], salt, dev_key(f"w{w}").address, task_id)
                box.node.send(f"w{w}", "crowd", "commit", {"task_id": task_id, "commitment": c})
        box.node.mine(1)
        for i, task_id in enumerate(ids):
            for w in (2 * i, 2 * i + 1):
                box.node.send(f"w{w}", "crowd", "reveal", {"task_id": task_id, "salt": salt,
                                                           "result": results[task_id]})
        box.node.mine(1)
        batches.append(ids)
    payee = dev_key("payee").address
    ratios, settle_s, transfer_s = [], [], []
    _block_seconds(box, [("req", "bank", "transfer", {"to": payee, "amount": 1})
                         for _ in range(tasks)])  # warm-up
    for ids in batches:
        t = _block_seconds(box, [(f"w{2 * i}", "bank", "transfer", {"to": payee, "amount": 1})
                                 for i in range(tasks)])
        s = _block_seconds(box, [(f"w{2 * i + 1}", "crowd", "settle", {"task_id": task_id})
                                 for i, task_id in enumerate(ids)])
        assert all(box.task(task_id)["agreed"] for task_id in ids)
        ratios.append(s / t)
        settle_s.append(s)
        transfer_s.append(t)
    return {"tasks_per_block": tasks, "settle_over_transfer": statistics.median(ratios),
            "settle_tx_per_s": tasks / min(settle_s), "transfer_tx_per_s": tasks / min(transfer_s)}


def worker_overhead(subset: int = 10_000, http: bool = True) -> dict:
    box = Sandbox(["req", "w0", "w1"])
    model = ml.train_logreg(ml.train_logreg_input("synthetic40k", sample=5000), b"bench")
    data = ml.eval_input("synthetic40k", model, subset)
    ml.eval_classifier(data, b"warm-up")  # dataset load and imports are not the program

    def drive(workers: list[Worker]) -> None:
        """One task from publish to settlement, the workers' stats reset just before it."""
        task_id = box.publish("req", data, n=2, deposit=1000, reward=2000)
        for w in workers:
            w.stats = WorkerStats()
        for _ in range(60):
            if box.task(task_id)["status"] == "settled":
                break
            for w in workers:
                w.step()
            box.node.mine(1)
        for w in workers:
            w.step()
        task = box.task(task_id)
        assert task["agreed"], task["verdicts"]

    # A daemon's first task also pays its start-up (connections, nonce and fee reads); the
    # first task is run and printed apart, the second is the steady state per task.
    if http:
        with ApiServer(box.node.node) as server:
            workers = [Worker(HttpBackend(server.url, dev_key(f"w{i}"))) for i in range(2)]
            drive(workers)
            first = [w.stats for w in workers]
            drive(workers)
    else:
        workers = [box.worker(f"w{i}") for i in range(2)]
        drive(workers)
        first = [w.stats for w in workers]
        drive(workers)
    out = []
    for w in workers:
        s = w.stats
        out.append({"compute_s": s.compute_s, "tx_s": s.tx_s, "poll_s": s.poll_s,
                    "tx_over_program": s.tx_s / s.compute_s,
                    "tx_and_poll_over_program": (s.tx_s + s.poll_s) / s.compute_s})
    return {"subset": subset, "coins": 2, "transport": "http" if http else "in-process",
            "workers": out,
            "first_task_worst_tx_over_program": max(s.tx_s / s.compute_s for s in first),
            "worst_tx_over_program": max(o["tx_over_program"] for o in out),
            "worst_tx_and_poll_over_program": max(o["tx_and_poll_over_program"] for o in out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"settlement": settlement_ratio(args.tasks, args.rounds),
              "worker": worker_overhead(), "worker_in_process": worker_overhead(http=False)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    s, w = report["settlement"], report["worker"]
    print(f"settlement: {s['tasks_per_block']} settles/block; settle/transfer time ratio "
          f"{s['settle_over_transfer']:.2f} ({s['settle_tx_per_s']:.0f} vs "
          f"{s['transfer_tx_per_s']:.0f} tx/s)")
    print(f"worker overhead on a {w['subset']}-sample evaluation ({w['coins']} coins): "
          f"transactions/program {w['worst_tx_over_program']:.3f} per task in steady state "
          f"(target <= 0.1); with polling {w['worst_tx_and_poll_over_program']:.3f}; "
          f"a fresh daemon's first task {w['first_task_worst_tx_over_program']:.3f}")
    for i, o in enumerate(w["workers"]):
        print(f"  worker {i}: program {o['compute_s']:.3f} s, transactions {o['tx_s']:.3f} s, "
              f"polling {o['poll_s']:.3f} s")
    local = report["worker_in_process"]
    print(f"same, in-process node (no HTTP): transactions/program "
          f"{local['worst_tx_over_program']:.3f}; with polling "
          f"{local['worst_tx_and_poll_over_program']:.3f}")


if __name__ == "__main__":
    main()
