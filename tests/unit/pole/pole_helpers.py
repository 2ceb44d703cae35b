"""Shared by the PoLe tests: an in-process network of `pole` nodes and direct app calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnchain.apps.base import BlockInfo, CallContext
from learnchain.apps.tasks import actors
from learnchain.apps.tasks.app import TasksApp
from learnchain.core.encoding import encode
from learnchain.core.state import Overlay, StateView, decode_stored
from learnchain.core.types import Block
from learnchain.testing import ManualClock, TestNode, dev_genesis, dev_key, make_node

MINERS = ("alice", "bob", "carol")
FUNDS = {"data": 100_000, "alice": 10, "bob": 10, "carol": 10, "mallory": 10}


def pole_genesis(**kw: Any) -> Any:
    return dev_genesis(miners=MINERS, members=(*MINERS, "data", "mallory"), controller="alice",
                       funded=FUNDS, extra_apps=["tasks"], engine="pole", **kw)


def addr(name: str) -> bytes:
    return dev_key(name).address


@dataclass
class Net:
    """One in-process node per miner sharing a genesis; every block reaches every node."""

    nodes: dict[str, TestNode]

    @classmethod
    def start(cls, names: tuple[str, ...] = MINERS) -> Net:
        genesis, clock = pole_genesis(), ManualClock()
        return cls({n: make_node(genesis, n, clock=clock) for n in names})

    @property
    def any(self) -> TestNode:
        return next(iter(self.nodes.values()))

    @property
    def height(self) -> int:
        return self.any.chain.height

    def send(self, sender: str, method: str, args: dict[str, Any]) -> None:
        tx = self.any.tx(sender, "tasks", method, args)
        for node in self.nodes.values():
            node.node.submit(tx)

    def mine(self, miner: str | None = None) -> Block:
        node = self.nodes[miner or next(iter(self.nodes))]
        block = node.mine()[0]
        for other in self.nodes.values():
            if other is not node:
                other.node.import_block(block)
        assert len({n.chain.head_hash for n in self.nodes.values()}) == 1
        return block

    def mine_to(self, height: int, miner: str | None = None) -> None:
        while self.height < height:
            self.mine(miner)

    def task(self, task_id: int) -> dict[str, Any]:
        return self.any.chain.query("tasks", "task", {"task": task_id})

    def next_id(self) -> int:
        return int(StateView(self.any.chain.state, "tasks", writable=False).get("next_id", 0))

    def publish(self, **kw: Any) -> tuple[int, actors.DataNodeTask]:
        """Publish from `data` and mine it in; (task id, the data node's secret opening)."""
        task_id = self.next_id()
        kw.setdefault("deadline", self.height + 4)
        kw.setdefault("secret", f"test-secret-{task_id}".encode())  # reproducible runs
        prepared = actors.prepare_task(addr("data"), task_id, **kw)
        self.send("data", "publish", prepared.publish_args)
        self.mine()
        assert self.task(task_id)["status"] == "open"
        return task_id, prepared


def try_call(node: TestNode, sender: str, method: str, args: dict[str, Any],
             height: int | None = None) -> Any:
    """Run one `tasks` method on the head state as the next block would, raising its AppError
    (a receipt carries only the message; this shows the exception type). Nothing is saved."""
    chain = node.chain
    head = chain.head
    info = BlockInfo(chain.genesis_config.chain_id, height or head.height + 1,
                     head.timestamp_ms + 1000, head.hash, addr("alice"))
    ctx = CallContext("tasks", addr(sender), info, b"try", Overlay(chain.state))
    return TasksApp().call(ctx, method, args)


def total_money(node: TestNode) -> int:
    """Every balance plus every escrow (read straight from state)."""
    return sum(int(decode_stored(v)) for k, v in node.chain.state.data.items()
               if k.startswith(("bank/bal/", "bank/esc/")))


def supply(node: TestNode) -> int:
    return int(decode_stored(node.chain.state.data.get("bank/supply") or encode(0)))
