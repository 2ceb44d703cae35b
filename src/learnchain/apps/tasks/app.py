"""The `tasks` app: training tasks for proof of learning (PoLe, docs/pole.md).

Phases by block height (rules in `rules.py`, models in `models.py`):

* `publish` (data node): data set + public split seed + training-data digest, a commitment to
  the hidden test set (`learnchain.apps.commit_reveal`), model spec and hyperparameters, SML
  width, training-accuracy threshold in ppm (the difficulty), reward and publisher deposit
  (both escrowed), deadline, reveal window, settle window.
* `commit` (consensus node, height <= deadline): H(model ‖ salt ‖ address ‖ task).
* `open_test` (data node) and `reveal` (candidates), deadline < height <= close. A reveal is
  checked against its commitment and the training threshold (integer inference behind the
  revealer's own SML mapping).
* End of block `close`: a task whose test set was never opened fails: the reward returns to
  the publisher and the deposit is split among the committed candidates. Otherwise every reveal's
  test accuracy is computed and the winner fixed (best test accuracy, then earlier commitment,
  then lower address); the task is `due`.
* A `due` task is settled by the first block its winner proposes (the `pole` engine makes that
  block carry the task's fields), or by fallback at the end of block ``close + settle_window``.
  The winner gets ⌊reward · test_ppm / 10^6⌋; the rest of the reward and the deposit go back
  to the publisher.

State (namespace `tasks/`): `next_id`, `t/{id}`, `open` (unfinished ids), `due` (ids awaiting
settlement), `test/{id}` (opened test set bytes), `m/{id}/{address hex}` (revealed models).
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, Args, CallContext, query_method, tx_method
from learnchain.apps.commit_reveal import validate_commitment, validate_opening
from learnchain.apps.tasks import models as M
from learnchain.apps.tasks import rules as R
from learnchain.core.state import StateView
from learnchain.storage.blobstore import cid_of_digest

APP_NAME = "tasks"


def _escrow(task_id: int) -> str:
    return f"t{task_id}"


def get_task(state: StateView, task_id: int) -> dict[str, Any]:
    task = state.get(f"t/{task_id}")
    if task is None:
        raise R.UnknownTask(f"no training task with id {task_id}")
    return task


def test_set(state: StateView, task_id: int) -> M.Dataset:
    return M.Dataset.from_bytes(state.get(f"test/{task_id}"))


def model_params(state: StateView, task_id: int, address: bytes) -> bytes:
    return state.get(f"m/{task_id}/{address.hex()}")


class TasksApp(App):
    name = APP_NAME

    @staticmethod
    def _save(ctx: CallContext, task: dict[str, Any]) -> None:
        ctx.state.set(f"t/{task['id']}", task)

    @staticmethod
    def _drop(ctx: CallContext, key: str, task_id: int) -> None:
        ctx.state.set(key, [i for i in ctx.state.get(key, []) if i != task_id])

    @tx_method
    def publish(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Escrow reward + deposit and announce a training task."""
        a = Args(args)
        p = R.TaskParams(
            dataset=a.str("dataset", max_len=32), split_seed=a.bytes("split_seed", size=32),
            train_digest=a.bytes("train_digest", size=32),
            test_commitment=validate_commitment(a.bytes("test_commitment")),
            kind=a.str("model", max_len=16), hp=a.dict("hp"),
            sml_width=a.int("sml_width", default=0), threshold_ppm=a.int("threshold_ppm"),
            reward=a.int("reward"), deposit=a.int("deposit"), deadline=a.int("deadline"),
            reveal_window=a.int("reveal_window", default=5),
            settle_window=a.int("settle_window", default=5))
        R.validate_task_params(p, ctx.block.height)
        task_id = int(ctx.state.get("next_id", 0))
        ctx.state.set("next_id", task_id + 1)
        ctx.bank.deposit(_escrow(task_id), p.reward + p.deposit)
        task = {"id": task_id, "publisher": ctx.sender, "dataset": p.dataset,
                "split_seed": p.split_seed, "train_digest": p.train_digest,
                "train_cid": cid_of_digest(p.train_digest), "test_commitment": p.test_commitment,
                "model": p.kind, "hp": dict(sorted(p.hp.items())), "sml_width": p.sml_width,
                "sml_seed": R.sml_seed(ctx.tx_hash), "threshold_ppm": p.threshold_ppm,
                "reward": p.reward, "deposit": p.deposit, "deadline": p.deadline,
                "reveal_window": p.reveal_window, "settle_window": p.settle_window,
                "published": ctx.block.height, "status": "open", "test_opened": False,
                "commits": [], "reveals": [], "winner": None, "settled_by": None}
        self._save(ctx, task)
        ctx.state.set("open", [*ctx.state.get("open", []), task_id])
        ctx.emit("published", task=task_id, reward=p.reward)
        return {"task": task_id}

    @tx_method
    def commit(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """A sealed candidate: the tx signature binds it to its sender."""
        a = Args(args)
        task = get_task(ctx.state, a.int("task"))
        R.validate_phase(task, ctx.block.height, "commit")
        committed = validate_commitment(a.bytes("commitment"))
        if any(c[0] == ctx.sender for c in task["commits"]):
            raise R.TaskError("this address already committed a candidate for the task")
        if len(task["commits"]) >= R.MAX_COMMITS:
            raise R.TaskError(f"a task takes at most {R.MAX_COMMITS} candidates")
        task["commits"].append([ctx.sender, committed])
        self._save(ctx, task)
        return {"index": len(task["commits"]) - 1}

    @tx_method
    def open_test(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The data node reveals its hidden test set after the deadline."""
        a = Args(args)
        task = get_task(ctx.state, a.int("task"))
        if ctx.sender != task["publisher"]:
            raise R.NotPublisher("only the task's publisher can open its test set")
        R.validate_phase(task, ctx.block.height, "open")
        if task["test_opened"]:
            raise R.TaskError("the test set is already open")
        data, salt = a.bytes("test"), a.bytes("salt")
        try:
            validate_opening(task["test_commitment"], data, salt, ctx.sender,
                             R.task_context(task["id"]))
        except R.AppError as exc:
            raise R.TestSetMismatch(f"test set does not match its commitment: {exc}") from None
        test = M.Dataset.from_bytes(data)
        train = R.train_set(task)
        if test.features != train.features or test.classes != train.classes:
            raise R.TestSetMismatch("test set shape differs from the task's data set")
        ctx.state.set(f"test/{task['id']}", data)
        task["test_opened"] = True
        self._save(ctx, task)
        return {"rows": len(test.y)}

    @tx_method
    def reveal(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Open a candidate; it must clear the training-accuracy threshold."""
        a = Args(args)
        task = get_task(ctx.state, a.int("task"))
        R.validate_phase(task, ctx.block.height, "reveal")
        params, salt = a.bytes("model"), a.bytes("salt")
        index = next((i for i, c in enumerate(task["commits"]) if c[0] == ctx.sender), None)
        if index is None or any(r["address"] == ctx.sender for r in task["reveals"]):
            raise R.NoCommitment("no open commitment from this address for the task")
        validate_opening(task["commits"][index][1], params, salt, ctx.sender,
                         R.task_context(task["id"]))
        train_ppm = R.evaluate(task, params, ctx.sender, R.train_set(task))
        R.validate_threshold(task, train_ppm)
        ctx.state.set(f"m/{task['id']}/{ctx.sender.hex()}", params)
        task["reveals"].append({"address": ctx.sender, "model": M.model_hash(params),
                                "train_ppm": train_ppm, "test_ppm": 0, "commit_index": index})
        self._save(ctx, task)
        return {"train_ppm": train_ppm}

    def end_block(self, ctx: CallContext) -> None:
        height, settled_here = ctx.block.height, False
        for task_id in list(ctx.state.get("open", [])):  # ascending ids
            task = get_task(ctx.state, task_id)
            if task["status"] == "open" and height >= R.close_height(task):
                self._close(ctx, task)
            elif task["status"] == "due":
                close, winner = R.close_height(task), task["winner"]["address"]
                if ctx.block.proposer == winner and height > close and not settled_here:
                    # one task per PoLe block: the lowest due id, the one its header carries
                    self._settle(ctx, task, "pole")
                    settled_here = True
                elif height >= close + int(task["settle_window"]):
                    self._settle(ctx, task, "fallback")

    def _close(self, ctx: CallContext, task: dict[str, Any]) -> None:
        escrow, tid = _escrow(task["id"]), task["id"]
        if not task["test_opened"]:
            committers = [c[0] for c in task["commits"]]
            ctx.bank.release(escrow, task["publisher"],
                             task["reward"] + (0 if committers else task["deposit"]))
            shares = R.split_deposit(task["deposit"], len(committers)) if committers else []
            for who, share in zip(committers, shares, strict=True):
                ctx.bank.release(escrow, who, share)
            task["status"] = "failed"
            self._drop(ctx, "open", tid)
        elif not task["reveals"]:
            ctx.bank.release(escrow, task["publisher"], task["reward"] + task["deposit"])
            task["status"] = "expired"
            self._drop(ctx, "open", tid)
        else:
            test = test_set(ctx.state, tid)
            for r in task["reveals"]:
                r["test_ppm"] = R.evaluate(task, model_params(ctx.state, tid, r["address"]),
                                           r["address"], test)
            task["winner"] = R.winner(task["reveals"])
            task["status"] = "due"
            ctx.state.set("due", [*ctx.state.get("due", []), tid])
        self._save(ctx, task)
        ctx.emit("closed", task=tid, status=task["status"])

    def _settle(self, ctx: CallContext, task: dict[str, Any], how: str) -> None:
        win = task["winner"]
        pay = R.payout(int(task["reward"]), int(win["test_ppm"]))
        escrow = _escrow(task["id"])
        if pay:
            ctx.bank.release(escrow, win["address"], pay)
        ctx.bank.release(escrow, task["publisher"], task["reward"] - pay + task["deposit"])
        task["status"], task["settled_by"] = "settled", how
        task["settled_at"], task["paid"] = ctx.block.height, pay
        self._save(ctx, task)
        self._drop(ctx, "open", task["id"])
        self._drop(ctx, "due", task["id"])
        ctx.emit("settled", task=task["id"], winner=win["address"], paid=pay, how=how)

    @query_method
    def task(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        return get_task(state, Args(args).int("task"))

    @query_method
    def open_tasks(self, state: StateView, args: dict[str, Any]) -> list[int]:
        return list(state.get("open", []))

    @query_method
    def model(self, state: StateView, args: dict[str, Any]) -> bytes | None:
        a = Args(args)
        return model_params(state, a.int("task"), a.address("address"))
