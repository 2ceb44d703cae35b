"""Crowd experiments on an in-process chain: mixed worker populations over many tasks.

`Sandbox` is a `learnchain.testing` node with the crowd app, its content store and a
requester; tests, benchmarks and the experiment share it. `run_population` publishes tasks one
after another, lets a population of workers (one `Worker` per key, each with a strategy) race
for seats block by block, and records every settlement: cumulative payoff per strategy and
the fraction of settled tasks whose agreed result is the true one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd.programs import run_program
from learnchain.apps.crowd.rules import phase_at, sha256
from learnchain.apps.crowd.worker import LocalBackend, Worker, run_local
from learnchain.storage.digest_store import digest_store
from learnchain.testing import TestNode, dev_genesis, make_node

FUND = 10**12


@lru_cache(maxsize=4)
def reference_model(dataset: str = "digits", sample: int = 1000) -> bytes:
    """A model for sale: logistic regression trained by the crowd program itself."""
    return ml.train_logreg(ml.train_logreg_input(dataset, sample=sample), b"reference-model")


class TxFailed(RuntimeError):
    """A transaction the sandbox expected to succeed was refused."""


class Sandbox:
    """One in-process crowd chain; names are `learnchain.testing.dev_key` names."""

    def __init__(self, names: list[str], *, fund: int = FUND) -> None:
        genesis = dev_genesis(funded={n: fund for n in names}, extra_apps=["crowd"])
        self.node: TestNode = make_node(genesis)
        self.store = digest_store(self.node.chain)

    def call(self, name: str, method: str, args: dict[str, Any], *,
             expect_ok: bool = True) -> Any:
        """Send one crowd transaction, mine it, return its receipt."""
        tx = self.node.send(name, "crowd", method, args)
        self.node.mine(1)
        found = self.node.chain.find_transaction(tx.hash)
        assert found is not None
        receipt = found[2]
        if expect_ok and not receipt.success:
            raise TxFailed(f"{method} by {name}: {receipt.error}")
        return receipt

    def publish(self, requester: str, data: bytes, *, program: str = "eval-classifier",
                version: int = 1, **params: Any) -> int:
        digest = self.store.put(data)
        args = {"program": program, "version": version, "input": digest, "n": 2,
                "deposit": 1000, "reward": 2000, **params}
        return self.call(requester, "publish", args).result["task_id"]

    def publish_many(self, requester: str, tasks: list[dict[str, Any]]) -> list[int]:
        """Publish several tasks in one block (so they share their deadlines)."""
        txs = []
        for params in tasks:
            params = dict(params)
            data = params.pop("data")
            args = {"program": "eval-classifier", "version": 1, "input": self.store.put(data),
                    "n": 2, "deposit": 1000, "reward": 2000, **params}
            txs.append(self.node.send(requester, "crowd", "publish", args))
        self.node.mine(1)
        ids = []
        for tx in txs:
            found = self.node.chain.find_transaction(tx.hash)
            if found is None or not found[2].success:
                raise TxFailed(f"publish: {found[2].error if found else 'not included'}")
            ids.append(found[2].result["task_id"])
        return ids

    def task(self, task_id: int) -> dict[str, Any]:
        return self.node.chain.query("crowd", "task", {"task_id": task_id})

    def balance(self, name: str) -> int:
        return self.node.balance(name)

    def worker(self, name: str, strategy: str = "honest", **kw: Any) -> Worker:
        return Worker(LocalBackend(self.node, name), strategy, **kw)

    def run(self, workers: list[Worker], task_ids: list[int], max_blocks: int = 200) -> int:
        """Step the workers block by block until every task is settled or cancelled."""
        def done() -> bool:
            return all(self.task(t)["status"] != "open" for t in task_ids)

        blocks = run_local(self.node, workers, done, max_blocks)
        for w in workers:  # book the last settlements
            w.step()
        return blocks

    def true_result(self, task_id: int) -> bytes:
        task = self.task(task_id)
        data = self.store.get(task["input"])
        assert data is not None
        return run_program(task["program"], task["version"], data, task["seed"], task["coins"])


# ----- the population experiment ------------------------------------------------------------


@dataclass
class PopulationConfig:
    tasks: int = 30
    n: int = 2
    deposit: int = 1000
    reward: int = 2000
    population: dict[str, int] = field(default_factory=lambda: {
        "honest": 8, "lazy": 1, "junk": 1, "eck": 1, "copycat": 1, "coalition": 2})
    concurrent: int = 3
    subset: int = 512
    seed: int = 7


@dataclass
class PopulationResult:
    config: dict[str, Any]
    per_strategy: dict[str, list[int]]
    workers_per_strategy: dict[str, int]
    settled: int
    agreed: int
    correct: int
    cancelled: int
    blocks: int
    task_log: list[dict[str, Any]]

    @property
    def fraction_correct(self) -> float:
        return self.correct / self.settled if self.settled else 0.0


def run_population(cfg: PopulationConfig,
                   on_task: Callable[[], None] | None = None) -> PopulationResult:
    """Publish `cfg.tasks` evaluation tasks (at most `concurrent` open at once) and let the
    population compete for seats; the order in which workers act each block is shuffled by
    a seeded RNG (the experiment's only randomness outside the chain)."""
    names = [f"{s}{i}" for s, count in cfg.population.items() for i in range(count)]
    box = Sandbox(["requester", *names])
    rng = random.Random(cfg.seed)
    workers = [box.worker(name, name.rstrip("0123456789"), coalition=b"c1", max_open=1)
               for name in names]
    strategy_of = {w.backend.address: w.strategy for w in workers}
    data = ml.eval_input("digits", reference_model(), cfg.subset)
    published: list[int] = []
    per_strategy: dict[str, list[int]] = {s: [0] for s in cfg.population}
    log: list[dict[str, Any]] = []
    booked: set[int] = set()
    cancelling: set[int] = set()
    blocks = 0
    while len(booked) < cfg.tasks and blocks < 40 * cfg.tasks:
        open_now = [t for t in published if t not in booked]
        if len(published) < cfg.tasks and len(open_now) < cfg.concurrent:
            tx = box.node.send("requester", "crowd", "publish", {
                "program": "eval-classifier", "version": 1, "input": box.store.put(data),
                "n": cfg.n, "deposit": cfg.deposit, "reward": cfg.reward, "delta_p": 10,
                "delta_c": 6, "delta_o": 6})
            published.append(len(published))
            del tx
        rng.shuffle(workers)
        for w in workers:
            w.step()
        box.node.mine(1)
        blocks += 1
        for task_id in published:
            if task_id in booked:
                continue
            task = box.task(task_id)
            if task["status"] == "open":
                if (phase_at(task, box.node.chain.height + 1) == "expired"
                        and task_id not in cancelling):
                    box.node.send("requester", "crowd", "cancel", {"task_id": task_id})
                    cancelling.add(task_id)
                continue
            booked.add(task_id)
            entry = _book(box, task, strategy_of, per_strategy, cfg.deposit)
            log.append(entry)
            if on_task is not None:
                on_task()
    settled = [e for e in log if e["status"] == "settled"]
    return PopulationResult(
        config=asdict(cfg), per_strategy=per_strategy,
        workers_per_strategy=dict(cfg.population), settled=len(settled),
        agreed=sum(e["agreed"] for e in settled), correct=sum(e["correct"] for e in settled),
        cancelled=len(log) - len(settled), blocks=blocks, task_log=log)


def _book(box: Sandbox, task: dict[str, Any], strategy_of: dict[bytes, str],
          per_strategy: dict[str, list[int]], deposit: int) -> dict[str, Any]:
    """Add one finished task's net payoffs to the strategies' cumulative curves."""
    nets = {s: 0 for s in per_strategy}
    seats = []
    for seat, worker in enumerate(task["workers"]):
        strategy = strategy_of[worker]
        net = task["payouts"][seat] - deposit if task["payouts"] else 0
        nets[strategy] += net
        seats.append(strategy)
    for s, curve in per_strategy.items():
        curve.append(curve[-1] + nets[s])
    correct = False
    if task["status"] == "settled" and task["agreed"]:
        correct = task["results"][0] == sha256(box.true_result(task["id"]))
    return {"task": task["id"], "status": task["status"], "seats": seats,
            "agreed": bool(task.get("agreed")), "correct": correct,
            "payouts": task["payouts"], "burned": task["burned"]}


def default_output() -> Path:
    return Path("experiments/out/crowd")


def save_population(result: PopulationResult, out: Path) -> dict[str, Path]:
    """JSON of the run and a two-panel plot (payoffs per strategy; fraction correct)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "population.json"
    json_path.write_text(json.dumps({**asdict(result),
                                     "fraction_correct": result.fraction_correct}, indent=2))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for strategy, curve in result.per_strategy.items():
        count = max(1, result.workers_per_strategy.get(strategy, 1))
        left.plot(range(len(curve)), [v / count for v in curve],
                  label=f"{strategy} ({count} worker{'s' if count > 1 else ''})")
    left.set_title("Cumulative payoff per worker, by strategy")
    left.set_xlabel("finished tasks (count)")
    left.set_ylabel("net payoff per worker (token units)")
    left.legend()
    settled = [e for e in result.task_log if e["status"] == "settled"]
    running, xs = [], []
    correct = 0
    for i, entry in enumerate(settled, 1):
        correct += entry["correct"]
        running.append(correct / i)
        xs.append(i)
    right.plot(xs, running, label="correct and agreed / settled")
    right.set_ylim(0, 1.05)
    right.set_title("Settled tasks whose agreed result is the true one")
    right.set_xlabel("settled tasks (count)")
    right.set_ylabel("fraction correct (ratio)")
    right.legend()
    fig.tight_layout()
    png = out / "population.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return {"json": json_path, "png": png}
