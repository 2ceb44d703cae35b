"""PoLe on a devnet of real node processes (genesis ``engine = "pole"``), over HTTP.

The driver plays the off-chain roles: the data node (dev account `alice`) publishes tasks and
opens their test sets; each consensus node (the miner key in its datadir) trains its own model
with its own hyperparameters and commits/reveals it; a thief (dev account `bob`) commits a copy
of node 0's model under its own address. The nodes themselves produce and verify every block
(PoLe settlement blocks and governed-PoW blocks). Outputs: per-task outcome, block-time
coefficient of variation, and the useful-work share.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from learnchain import polling
from learnchain.apps.tasks import actors
from learnchain.apps.tasks.rules import close_height
from learnchain.core.crypto import PrivateKey, load_keystore
from learnchain.devnet import create_devnet, start_devnet, stop_devnet
from learnchain.net.client import NodeClient
from learnchain.net.jsonview import from_json
from learnchain.net.server import free_port_range
from learnchain.scaffold import DEV_PASSWORD

# Each consensus node's own training budget: the competition the best model wins.
NODE_HP: dict[str, tuple[dict[str, int], ...]] = {
    "logreg": ({"max_iter": 100}, {"max_iter": 8}, {"max_iter": 3}),
    "mlp": tuple({"hidden": 32, "epochs": e, "lr_ppm": 10_000, "batch": 64} for e in (20, 4, 1)),
}
MAIN_REWARD, DECOY_REWARD = 1000, 400
HTTP_TIMEOUT = 60.0  # seconds per request: a loaded 2-core machine answers slowly, not never


# Every node's API, read when a wait times out so the error says what the nodes were doing.
_WATCHED: list[NodeClient] = []


def _snapshot() -> str:
    """Each watched node's height, head and open/due tasks (best effort, one line)."""
    parts = []
    for i, c in enumerate(_WATCHED):
        try:
            st = c.status()
            due = [int(t) for t in c.query("tasks", "open_tasks", {})]
            parts.append(f"node {i}: height {st['height']} head {str(st['head'])[:12]} "
                         f"open {due}")
        except Exception as exc:
            parts.append(f"node {i}: unreachable ({type(exc).__name__}: {exc})")
    return "; ".join(parts) or "no nodes watched"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll with API errors as "not yet"; a timeout names every node's height and tasks."""
    return polling.wait_until(predicate, timeout, what, poll=0.2, errors=(Exception,),
                              describe=_snapshot)


def _wait_tx(client: NodeClient, tx_hash: bytes, timeout: float) -> dict[str, Any]:
    """The transaction once included (a slow or refused poll is retried until `timeout`)."""
    return wait_until(lambda: (found := client.transaction(tx_hash))["status"] == "included"
                      and found, timeout, f"transaction 0x{tx_hash.hex()[:16]} included")


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


@dataclass(frozen=True)
class Plan:
    """Task settings for one run; `deadline_blocks` is stretched to the measured training time
    so a loaded machine still gets every commitment in before the deadline."""

    kind: str = "mlp"
    sml_width: int = 32
    threshold_ppm: int = 600_000
    deadline_blocks: int = 12
    reveal_window: int = 10
    settle_window: int = 10
    decoy: bool = True


def stretched(plan: Plan, nodes: int, block_interval_ms: int) -> tuple[Plan, float]:
    """`plan` with its deadline and reveal window stretched to this machine's measured speed,
    and the seconds one warm training took.

    Both phases end at a fixed height while blocks keep coming at the block interval, however
    slowly the driver's transactions get in. The commit phase holds the trainings and the
    commitments; the reveal phase holds the test-set opening and every reveal (one model
    evaluation each on the nodes). A loaded machine slows both about as much as it slows one
    training, so each gets twice the nodes' training time in blocks plus a fixed margin (a
    reveal window of 8-10 blocks let the opening land after the close on a loaded CI machine:
    the task failed instead of settling).

    The settle window must let the winner's turn come: a task settles by PoLe only in a block
    its winner proposes, and with N nodes racing for each height the winner proposes none of
    w blocks with probability about (1 - 1/N)^w (3 nodes, w = 10: 1.7 %, and more when load
    skews the race; a CI run settled by fallback). Winners now propose without the per-head
    jitter (`PoLeEngine.has_priority`), which leaves only near-ties to chance; the window still
    gets 24 blocks plus the load margin ((2/3)^24 = 0.006 % even for a fair race), which costs
    nothing when the winner's block comes early.
    """
    train_s = actors.warm_up(plan.kind, NODE_HP[plan.kind][0])
    load_blocks = math.ceil(2 * nodes * train_s * 1000 / block_interval_ms)
    return replace(plan, deadline_blocks=max(plan.deadline_blocks, load_blocks + 16),
                   reveal_window=max(plan.reveal_window, load_blocks + 10),
                   settle_window=max(plan.settle_window, load_blocks + 24)), train_s


def run(root: Path, *, nodes: int = 3, tasks: int = 2, difficulty: int = 10,
        block_interval_ms: int = 1000, timeout: float = 240.0, engine: str = "pole",
        plan: Plan | None = None, progress: Callable[[str], None] | None = None
        ) -> dict[str, Any]:
    """Run `tasks` training tasks on a fresh devnet under `root`; return outcomes and metrics.

    With ``engine = "pow"`` the same workload runs on governed PoW (tasks settle by fallback),
    so the block-time comparison holds the load fixed and varies only the engine.
    """
    t_run = time.perf_counter()
    say = progress or (lambda _msg: None)
    plan = plan or Plan()
    devnet = create_devnet(root, nodes, base_port=free_port_range(nodes), difficulty=difficulty,
                           block_interval_ms=block_interval_ms, fast_kdf=True, engine=engine,
                           extra_apps=("tasks",))
    pids = start_devnet(root)
    try:
        # imports + one timed training while the nodes start; deadlines get twice the time the
        # nodes' trainings take at this speed, plus 16 blocks for the two publishes and the
        # commitments to get in (at load average 25, runs with a fast warm-up and 6 or 12
        # blocks of margin saw the deadline pass before the nodes could pick the task)
        plan, train_s = stretched(plan, nodes, block_interval_ms)
        client = NodeClient(devnet[0].url, timeout=HTTP_TIMEOUT)
        _WATCHED[:] = [NodeClient(n.url, timeout=10.0) for n in devnet]
        status = wait_until(lambda: client.status(), timeout, "the first node's API")
        chain_id = int(status["chain_id"])
        miners = [load_keystore(n.datadir / "keys" / "node.json", DEV_PASSWORD) for n in devnet]
        data = Sender(client, load_keystore(root / "keys" / "alice.json", DEV_PASSWORD),
                      chain_id)
        senders = [Sender(client, k, chain_id) for k in miners]
        thief = Sender(client, load_keystore(root / "keys" / "bob.json", DEV_PASSWORD),
                       chain_id)
        outcomes = [_one_task(client, i, data, senders, thief, plan, timeout, say)
                    for i in range(tasks)]
        if not tasks:
            wait_until(lambda: client.status()["height"] >= 30, timeout, "30 blocks")
        settled = max((int(o["settled_at"]) for o in outcomes), default=0)
        clients = [NodeClient(n.url, timeout=HTTP_TIMEOUT) for n in devnet]
        height = _agreed_height(clients, settled, timeout)
        blocks = [client.block(h) for h in range(1, height + 1)]
        cpu = _cpu_seconds(list(pids.values()))
    finally:
        _WATCHED.clear()
        stop_devnet(root)
    genesis = json.loads((root / "genesis.json").read_text())
    return {"engine": engine, "nodes": nodes, "difficulty": difficulty,
            "block_interval_ms": block_interval_ms, "plan": asdict(plan), "tasks": outcomes,
            "height": height, "agree": True,  # _agreed_height raises if they never agree
            "warm_train_seconds": train_s,
            "seconds": time.perf_counter() - t_run,
            **block_metrics(blocks, genesis["apps"]["consensus"]["miners"], outcomes, cpu)}


def _agreed_height(clients: list[NodeClient], at_least: int, timeout: float) -> int:
    """A height >= `at_least`, below every node's head, where all nodes hold the same block
    (nodes keep mining, so the tips may differ for a moment; wait until they agree)."""
    def agreed() -> int | None:
        h = min(int(c.status()["height"]) for c in clients) - 1
        return (h if h >= max(at_least, 1) and len({c.block(h)["hash"] for c in clients}) == 1
                else None)
    return int(wait_until(agreed, timeout, "the nodes agreeing on a common block"))


def _cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds of the node processes so far (Linux /proc; None elsewhere)."""
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _open_tasks(client: NodeClient) -> list[dict[str, Any]]:
    return [from_json(client.query("tasks", "task", {"task": t}))
            for t in client.query("tasks", "open_tasks", {})]


def _one_task(client: NodeClient, round_no: int, data: Sender, senders: list[Sender],
              thief: Sender, plan: Plan, timeout: float,
              say: Callable[[str], None]) -> dict[str, Any]:
    """One round end to end: the data node posts a task (and a lower-reward decoy); each
    consensus node picks the open task with the largest reward, trains, commits, reveals."""
    t_start = time.perf_counter()
    height = int(client.status()["height"])
    common = {"kind": plan.kind, "sml_width": plan.sml_width,
              "threshold_ppm": plan.threshold_ppm, "deadline": height + plan.deadline_blocks,
              "reveal_window": plan.reveal_window, "settle_window": plan.settle_window}
    first = int(client.query("tasks", "next_id", {}))  # the driver is the only publisher
    decoy_id = first if plan.decoy else None
    task_id = first + 1 if plan.decoy else first
    prepared = actors.prepare_task(data.key.address, task_id, reward=MAIN_REWARD, **common)
    # the test-set commitments bind the task ids the app will assign; the decoy goes first (a
    # node ignoring rewards would take it: lower id, same deadline)
    publishes = []
    if decoy_id is not None:
        decoy = actors.prepare_task(data.key.address, decoy_id, reward=DECOY_REWARD, **common)
        publishes.append((decoy_id, data.send("publish", decoy.publish_args)))
    publishes.append((task_id, data.send("publish", prepared.publish_args)))
    for want, tx_hash in publishes:
        receipt = _wait_tx(client, tx_hash, timeout)["receipt"]
        if not receipt["success"] or int(receipt["result"]["task"]) != want:
            raise RuntimeError(f"publish of task {want} failed: {receipt}")
    say(f"round {round_no}: task {task_id} published; deadline {common['deadline']}")
    cands, train_s, picks = [], [], []
    for i, s in enumerate(senders):
        # a fork may briefly undo a publish on node 0: wait for a pickable task to (re)appear
        task = wait_until(lambda: actors.pick_task(_open_tasks(client),
                                                   int(client.status()["height"])),
                          min(timeout, 60.0), f"node {i} to find an open task it can commit to")
        picks.append(int(task["id"]))
        t0 = time.process_time()
        cands.append(actors.train_candidate(task, s.key.address,
                                            hp=NODE_HP[plan.kind][i % len(NODE_HP[plan.kind])]))
        train_s.append(time.process_time() - t0)
    copy = actors.Candidate(task_id, thief.key.address, cands[0].params, b"t" * 32)
    commits = [s.send("commit", c.commit_args()) for s, c in zip(senders, cands, strict=True)]
    commits.append(thief.send("commit", copy.commit_args()))
    commit_ok = [bool(_wait_tx(client, h, timeout)["receipt"]["success"]) for h in commits]
    t_commits = time.perf_counter()
    # a fork can briefly undo the publish on node 0 here too: retry until it is back
    task = wait_until(lambda: from_json(client.query("tasks", "task", {"task": task_id})),
                      timeout, f"task {task_id} on node 0")
    wait_until(lambda: client.status()["height"] > task["deadline"], timeout, "the deadline")
    reveals = [data.send("open_test", prepared.open_args(task_id))]
    reveals += [s.send("reveal", c.reveal_args()) for s, c in zip(senders, cands, strict=True)]
    stolen = thief.send("reveal", copy.reveal_args())
    receipts = [_wait_tx(client, h, timeout)["receipt"] for h in [*reveals, stolen]]
    if not receipts[0]["success"]:
        raise RuntimeError(f"task {task_id}: the data node's test-set opening was refused "
                           f"({receipts[0]['error']}); the task will fail, not settle")
    say(f"round {round_no}: task {task_id} revealed; waiting for settlement")
    final = wait_until(lambda: (t := from_json(client.query("tasks", "task", {"task": task_id})))
                       ["status"] in ("settled", "failed", "expired") and t, timeout,
                       f"task {task_id} settling")
    if final["status"] != "settled":
        raise RuntimeError(f"task {task_id} closed as {final['status']!r} instead of settling "
                           f"(reveal errors: {[r['error'] for r in receipts[1:]]})")
    decoy_status = None
    if decoy_id is not None:
        decoy_status = wait_until(
            lambda: (st := from_json(client.query("tasks", "task", {"task": decoy_id}))["status"])
            not in ("open", "due") and st, timeout, f"decoy task {decoy_id} closing")
    fields = from_json(client.block(int(final["settled_at"]))["engine_fields"])
    pole = fields.get("pole") if final["settled_by"] == "pole" else None
    best = max(r["test_ppm"] for r in final["reveals"])
    return {"task": task_id, "decoy": decoy_id, "decoy_status": decoy_status, "picked": picks,
            "picked_largest_reward": all(p == task_id for p in picks),
            "commits_ok": commit_ok, "settled_by": final["settled_by"],
            "winner": "0x" + final["winner"]["address"].hex(),
            "winner_test_ppm": final["winner"]["test_ppm"], "best_test_ppm": best,
            "best_model_won": final["winner"]["test_ppm"] == best,
            "pole_block": int(final["settled_at"]) if pole else None,
            "pole_block_winner_matches": bool(pole)
            and pole["winner"] == final["winner"]["address"],
            "candidates": [{"address": "0x" + r["address"].hex(), "train_ppm": r["train_ppm"],
                            "test_ppm": r["test_ppm"]} for r in final["reveals"]],
            "reveals_ok": [bool(r["success"]) for r in receipts[:-1]],
            "reveal_errors": [r["error"] for r in receipts[:-1]],
            "copy_rejected": not receipts[-1]["success"],
            "copy_error": receipts[-1]["error"], "train_cpu_seconds": train_s,
            "accepted_train_cpu_seconds": sum(
                t for t, ok in zip(train_s, receipts[1:-1], strict=True) if ok["success"]),
            "paid": final["paid"], "settled_at": int(final["settled_at"]),
            "blocks_after_close": int(final["settled_at"]) - close_height(final),
            "seconds": {"publish_to_commits": t_commits - t_start,
                        "commits_to_settled": time.perf_counter() - t_commits}}


def pow_hashes(block: dict[str, Any], miners: list[str], nonce_bits: int = 32) -> int:
    """Hashes the proposer tried for a PoW block, read from its seal: the search starts at the
    bottom of the miner's nonce range and stops at the first hit (each `extra` bump is a full
    range)."""
    span = (1 << nonce_bits) // len(miners)
    index = [m.lower() for m in miners].index(block["proposer"].lower())
    nonce = int(block["seal"][2:] or "0", 16)
    return int(block["engine_fields"].get("extra", 0)) * span + nonce - index * span + 1


def block_metrics(blocks: list[dict[str, Any]], miners: list[str],
                  outcomes: list[dict[str, Any]], node_cpu_s: float | None = None
                  ) -> dict[str, Any]:
    """Block-time CV and the useful-work share.

    PoW search work is *counted* from each block's seal (hashes the winner tried) and priced at
    the hash rate measured here; training work is the driver's CPU time per candidate. A second
    share divides accepted training by all training plus the node processes' whole CPU time
    (verification, networking and hashing included: a conservative bound).
    """
    from learnchain.consensus.pow import search_nonce

    times = [b["timestamp_ms"] for b in blocks]
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
    cv = statistics.pstdev(gaps) / statistics.mean(gaps) if len(gaps) > 1 else None
    # a stall: a gap over 3x the median (the machine or a node paused; neither engine causes
    # it). The CV without stalls shows what the block producers' timers do.
    steady = [g for g in gaps if g <= 3 * statistics.median(gaps)] if gaps else []
    steady_cv = (statistics.pstdev(steady) / statistics.mean(steady)
                 if len(steady) > 1 else None)
    is_pole = ["pole" in b["engine_fields"] for b in blocks]
    pole_gaps = [g for g, p in zip(gaps, is_pole[1:], strict=True) if p]
    t0 = time.process_time()
    search_nonce(b"\x00" * 64, range(1 << 16), 255)  # 65,536 hashes, no hit at difficulty 255
    hash_s = (time.process_time() - t0) / (1 << 16)
    hashes = sum(pow_hashes(b, miners) for b, p in zip(blocks, is_pole, strict=True) if not p)
    pow_seconds = hashes * hash_s
    train = sum(sum(o["train_cpu_seconds"]) for o in outcomes)
    useful = sum(o["accepted_train_cpu_seconds"] for o in outcomes)
    total = train + pow_seconds
    return {"blocks": len(blocks), "pole_blocks": sum(is_pole),
            "block_time_mean_s": statistics.mean(gaps) if gaps else None,
            "block_time_cv": cv, "block_time_cv_without_stalls": steady_cv,
            "stalls": len(gaps) - len(steady), "pole_block_gaps_s": pole_gaps, "block_gaps_s": gaps,
            "pole_heights": [i + 1 for i, p in enumerate(is_pole) if p and i > 0],
            "train_cpu_seconds": train, "pow_hashes": hashes, "pow_seconds": pow_seconds,
            "hashes_per_second": 1 / hash_s if hash_s else None,
            "useful_work_share": useful / total if total else 0.0,
            "node_cpu_seconds": node_cpu_s,
            "useful_share_of_all_node_cpu": useful / (train + node_cpu_s)
            if node_cpu_s else None}


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"devnet_{result['engine']}.json").write_text(json.dumps(result, indent=2,
                                                                    default=str))


def check(result: dict[str, Any]) -> list[str]:
    """What must hold of a devnet run (empty when everything does)."""
    bad = []
    if not result["agree"]:
        bad.append("nodes disagree on the chain")
    for o in result["tasks"]:
        if not o["picked_largest_reward"]:
            bad.append(f"task {o['task']}: a node did not pick the largest-reward task "
                       f"(picked {o['picked']})")
        if not all(o["commits_ok"]):
            bad.append(f"task {o['task']}: a commitment failed")
        if not (o["reveals_ok"][0] and o["reveals_ok"][1]):
            bad.append(f"task {o['task']}: the test set or the full-budget model was refused: "
                       f"{o['reveal_errors']}")
        if not o["best_model_won"]:
            bad.append(f"task {o['task']}: the best model did not win")
        if not o["copy_rejected"]:
            bad.append(f"task {o['task']}: the copied model was accepted")
        if result["engine"] == "pole" and o["settled_by"] == "pole" and not \
                o["pole_block_winner_matches"]:
            bad.append(f"task {o['task']}: the PoLe block names another winner")
        if o["decoy"] is not None and o["decoy_status"] not in ("failed", "expired"):
            bad.append(f"task {o['task']}: the ignored decoy ended {o['decoy_status']!r}")
    return bad
