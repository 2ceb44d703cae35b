"""Off-chain roles of PoLe: the data node preparing a task, the consensus node training for it.

These build transaction *arguments* only (send them through `learnchain.testing` or
`NodeClient.send`, which sign and number them); nothing here touches consensus state.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from typing import Any

from learnchain.apps.commit_reveal import commitment
from learnchain.apps.tasks import models as M
from learnchain.apps.tasks import rules as R

DEFAULT_HP = {"logreg": {"max_iter": 100},
              "mlp": {"hidden": 32, "epochs": 30, "lr_ppm": 10_000, "batch": 64}}
DEFAULT_DATASET = {"logreg": "iris", "mlp": "digits"}


@dataclass
class DataNodeTask:
    """A task the data node is preparing: publish args, and the secret test set opening."""

    publish_args: dict[str, Any]
    test_bytes: bytes
    salt: bytes = field(repr=False, default=b"")

    def open_args(self, task_id: int) -> dict[str, Any]:
        return {"task": task_id, "test": self.test_bytes, "salt": self.salt}


def prepare_task(publisher: bytes, task_id: int, *, kind: str = "logreg", sml_width: int = 0,
                 threshold_ppm: int = 800_000, reward: int = 1000, deposit: int = 100,
                 deadline: int = 10, reveal_window: int = 5, settle_window: int = 5,
                 split_seed: bytes | None = None, test_rows: int | None = None,
                 hp: dict[str, int] | None = None, secret: bytes | None = None) -> DataNodeTask:
    """Publish args for task `task_id` (the id the app will assign) with a hidden test set.

    The test rows and the salt are secret random choices; tests pass `secret` to make them
    reproducible (never do that for a real task: the salt must be unguessable).
    """
    dataset = DEFAULT_DATASET[kind]
    split_seed = split_seed or hashlib.sha256(f"split-{task_id}".encode()).digest()
    train, hold = M.split(dataset, split_seed)
    n = len(hold.y) if test_rows is None else min(test_rows, len(hold.y))
    rng = random.Random(secret) if secret is not None else random.SystemRandom()
    pick = sorted(rng.sample(range(len(hold.y)), n))  # secret choice
    test = M.Dataset(hold.x[pick], hold.y[pick], hold.classes)
    salt = hashlib.sha256(b"salt" + secret).digest() if secret is not None else os.urandom(32)
    data = test.to_bytes()
    args = {"dataset": dataset, "split_seed": split_seed, "train_digest": train.digest(),
            "test_commitment": commitment(data, salt, publisher, R.task_context(task_id)),
            "model": kind, "hp": dict(hp or DEFAULT_HP[kind]), "sml_width": sml_width,
            "threshold_ppm": threshold_ppm, "reward": reward, "deposit": deposit,
            "deadline": deadline, "reveal_window": reveal_window,
            "settle_window": settle_window}
    return DataNodeTask(args, data, salt)


@dataclass
class Candidate:
    """A consensus node's trained model for a task and its sealed commitment."""

    task_id: int
    address: bytes
    params: bytes
    salt: bytes = field(repr=False, default=b"")

    def commit_args(self) -> dict[str, Any]:
        return {"task": self.task_id, "commitment": commitment(
            self.params, self.salt, self.address, R.task_context(self.task_id))}

    def reveal_args(self) -> dict[str, Any]:
        return {"task": self.task_id, "model": self.params, "salt": self.salt}


def warm_up(kind: str, hp: dict[str, int]) -> float:
    """Load the training libraries and time one full training (wall seconds, so a loaded machine
    reads slower) on the task's data set without a mapping: drivers size deadlines from it."""
    import time

    train, _ = M.split(DEFAULT_DATASET[kind], hashlib.sha256(b"warm-up").digest())
    M.train(kind, train, None, hp, b"warm-up")  # first call pays the imports
    t0 = time.perf_counter()
    M.train(kind, train, None, hp, b"warm-up")
    return time.perf_counter() - t0


def pick_task(tasks: list[dict[str, Any]], height: int, *,
              min_blocks: int = 1) -> dict[str, Any] | None:
    """The open task a consensus node works on: the largest reward it can still commit to.

    The issue's rule ("pick the open task with the largest reward"). Only tasks still in their
    commit phase with at least `min_blocks` blocks left before the deadline count (a node needs
    time to train and get its commitment included). Ties go to the earlier deadline (the reward
    is paid sooner), then the lower task id, so every node with the same view picks the same task.
    """
    live = [t for t in tasks if t["status"] == "open"
            and int(t["deadline"]) - height >= min_blocks]
    if not live:
        return None
    return min(live, key=lambda t: (-int(t["reward"]), int(t["deadline"]), int(t["id"])))


def train_candidate(task: dict[str, Any], address: bytes, *,
                    hp: dict[str, int] | None = None, seed: bytes | None = None,
                    salt: bytes | None = None) -> Candidate:
    """Train behind this address's SML mapping with the task's (or given) hyperparameters."""
    train = R.train_set(task)
    m = R.mapping(task, address, train.features)
    params = M.train(task["model"], train, m, hp or task["hp"], seed or address)
    return Candidate(int(task["id"]), address, params,
                     os.urandom(32) if salt is None else salt)
