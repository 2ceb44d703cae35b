"""What every step of the scripted demo day shares: its context, its result, waiting, sending.

A step is a function ``run(day) -> StepResult``. It talks to the devnet's node processes over
HTTP only (the same API any client uses), reports progress through ``day.say``/``day.tick``
(rich progress bars in the terminal, nothing with ``--json``) and returns what happened on
chain: a one-line story, the transaction hashes and heights it saw included, and its numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from learnchain import polling
from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import LearnchainError
from learnchain.devnet import DevnetNode
from learnchain.net.client import NodeClient


class StepFailed(LearnchainError):
    """A step's on-chain outcome is not what the story says (the summary marks it failed)."""


@dataclass
class StepResult:
    """One row of the closing summary table (and of the ``--json`` summary)."""

    step: str
    title: str
    status: str = "ok"  # ok | failed | skipped
    what: str = ""  # what happened on chain, one or two sentences
    txs: list[str] = field(default_factory=list)  # 0x hashes of the key transactions
    heights: list[int] = field(default_factory=list)  # blocks that included them
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Profile:
    """Sizes of the day: ``--quick`` shrinks every one of them."""

    name: str
    nodes: int
    block_interval_ms: int
    difficulty: int
    collab_samples: int  # flipped-label samples; the honest contributor adds twice as many
    refund_wait_s: int  # the collab model's refund window (the paper's default is a day)
    crowd_rows: int  # >= 256: a 96% model is then perfect (all ones, in E_ck) with p < 1e-4
    pole_nodes: int  # of the second PoLe devnet (when the day's engine is not pole)
    pole_interval_ms: int
    governance_target_s: float
    blocks_after_kill: int

    @classmethod
    def full(cls, nodes: int = 4) -> Profile:
        return cls("full", nodes, 500, 16, 12, 4, 512, 3, 1000, 2.5, 16)

    @classmethod
    def quick(cls, nodes: int = 3) -> Profile:
        return cls("quick", nodes, 500, 16, 3, 2, 256, 2, 1000, 1.5, 8)


@dataclass
class Day:
    """The running devnet and the keys the steps act with."""

    root: Path
    nodes: list[DevnetNode]
    pids: dict[int, int]
    engine: str
    profile: Profile
    node_keys: list[PrivateKey]
    accounts: dict[str, PrivateKey]  # dev accounts alice, bob
    say: Callable[[str, str], None] = lambda _step, _text: None
    tick: Callable[[str], None] = lambda _step: None
    extra_roots: list[Path] = field(default_factory=list)  # other devnets to stop at the end
    killed: set[int] = field(default_factory=set)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)  # workers to reap
    stopping: bool = False  # set by the shutdown: steps must not start new processes

    @property
    def urls(self) -> list[str]:
        return [n.url for i, n in enumerate(self.nodes) if i not in self.killed]

    def client(self, i: int = 0) -> NodeClient:
        live = self.urls
        return NodeClient(live[i % len(live)], timeout=30.0)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               poll: float = 0.3) -> Any:
    """Poll ``predicate`` until it returns something truthy; API hiccups count as "not yet"."""
    try:
        return polling.wait_until(predicate, timeout, what, poll=poll, errors=(Exception,))
    except polling.WaitTimeout as exc:
        raise StepFailed(str(exc)) from None


def wait_connected(nodes: list[DevnetNode], timeout: float) -> None:
    """Every node mining and connected to all the others. Acting earlier invites a reorg:
    a node that has not met its peers yet builds a chain of its own, and a transaction it
    included can be dropped when the longer chain arrives (seen: a PoLe task's publish
    re-included after its deadline)."""
    from learnchain.devnet import node_info

    seen: set[str] = set()

    def ready() -> bool:
        for node in nodes:  # a node once seen ready stays counted (one slow answer is no news)
            if node.url not in seen:
                info = node_info(node.url, timeout=10.0)  # a loaded machine answers slowly
                if info and info.get("height", 0) >= 2 and \
                        len(info.get("peers", [])) >= len(nodes) - 1:
                    seen.add(node.url)
        return len(seen) == len(nodes)

    wait_until(ready, timeout, f"{len(nodes)} nodes mining and connected", poll=0.5)


class Sender:
    """Signs with a tracked nonce so one key can have many transactions in flight, and keeps
    the hash and inclusion height of every one it waited for (the step's evidence)."""

    def __init__(self, client: NodeClient, key: PrivateKey) -> None:
        self.client = client
        self.key = key
        self.chain_id = int(client.status()["chain_id"])
        self.nonce = int(client.account(key.address)["nonce"])

    def send(self, app: str, method: str, args: dict[str, Any]) -> bytes:
        tx = self.client.send(self.key, app, method, args, chain_id=self.chain_id,
                              nonce=self.nonce)
        self.nonce += 1
        return tx.hash

    def wait(self, tx_hash: bytes, timeout: float = 180.0) -> dict[str, Any]:
        """The receipt once included; a refused transaction is a StepFailed with its reason."""
        found = self.client.wait_for(tx_hash, timeout)
        receipt = found["receipt"]
        if not receipt["success"]:
            raise StepFailed(f"transaction 0x{tx_hash.hex()[:12]}… failed: {receipt['error']}")
        return found

    def call(self, app: str, method: str, args: dict[str, Any]) -> tuple[str, int, Any]:
        """Send, wait, and return (0x hash, height, result)."""
        h = self.send(app, method, args)
        found = self.wait(h)
        return "0x" + h.hex(), int(found["height"]), found["receipt"]["result"]


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it if it exited
        return done == 0
    except ChildProcessError:  # not our child (or already reaped)
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def stop_processes(pids: list[int], grace: float = 15.0) -> list[int]:
    """SIGTERM, wait up to `grace` seconds, SIGKILL what is left; returns pids still alive."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if _alive(p)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    return [p for p in left if _alive(p)]


def devnet_pids(root: Path) -> list[int]:
    path = root / "pids.json"
    if not path.exists():
        return []
    with contextlib.suppress(ValueError, OSError):
        return [int(p) for p in json.loads(path.read_text()).values()]
    return []


def stop_devnet_processes(root: Path) -> list[int]:
    """Like `devnet.stop_devnet`, but reaps our own children (a dead child stays a zombie,
    which `os.kill(pid, 0)` cannot tell from a live process); returns pids left alive."""
    left = stop_processes(devnet_pids(root))
    (root / "pids.json").unlink(missing_ok=True)
    return left


def short(tx: str) -> str:
    return tx[:10] + "…"
