"""PoLe on a devnet of real node processes (genesis ``engine = "pole"``), over HTTP.

The driver plays the off-chain roles: the data node (dev account `alice`) publishes tasks and
opens their test sets; each consensus node (the miner key in its datadir) trains its own model
with its own hyperparameters and commits/reveals it; a thief (dev account `bob`) commits a copy
of node 0's model under its own address. The nodes themselves produce and verify every block
(PoLe settlement blocks and governed-PoW blocks). Outputs: per-task outcome, block-time
coefficient of variation, and the useful-work share.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnchain.apps.tasks import actors
from learnchain.core.crypto import PrivateKey, load_keystore
from learnchain.devnet import create_devnet, start_devnet, stop_devnet
from learnchain.net.client import NodeClient
from learnchain.net.jsonview import from_json
from learnchain.net.server import free_port_range
from learnchain.scaffold import DEV_PASSWORD

# Each consensus node's own training budget: the competition the best model wins.
NODE_HP = ({"max_iter": 100}, {"max_iter": 8}, {"max_iter": 3})


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Sender:
    """Signs with a tracked nonce, so one key can have several transactions in flight."""

    client: NodeClient
    key: PrivateKey
    chain_id: int
    nonce: int = -1
    sent: list[bytes] = field(default_factory=list)

    def send(self, method: str, args: dict[str, Any]) -> bytes:
        if self.nonce < 0:
            self.nonce = int(self.client.account(self.key.address)["nonce"])
        tx = self.client.send(self.key, "tasks", method, args, chain_id=self.chain_id,
                              nonce=self.nonce)
        self.nonce += 1
        return tx.hash


def run(root: Path, *, nodes: int = 3, tasks: int = 2, difficulty: int = 10,
        block_interval_ms: int = 1000, sml_width: int = 8, timeout: float = 240.0,
        engine: str = "pole", progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run `tasks` PoLe tasks on a fresh devnet under `root`; return outcomes and metrics."""
    say = progress or (lambda _msg: None)
    devnet = create_devnet(root, nodes, base_port=free_port_range(nodes), difficulty=difficulty,
                           block_interval_ms=block_interval_ms, fast_kdf=True, engine=engine,
                           extra_apps=("tasks",))
    start_devnet(root)
    try:
        client = NodeClient(devnet[0].url)
        status = wait_until(lambda: client.status(), timeout, "the first node's API")
        chain_id = int(status["chain_id"])
        miners = [load_keystore(n.datadir / "keys" / "node.json", DEV_PASSWORD) for n in devnet]
        data_key = load_keystore(root / "keys" / "alice.json", DEV_PASSWORD)
        thief_key = load_keystore(root / "keys" / "bob.json", DEV_PASSWORD)
        data = Sender(client, data_key, chain_id)
        senders = [Sender(client, k, chain_id) for k in miners]
        thief = Sender(client, thief_key, chain_id)
        outcomes = [_one_task(client, i, data, senders, thief, sml_width, timeout, say)
                    for i in range(tasks)] if engine == "pole" else []
        if engine != "pole":
            wait_until(lambda: client.status()["height"] >= 30, timeout, "30 PoW blocks")
        heights = [int(NodeClient(n.url).status()["height"]) for n in devnet]
        blocks = [client.block(h) for h in range(1, min(heights) + 1)]
        head_hashes = {NodeClient(n.url).block(min(heights))["hash"] for n in devnet}
    finally:
        stop_devnet(root)
    return {"engine": engine, "nodes": nodes, "tasks": outcomes, "heights": heights,
            "agree": len(head_hashes) == 1, **block_metrics(blocks, difficulty, outcomes)}


def _one_task(client: NodeClient, task_id: int, data: Sender, senders: list[Sender],
              thief: Sender, sml_width: int, timeout: float,
              say: Callable[[str], None]) -> dict[str, Any]:
    """One task end to end; the driver is the devnet's only publisher, so ids are 0, 1, ..."""
    height = int(client.status()["height"])
    prepared = actors.prepare_task(data.key.address, task_id, sml_width=sml_width,
                                   threshold_ppm=600_000, deadline=height + 20, reveal_window=12,
                                   settle_window=10)
    receipt = client.wait_for(data.send("publish", prepared.publish_args), timeout)["receipt"]
    if not receipt["success"]:
        raise RuntimeError(f"publish failed: {receipt['error']}")
    task = from_json(client.query("tasks", "task", {"task": task_id}))
    say(f"task {task_id} published; deadline {task['deadline']}")
    cands, train_s = [], []
    for i, s in enumerate(senders):
        t0 = time.perf_counter()
        cands.append(actors.train_candidate(task, s.key.address, hp=NODE_HP[i % len(NODE_HP)]))
        train_s.append(time.perf_counter() - t0)
    copy = actors.Candidate(task_id, thief.key.address, cands[0].params, b"t" * 32)
    commits = [s.send("commit", c.commit_args()) for s, c in zip(senders, cands, strict=True)]
    commits.append(thief.send("commit", copy.commit_args()))
    for h in commits:
        client.wait_for(h, timeout)
    wait_until(lambda: client.status()["height"] > task["deadline"], timeout, "the deadline")
    reveals = [data.send("open_test", prepared.open_args(task_id))]
    reveals += [s.send("reveal", c.reveal_args()) for s, c in zip(senders, cands, strict=True)]
    stolen = thief.send("reveal", copy.reveal_args())
    receipts = [client.wait_for(h, timeout)["receipt"] for h in [*reveals, stolen]]
    say(f"task {task_id} revealed; waiting for settlement")
    final = wait_until(lambda: (t := from_json(client.query("tasks", "task", {"task": task_id})))
                       ["status"] == "settled" and t, timeout, f"task {task_id} settling")
    fields = from_json(client.block(int(final["settled_at"]))["engine_fields"])
    pole = fields.get("pole") if final["settled_by"] == "pole" else None
    best = max(r["test_ppm"] for r in final["reveals"])
    return {"task": task_id, "settled_by": final["settled_by"],
            "winner": "0x" + final["winner"]["address"].hex(),
            "winner_test_ppm": final["winner"]["test_ppm"], "best_test_ppm": best,
            "best_model_won": final["winner"]["test_ppm"] == best,
            "pole_block": int(final["settled_at"]) if pole else None,
            "pole_block_winner_matches": bool(pole)
            and pole["winner"] == final["winner"]["address"],
            "candidates": [{"address": "0x" + r["address"].hex(), "train_ppm": r["train_ppm"],
                            "test_ppm": r["test_ppm"]} for r in final["reveals"]],
            "reveals_ok": [bool(r["success"]) for r in receipts[:-1]],
            "copy_rejected": not receipts[-1]["success"],
            "copy_error": receipts[-1]["error"], "train_seconds": train_s,
            "accepted_train_seconds": sum(
                t for t, ok in zip(train_s, receipts[1:-1], strict=True) if ok["success"]),
            "paid": final["paid"]}


def block_metrics(blocks: list[dict[str, Any]], difficulty: int,
                  outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Block-time CV and the useful-work share (PoW compute estimated from the hash rate)."""
    from learnchain.consensus.pow import search_nonce

    times = [b["timestamp_ms"] for b in blocks]
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
    cv = statistics.pstdev(gaps) / statistics.mean(gaps) if len(gaps) > 1 else None
    pole_blocks = sum(1 for b in blocks if "pole" in b["engine_fields"])
    t0 = time.perf_counter()
    search_nonce(b"\x00" * 64, range(1 << 16), 255)  # 65,536 hashes, no hit at difficulty 255
    hash_s = (time.perf_counter() - t0) / (1 << 16)
    pow_seconds = (len(blocks) - pole_blocks) * (1 << difficulty) * hash_s
    train = sum(sum(o["train_seconds"]) for o in outcomes)
    useful = sum(o["accepted_train_seconds"] for o in outcomes)
    total = train + pow_seconds
    return {"blocks": len(blocks), "pole_blocks": pole_blocks,
            "block_time_mean_s": statistics.mean(gaps) if gaps else None,
            "block_time_cv": cv, "train_seconds": train, "pow_seconds_estimate": pow_seconds,
            "useful_work_share": useful / total if total else 0.0}


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"devnet_{result['engine']}.json").write_text(json.dumps(result, indent=2,
                                                                    default=str))


def check(result: dict[str, Any]) -> list[str]:
    """What must hold of a PoLe devnet run (empty when everything does)."""
    bad = []
    if not result["agree"]:
        bad.append("nodes disagree on the chain")
    for o in result["tasks"]:
        if not o["best_model_won"]:
            bad.append(f"task {o['task']}: the best model did not win")
        if not o["copy_rejected"]:
            bad.append(f"task {o['task']}: the copied model was accepted")
    return bad
