"""The worker daemon's logic: watch a node, deposit, compute, commit, reveal, settle.

`Worker.step()` is one pass over the node's open tasks; everything it needs is re-read from
chain state each time, and the salt of a commitment is derived from the worker's key and the
task (``K_i = h("crowd/salt" ‖ secret ‖ task)``), so a restarted worker resumes its open tasks
with nothing saved locally: it recomputes the (deterministic) result and re-derives the salt.

A `Backend` is how the worker talks to a chain: over HTTP (`HttpBackend`, `learnchain worker`)
or in-process (`LocalBackend` on a `learnchain.testing` node, for tests and experiments).
Transactions are always built by those helpers (`NodeClient.send`, `TestNode.send`).

Strategies (for experiments; only `honest` is rational, which is the point of the paper):
``honest`` computes P(x; r); ``lazy`` deposits and never commits (σ_e); ``junk`` reveals a
random result outside E_ck (σ_f); ``eck`` reveals all zeros (in E_ck); ``copycat`` computes
nothing and tries to reuse another worker's commitment; ``coalition`` reveals a junk result
shared by every member holding the same coalition secret (σ_3 of §VI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from learnchain.apps.commit_reveal import commitment
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.programs import PROGRAMS, run_program
from learnchain.core.encoding import encode
from learnchain.core.errors import LearnchainError
from learnchain.ml.coins import hash_parts

MAX_ATTEMPTS = 4
# Blocks on top of the coin block before computing: a fork that replaces the coin block changes
# the seed, and a result computed from the stale seed would be committed for good.
COIN_CONFIRMATIONS = 2
STRATEGIES = ("honest", "lazy", "junk", "eck", "copycat", "coalition")


class Backend(Protocol):
    address: bytes
    secret: bytes

    def height(self) -> int: ...
    def query(self, method: str, args: dict[str, Any]) -> Any: ...
    def send(self, method: str, args: dict[str, Any]) -> bytes: ...
    def receipt(self, tx_hash: bytes) -> tuple[bool, str | None] | None: ...
    def get_content(self, digest: bytes) -> bytes | None: ...
    def put_content(self, data: bytes) -> bytes: ...
    def balance(self) -> int: ...


class HttpBackend:
    """A node's /v1 API over keep-alive connections; signs with a keystore key.

    A submission is one round-trip: the chain id, this key's next nonce and the chain's fee
    rate are read once and tracked here, and read again after any refusal (a nonce taken by
    another client of the same key, or a fee rate changed by governance)."""

    def __init__(self, url: str, key: Any) -> None:
        from learnchain.client import build_transaction
        from learnchain.net.client import ApiClientError
        from learnchain.net.jsonview import from_json
        from learnchain.net.keepalive import KeepAliveNodeClient

        # Imported once here, not on a task's first transaction (start-up, not overhead).
        self._build, self._api_error, self._from_json = build_transaction, ApiClientError, from_json

        self.client = KeepAliveNodeClient(url)
        self.key = key
        self.address = key.address
        self.secret = key.secret
        self._chain_id: int | None = None
        self._nonce: int | None = None
        self._fee_per_byte: int | None = None

    def height(self) -> int:
        status = self.client.status()
        self._chain_id = int(status["chain_id"])  # read anyway: saves send() a round-trip
        return int(status["height"])

    def query(self, method: str, args: dict[str, Any]) -> Any:
        return self._from_json(self.client.query("crowd", method, args))

    def send(self, method: str, args: dict[str, Any]) -> bytes:
        if self._chain_id is None:
            self._chain_id = int(self.client.status()["chain_id"])
        if self._nonce is None:
            self._nonce = int(self.client.account(self.address)["nonce"])
        if self._fee_per_byte is None:
            self._fee_per_byte = self.client.fee_per_byte()
        tx = self._build(self.key, chain_id=self._chain_id, nonce=self._nonce,
                               app="crowd", method=method, args=args,
                               fee_per_byte=self._fee_per_byte)
        try:
            self.client.submit(tx)
        except LearnchainError:
            self._nonce = self._fee_per_byte = None
            raise
        self._nonce += 1
        return tx.hash

    def receipt(self, tx_hash: bytes) -> tuple[bool, str | None] | None:
        try:
            found = self.client.transaction(tx_hash)
        except self._api_error:
            return (False, "dropped from the mempool")
        if found["status"] != "included":
            return None
        return bool(found["receipt"]["success"]), found["receipt"].get("error")

    def get_content(self, digest: bytes) -> bytes | None:
        try:
            return self.client.get_content(digest)
        except self._api_error:
            return None

    def put_content(self, data: bytes) -> bytes:
        return self.client.put_content(data)

    def balance(self) -> int:
        return int(self.client.account(self.address)["balance"])


class LocalBackend:
    """An in-process `learnchain.testing` node and a named dev key."""

    def __init__(self, node: Any, name: str) -> None:
        from learnchain.storage.digest_store import digest_store
        from learnchain.testing import dev_key

        self.node, self.name = node, name
        key = dev_key(name)
        self.address, self.secret = key.address, key.secret
        self.store = digest_store(node.chain)

    def height(self) -> int:
        return self.node.chain.height

    def query(self, method: str, args: dict[str, Any]) -> Any:
        return self.node.chain.query("crowd", method, args)

    def send(self, method: str, args: dict[str, Any]) -> bytes:
        return self.node.send(self.name, "crowd", method, args).hash

    def receipt(self, tx_hash: bytes) -> tuple[bool, str | None] | None:
        found = self.node.chain.find_transaction(tx_hash)
        if found is None:
            return None if tx_hash in self.node.node.mempool else (False, "dropped")
        return found[2].success, found[2].error

    def get_content(self, digest: bytes) -> bytes | None:
        return self.store.get(digest)

    def put_content(self, data: bytes) -> bytes:
        return self.store.put(data)

    def balance(self) -> int:
        return self.node.balance(self.address)


@dataclass
class WorkerStats:
    joined: int = 0
    settled: int = 0
    earnings: int = 0
    compute_s: float = 0.0
    tx_s: float = 0.0  # building, signing and submitting our transactions
    poll_s: float = 0.0  # reading chain state and receipts
    errors: list[str] = field(default_factory=list)
    outcomes: dict[int, int] = field(default_factory=dict)


@dataclass
class Worker:
    """One worker with one strategy; `step()` advances every task it can act on."""

    backend: Backend
    strategy: str = "honest"
    coalition: bytes = b""
    max_open: int = 4
    max_deposit: int | None = None
    programs: tuple[tuple[str, int], ...] = tuple(PROGRAMS)
    tasks: frozenset[int] | None = None  # only these task ids (experiments that assign seats)
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    stats: WorkerStats = field(default_factory=WorkerStats)
    _pending: dict[tuple[int, str], bytes] = field(default_factory=dict)
    _done: set[tuple[int, str]] = field(default_factory=set)
    _results: dict[int, bytes] = field(default_factory=dict)
    _mine: set[int] = field(default_factory=set)
    _attempt: dict[int, int] = field(default_factory=dict)
    _checked_at: int = -1  # the height at which pending receipts were last read

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; one of {', '.join(STRATEGIES)}")
        if self.strategy == "coalition" and not self.coalition:
            raise ValueError("the coalition strategy needs a shared coalition secret")

    # ----- helpers -----------------------------------------------------------------------

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)

    def salt(self, task_id: int, attempt: int = 0) -> bytes:
        """K_i for the attempt-th commitment: secret, and re-derivable after a restart."""
        return hash_parts(b"crowd/salt", self.backend.secret, R.task_context(task_id),
                          attempt.to_bytes(4, "big"))

    def _send(self, task_id: int, action: str, method: str, args: dict[str, Any]) -> None:
        key = (task_id, action)
        if key in self._pending or key in self._done:
            return
        start = time.perf_counter()
        try:
            self._pending[key] = self.backend.send(method, args)
        except LearnchainError as exc:  # refused at the mempool: remember, do not retry
            self._done.add(key)
            self.stats.errors.append(f"task {task_id} {action}: {exc}")
        finally:
            self.stats.tx_s += time.perf_counter() - start

    def _check_pending(self) -> None:
        for key, tx_hash in list(self._pending.items()):
            start = time.perf_counter()
            got = self.backend.receipt(tx_hash)
            self.stats.poll_s += time.perf_counter() - start
            if got is None:
                continue
            del self._pending[key]
            self._done.add(key)
            ok, error = got
            if not ok and key[1] == "settle" and "already" in (error or ""):
                continue  # another participant settled first
            if not ok:
                if key[1] == "join":  # lost the race for a seat: free the slot
                    self._mine.discard(key[0])
                if key[1].startswith("commit") and "another worker" in (error or ""):
                    # someone front-ran our commitment: commit again under a fresh salt
                    self._attempt[key[0]] = self._attempt.get(key[0], 0) + 1
                self.stats.errors.append(f"task {key[0]} {key[1]}: {error}")
                self._emit("refused", task=key[0], action=key[1], error=error)
            elif key[1] == "join":
                self.stats.joined += 1
                self._emit("joined", task=key[0])

    def result_for(self, task: dict[str, Any]) -> bytes:
        """The bytes this strategy reveals (computing P(x; r) only for `honest`)."""
        task_id = task["id"]
        if task_id in self._results:
            return self._results[task_id]
        if self.strategy == "honest":
            data = self.backend.get_content(task["input"])
            if data is None:
                raise R.InputMismatch(f"input 0x{task['input'].hex()} of task {task_id} is not "
                                      "in the node's content store")
            if R.sha256(data) != task["input"]:
                raise R.InputMismatch(f"input of task {task_id} does not hash to its digest")
            start = time.perf_counter()
            result = run_program(task["program"], task["version"], data, task["seed"],
                                 task["coins"])
            self.stats.compute_s += time.perf_counter() - start
            self.backend.put_content(result)
        elif self.strategy == "coalition":
            result = encode([hash_parts(b"crowd/junk", self.coalition, task["seed"],
                                        j.to_bytes(8, "big")) for j in range(task["coins"])])
        elif self.strategy == "eck":
            result = encode([bytes(32)] * task["coins"])
        else:  # junk (and the fallback of strategies that never reveal)
            result = encode([os.urandom(32) for _ in range(task["coins"])])
        self._results[task_id] = result
        return result

    def my_commitment(self, task: dict[str, Any], attempt: int = 0) -> bytes:
        return commitment(R.sha256(self.result_for(task)), self.salt(task["id"], attempt),
                          self.backend.address, R.task_context(task["id"]))

    def _opening_salt(self, task: dict[str, Any], committed: bytes) -> bytes:
        """The salt whose commitment is on chain (found again after a restart)."""
        for attempt in range(MAX_ATTEMPTS):
            if self.my_commitment(task, attempt) == committed:
                return self.salt(task["id"], attempt)
        return self.salt(task["id"], self._attempt.get(task["id"], 0))

    # ----- the loop ----------------------------------------------------------------------

    def _wants(self, task: dict[str, Any]) -> bool:
        if self.tasks is not None and task["id"] not in self.tasks:
            return False
        if (task["program"], task["version"]) not in self.programs:
            return False
        if self.max_deposit is not None and task["deposit"] > self.max_deposit:
            return False
        return len(self._mine) < self.max_open

    def step(self) -> None:
        """One pass: settle what is due, reveal, commit, then join new tasks."""
        start = time.perf_counter()
        if self.tasks is None:
            tasks = self.backend.query("open_tasks", {})
        else:
            tasks = [t for t in (self.backend.query("task", {"task_id": i})
                                 for i in sorted(self.tasks)) if t["status"] == "open"]
        height = self.backend.height() + 1  # the block our transactions can enter
        self.stats.poll_s += time.perf_counter() - start
        if height != self._checked_at:  # receipts only change with a new block
            self._checked_at = height
            self._check_pending()
        open_ids = {t["id"] for t in tasks}
        for task_id in sorted(self._mine - open_ids):
            self._finish(task_id)
        for task in tasks:
            phase = R.phase_at(task, height)
            if self.backend.address in task["workers"]:
                self._mine.add(task["id"])
                self._act(task, phase, height)
            elif phase == "prepare" and self._wants(task):
                self._send(task["id"], "join", "join",
                           {"task_id": task["id"], "deposit": task["deposit"]})
                self._mine.add(task["id"])
            elif phase == "expired" and task["id"] in self._mine:
                self._send(task["id"], "cancel", "cancel", {"task_id": task["id"]})

    def _act(self, task: dict[str, Any], phase: str, height: int) -> None:
        task_id = task["id"]
        seat = task["workers"].index(self.backend.address)
        if phase == "commit" and not task["commits"][seat] and self.strategy != "lazy":
            if height - 1 < task["coin_height"] + COIN_CONFIRMATIONS \
                    and height <= task["commit_deadline"] - 1:
                return  # let the coin block be buried first (while the deadline allows)
            if self.strategy == "copycat":
                others = [c for c in task["commits"] if c]
                if not others:
                    return  # wait for someone to copy
                value = others[0]
            else:
                value = self.my_commitment(task, self._attempt.get(task_id, 0))
            attempt = self._attempt.get(task_id, 0)
            if attempt < MAX_ATTEMPTS:
                self._send(task_id, f"commit{attempt}", "commit",
                           {"task_id": task_id, "commitment": value})
        elif phase == "reveal" and task["commits"][seat] and not task["results"][seat]:
            salt = self._opening_salt(task, task["commits"][seat])
            self._send(task_id, "reveal", "reveal", {"task_id": task_id,
                                                      "result": self.result_for(task),
                                                      "salt": salt})
        elif phase == "settle" and (seat == 0 or height > task["reveal_deadline"] + seat):
            # seat 0 settles as soon as it is due; the others only if it has not, a block
            # apart each, so a task is normally settled by one transaction, not n
            self._send(task_id, "settle", "settle", {"task_id": task_id})
        elif phase == "expired":
            self._send(task_id, "cancel", "cancel", {"task_id": task_id})

    def _finish(self, task_id: int) -> None:
        """A task of ours left the open list: book what it paid us."""
        self._mine.discard(task_id)
        start = time.perf_counter()
        task = self.backend.query("task", {"task_id": task_id})
        self.stats.poll_s += time.perf_counter() - start
        if self.backend.address not in task["workers"]:
            return
        seat = task["workers"].index(self.backend.address)
        net = task["payouts"][seat] - task["deposit"] if task["payouts"] else 0
        self.stats.outcomes[task_id] = net
        self.stats.earnings += net
        self.stats.settled += 1
        self._results.pop(task_id, None)
        self._emit("settled", task=task_id, net=net, status=task["status"])


def run_local(node: Any, workers: list[Worker], until: Callable[[], bool],
              max_blocks: int = 200) -> int:
    """Drive in-process workers: each block, every worker steps, then the node mines."""
    for mined in range(max_blocks):
        if until():
            return mined
        for worker in workers:
            worker.step()
        node.mine(1)
    for worker in workers:
        worker.step()
    if not until():
        raise TimeoutError(f"condition not reached within {max_blocks} blocks")
    return max_blocks
