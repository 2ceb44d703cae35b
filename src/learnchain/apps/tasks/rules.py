"""Pure rules of the `tasks` app (PoLe training tasks): parameters, phases, winner, payouts.

Every function here is deterministic and raises a `TaskError` subclass naming the broken rule;
the app and the `pole` engine both call them, so a block's engine fields and the app's state can
never disagree about who won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnchain.apps.base import AppError
from learnchain.apps.tasks import models as M
from learnchain.core.encoding import encode
from learnchain.ml.coins import hash_parts


class TaskError(AppError):
    """A `tasks` rule refused a call."""


class UnknownTask(TaskError):
    """No task with that id."""


class BadTaskParams(TaskError):
    """publish arguments out of range."""


class NoEscrow(TaskError):
    """A task must escrow a positive reward (and the publisher deposit)."""


class WrongPhase(TaskError):
    """The call is not allowed at this height."""


class NotPublisher(TaskError):
    """Only the task's data node may open its test set."""


class TestSetMismatch(TaskError):
    """The opened test set does not match the commitment made at publish time."""

    __test__ = False


class NoCommitment(TaskError):
    """A reveal from an address that committed nothing (or already revealed)."""


class BelowThreshold(TaskError):
    """A revealed model's training accuracy misses the task's difficulty."""


class TrainDataMismatch(TaskError):
    """The declared training-data digest is not the digest of the split it names."""


HP_KEYS = {"logreg": {"max_iter"}, "mlp": {"hidden", "epochs", "lr_ppm", "batch"}}
MAX_COMMITS = 64


@dataclass(frozen=True)
class TaskParams:
    dataset: str
    split_seed: bytes
    train_digest: bytes
    test_commitment: bytes
    kind: str
    hp: dict[str, int]
    sml_width: int
    threshold_ppm: int
    reward: int
    deposit: int
    deadline: int
    reveal_window: int
    settle_window: int


def validate_task_params(p: TaskParams, height: int) -> None:
    if p.dataset not in M.DATASETS:
        raise BadTaskParams(f"dataset must be one of {', '.join(M.DATASETS)}, got {p.dataset!r}")
    if p.kind not in M.MODEL_KINDS:
        raise BadTaskParams(f"model must be one of {', '.join(M.MODEL_KINDS)}, got {p.kind!r}")
    if set(p.hp) != HP_KEYS[p.kind] or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10**6
            for v in p.hp.values()):
        raise BadTaskParams(f"hyperparameters for {p.kind} must be exactly "
                            f"{sorted(HP_KEYS[p.kind])} as positive integers <= 10**6")
    if p.kind == "mlp" and p.hp["hidden"] > M.MAX_HIDDEN:
        raise BadTaskParams(f"hidden width must be at most {M.MAX_HIDDEN}")
    if not 0 <= p.sml_width <= M.MAX_WIDTH:
        raise BadTaskParams(f"sml_width must be in [0, {M.MAX_WIDTH}]")
    if not 0 < p.threshold_ppm <= M.PPM:
        raise BadTaskParams("threshold_ppm must be in (0, 1000000]")
    if p.reward <= 0 or p.deposit <= 0:
        raise NoEscrow("a task must escrow a positive reward and a positive publisher deposit "
                       "(the deposit pays the candidates if the test set is never opened)")
    if p.deadline <= height:
        raise BadTaskParams(f"deadline {p.deadline} must be after the current height {height}")
    if not 1 <= p.reveal_window <= 10_000 or not 1 <= p.settle_window <= 10_000:
        raise BadTaskParams("reveal_window and settle_window must be in [1, 10000] blocks")
    if len(p.split_seed) != 32 or len(p.train_digest) != 32:
        raise BadTaskParams("split_seed and train_digest are 32 bytes")
    train, _ = M.split(p.dataset, p.split_seed)
    if train.digest() != p.train_digest:
        raise TrainDataMismatch("train_digest is not the digest of the training split named by "
                                "(dataset, split_seed)")


def task_context(task_id: int) -> bytes:
    """Commit-reveal context: a commitment for one task cannot be replayed in another."""
    return encode(["pole-task", task_id])


def close_height(task: dict[str, Any]) -> int:
    """End of the reveal window: test accuracies are fixed at the end of this block."""
    return int(task["deadline"]) + int(task["reveal_window"])


def validate_phase(task: dict[str, Any], height: int, phase: str) -> None:
    deadline, close = int(task["deadline"]), close_height(task)
    ok = {"commit": height <= deadline, "open": deadline < height <= close,
          "reveal": deadline < height <= close}[phase]
    if not ok or task["status"] != "open":
        raise WrongPhase(f"{phase} is allowed {'up to' if phase == 'commit' else 'after'} "
                         f"the deadline {deadline}"
                         + ("" if phase == "commit" else f" and up to height {close}")
                         + f"; this is height {height}, task status {task['status']!r}")


def train_set(task: dict[str, Any]) -> M.Dataset:
    return M.split(task["dataset"], task["split_seed"])[0]


def sml_seed(publish_tx_hash: bytes) -> bytes:
    """The task's Secure Mapping Layer seed: h("pole/sml-seed" ‖ hash of the publish tx).

    Why the transaction and not the block: candidates train behind the mapping as soon as they
    see the task. Seeding from the including block (its parent hash) let a fork that re-included
    the same publish in a sibling block change every mapping after the models were trained, so
    every honest reveal fell to chance accuracy (the devnet regression pinned in
    tests/unit/pole/test_pole_reorg.py). The transaction hash is the same in every block that
    includes it, is fixed by the publisher's signature and is unknown to candidates before the
    publish; a publisher who grinds it gains nothing against copying (docs/pole.md).
    """
    return hash_parts(b"pole/sml-seed", publish_tx_hash)


def mapping(task: dict[str, Any], address: bytes, d: int) -> Any:
    return M.sml_matrix(task["sml_seed"], address, d, int(task["sml_width"]))


def load_model(task: dict[str, Any], params: bytes, address: bytes,
               data: M.Dataset) -> tuple[list[Any], Any]:
    d_in = int(task["sml_width"]) or data.features
    layers = M.decode_params(params, task["model"], d_in, data.classes,
                             int(task["hp"].get("hidden", 0)))
    return layers, mapping(task, address, data.features)


def evaluate(task: dict[str, Any], params: bytes, address: bytes, data: M.Dataset) -> int:
    """Accuracy (ppm) of `address`'s model on `data`, behind that address's SML mapping."""
    layers, m = load_model(task, params, address, data)
    return M.accuracy_ppm(layers, data, m)


def validate_threshold(task: dict[str, Any], train_ppm: int) -> None:
    if train_ppm < int(task["threshold_ppm"]):
        raise BelowThreshold(f"training accuracy {train_ppm} ppm is below the task's threshold "
                             f"{task['threshold_ppm']} ppm (a model copied from another address "
                             "also lands here: the Secure Mapping Layer differs per address)")


def winner(reveals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Best test accuracy; ties go to the earlier commitment, then the lower address."""
    if not reveals:
        return None
    return min(reveals, key=lambda r: (-int(r["test_ppm"]), int(r["commit_index"]),
                                       bytes(r["address"])))


def payout(reward: int, test_ppm: int) -> int:
    """Accuracy-proportional reward ⌊reward · test_ppm / 10^6⌋; the rest goes to the publisher."""
    return reward * test_ppm // M.PPM


def split_deposit(deposit: int, candidates: int) -> list[int]:
    """Equal shares of a forfeited deposit; the remainder goes to the earliest candidates."""
    base, extra = divmod(deposit, candidates)
    return [base + (1 if i < extra else 0) for i in range(candidates)]
