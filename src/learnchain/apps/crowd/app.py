"""The `crowd` app: outsource heavy, randomised programs to n workers with deposits.

Phases (Lu, Tang, Wang §IV/§VI, deadlines in block heights; rules in `rules.py`):
TaskPublish (`publish`: escrow r, and a purchase price if any) → TaskPrepare (`join`: n
distinct workers deposit d; `cancel` refunds everyone after the join deadline; the coin is
fixed at the end of block ``last_join + delta``) → Commit (`commit`: c_i from
`learnchain.apps.commit_reveal`) → Reveal (`reveal`: result and salt; E_ck checked) → Reward
(`settle`, anyone, once the deadlines passed or every result is in).

State (namespace `crowd/`): `next_id`; `t/{id}` (the task record), `due/{height}` (tasks whose
coin is fixed at the end of that block), `open` (ids not yet settled or cancelled). Money sits
in escrows `t{id}` (reward + deposits + price); forfeits move to the escrow `burned`, which no
method releases, so every coin stays accounted for (`burned` query).
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import App, Args, CallContext, query_method, tx_method
from learnchain.apps.commit_reveal import validate_commitment, validate_opening
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.programs import PROGRAMS, get_program
from learnchain.core.state import StateView
from learnchain.ml.coins import hash_parts

BURNED = "burned"


def _escrow(task_id: int) -> str:
    return f"t{task_id}"


class CrowdApp(App):
    name = "crowd"

    # ----- helpers -----------------------------------------------------------------------

    @staticmethod
    def _task(state: StateView, task_id: int) -> dict[str, Any]:
        task = state.get(f"t/{task_id}")
        if task is None:
            raise R.UnknownTask(f"no crowd task with id {task_id}")
        return task

    @staticmethod
    def _save(ctx: CallContext, task: dict[str, Any]) -> None:
        ctx.state.set(f"t/{task['id']}", task)

    @staticmethod
    def _seat(task: dict[str, Any], sender: bytes | None) -> int:
        if sender not in task["workers"]:
            raise R.NotAWorker(f"0x{(sender or b'').hex()} holds no seat in task {task['id']}")
        return task["workers"].index(sender)

    @staticmethod
    def _close(ctx: CallContext, task_id: int) -> None:
        open_ids = [i for i in ctx.state.get("open", []) if i != task_id]
        ctx.state.set("open", open_ids)

    # ----- TaskPublish -------------------------------------------------------------------

    @tx_method
    def publish(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Escrow the reward r (and a purchase price) and announce the task."""
        a = Args(args)
        params = R.TaskParams(
            program=a.str("program", max_len=64), version=a.int("version", minimum=1),
            input=a.bytes("input"), n=a.int("n"), deposit=a.int("deposit"),
            reward=a.int("reward"), delta_p=a.int("delta_p", default=20),
            delta=a.int("delta", default=2), delta_c=a.int("delta_c", default=20),
            delta_o=a.int("delta_o", default=20), coins=a.int("coins", default=2),
            eck=tuple(a.list("eck", default=[])), seller=a.bytes("seller", default=b""),
            price=a.int("price", default=0), threshold_ppm=a.int("threshold_ppm", default=0))
        spec = get_program(params.program, params.version)
        R.validate_task_params(params, spec.kind)
        task_id = int(ctx.state.get("next_id", 0))
        ctx.state.set("next_id", task_id + 1)
        height = ctx.block.height
        task = {
            "id": task_id, "requester": ctx.sender, "program": params.program,
            "version": params.version, "kind": spec.kind, "input": params.input, "n": params.n,
            "deposit": params.deposit, "reward": params.reward, "delta": params.delta,
            "delta_c": params.delta_c, "delta_o": params.delta_o, "coins": params.coins,
            "eck": list(params.eck), "seller": params.seller, "price": params.price,
            "threshold_ppm": params.threshold_ppm, "created": height,
            "join_deadline": height + params.delta_p, "status": "open", "workers": [],
            "coin_height": 0, "seed": b"", "commit_deadline": 0, "reveal_deadline": 0,
            "commits": [], "results": [], "verdicts": [], "precision": [], "payouts": [],
            "burned": 0, "refund": 0, "sold": False, "agreed": False,
        }
        ctx.bank.deposit(_escrow(task_id), params.reward + params.price)
        self._save(ctx, task)
        ctx.state.set("open", [*ctx.state.get("open", []), task_id])
        ctx.emit("published", task=task_id, program=params.program, n=params.n)
        return {"task_id": task_id}

    # ----- TaskPrepare -------------------------------------------------------------------

    @tx_method
    def join(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Take one of the n seats by depositing exactly d."""
        a = Args(args)
        task = self._task(ctx.state, a.int("task_id"))
        R.require_phase(task, ctx.block.height, "prepare")
        amount = a.int("deposit")
        if amount != task["deposit"]:
            raise R.WrongDeposit(f"task {task['id']} needs a deposit of exactly "
                                 f"{task['deposit']}, got {amount}")
        if ctx.sender in task["workers"]:
            raise R.AlreadyJoined(f"0x{ctx.sender.hex()} already holds a seat in task "
                                  f"{task['id']}")
        if ctx.sender == task["requester"]:
            raise R.AlreadyJoined("the requester cannot take a worker seat in its own task")
        ctx.bank.deposit(_escrow(task["id"]), amount)
        task["workers"].append(ctx.sender)
        for field, empty in (("commits", b""), ("results", b""), ("verdicts", ""),
                             ("precision", 0)):
            task[field].append(empty)
        if len(task["workers"]) == task["n"]:
            coin_height = ctx.block.height + task["delta"]
            task["coin_height"] = coin_height
            task["commit_deadline"] = coin_height + task["delta_c"]
            task["reveal_deadline"] = task["commit_deadline"] + task["delta_o"]
            due = ctx.state.get(f"due/{coin_height}", [])
            ctx.state.set(f"due/{coin_height}", [*due, task["id"]])
        self._save(ctx, task)
        ctx.emit("joined", task=task["id"], worker=ctx.sender, seat=len(task["workers"]) - 1)
        return {"seat": len(task["workers"]) - 1, "coin_height": task["coin_height"]}

    def end_block(self, ctx: CallContext) -> None:
        """Fix the coins due at this height from the parent hash (unknown at join time)."""
        due = ctx.state.get(f"due/{ctx.block.height}")
        if due is None:
            return
        for task_id in due:
            task = self._task(ctx.state, task_id)
            task["seed"] = hash_parts(b"crowd/coin", ctx.block.parent_hash,
                                      task_id.to_bytes(8, "big"))
            self._save(ctx, task)
            ctx.emit("coin", task=task_id, seed=task["seed"])
        ctx.state.delete(f"due/{ctx.block.height}")

    @tx_method
    def cancel(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """After the join deadline without n workers: refund r, the price and every deposit."""
        task = self._task(ctx.state, Args(args).int("task_id"))
        if task["status"] != "open":
            raise R.AlreadySettled(f"task {task['id']} is already {task['status']}")
        R.require_phase(task, ctx.block.height, "expired")
        escrow = _escrow(task["id"])
        for worker in task["workers"]:
            ctx.bank.release(escrow, worker, task["deposit"])
        ctx.bank.release(escrow, task["requester"], task["reward"] + task["price"])
        task["status"] = "cancelled"
        task["refund"] = task["reward"] + task["price"]
        task["payouts"] = [task["deposit"]] * len(task["workers"])
        self._save(ctx, task)
        self._close(ctx, task["id"])
        ctx.emit("cancelled", task=task["id"])
        return {"refunded": len(task["workers"])}

    # ----- Commit / Reveal ---------------------------------------------------------------

    @tx_method
    def commit(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """c_i = commitment(H(y_i), K_i, address, task): binds the result to its committer."""
        a = Args(args)
        task = self._task(ctx.state, a.int("task_id"))
        seat = self._seat(task, ctx.sender)
        if task["commits"][seat]:
            raise R.AlreadyCommitted(f"seat {seat} of task {task['id']} already committed")
        R.require_phase(task, ctx.block.height, "commit")
        value = validate_commitment(a.bytes("commitment"))
        if value in task["commits"]:
            raise R.DuplicateCommitment("this commitment was already submitted by another "
                                        "worker of the task")
        task["commits"][seat] = value
        self._save(ctx, task)
        ctx.emit("committed", task=task["id"], seat=seat)
        return {"seat": seat}

    @tx_method
    def reveal(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Open the commitment with the result y_i and salt K_i; E_ck results count as failed."""
        a = Args(args)
        task = self._task(ctx.state, a.int("task_id"))
        seat = self._seat(task, ctx.sender)
        if task["results"][seat]:
            raise R.AlreadyRevealed(f"seat {seat} of task {task['id']} already revealed")
        R.require_phase(task, ctx.block.height, "reveal")
        if not task["commits"][seat]:
            raise R.NotCommitted(f"seat {seat} of task {task['id']} never committed")
        result = a.bytes("result")
        if len(result) > R.MAX_RESULT_SIZE:
            raise R.BadTaskParams(f"result is larger than {R.MAX_RESULT_SIZE} bytes")
        digest = R.sha256(result)
        validate_opening(task["commits"][seat], digest, a.bytes("salt"), ctx.sender,
                         R.task_context(task["id"]))
        reason = R.eck_reason(result, task)
        task["results"][seat] = digest
        task["verdicts"][seat] = "ok" if reason is None else f"eck: {reason}"
        if reason is None and task["kind"] == "eval":
            task["precision"][seat] = R.precision_ppm(result, task["coins"])
        self._save(ctx, task)
        ctx.emit("revealed", task=task["id"], seat=seat, result=digest, eck=reason or "")
        return {"seat": seat, "eck": reason or ""}

    # ----- Reward ------------------------------------------------------------------------

    @tx_method
    def settle(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Pay by the clauses (`rules.settle_payouts`); anyone may call it once it is due."""
        task = self._task(ctx.state, Args(args).int("task_id"))
        if task["status"] != "open":
            raise R.AlreadySettled(f"task {task['id']} is already {task['status']}")
        R.require_phase(task, ctx.block.height, "settle")
        outcomes = [d if d and v == "ok" else None
                    for d, v in zip(task["results"], task["verdicts"], strict=True)]
        s = R.settle_payouts(outcomes, task["deposit"], task["reward"])
        escrow = _escrow(task["id"])
        for worker, amount in zip(task["workers"], s.payouts, strict=True):
            if amount:
                ctx.bank.release(escrow, worker, amount)
        if s.burned:
            ctx.bank.move(escrow, BURNED, s.burned)
        refund = s.refund
        sold = False
        if task["price"]:
            sold = s.agreed and task["precision"][0] >= task["threshold_ppm"]
            if sold:
                ctx.bank.release(escrow, task["seller"], task["price"])
            else:
                refund += task["price"]
        if refund:
            ctx.bank.release(escrow, task["requester"], refund)
        task.update(status="settled", payouts=list(s.payouts), burned=s.burned, refund=refund,
                    sold=sold, agreed=s.agreed)
        self._save(ctx, task)
        self._close(ctx, task["id"])
        ctx.emit("settled", task=task["id"], payouts=list(s.payouts), burned=s.burned,
                 refund=refund, agreed=s.agreed, sold=sold)
        return {"payouts": list(s.payouts), "burned": s.burned, "refund": refund,
                "agreed": s.agreed, "sold": sold}

    # ----- queries -----------------------------------------------------------------------

    @query_method
    def task(self, state: StateView, args: dict[str, Any]) -> dict[str, Any]:
        return self._task(state, Args(args).int("task_id"))

    @query_method
    def open_tasks(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every task not yet settled or cancelled (what a worker daemon scans)."""
        return [self._task(state, i) for i in state.get("open", [])]

    @query_method
    def count(self, state: StateView, args: dict[str, Any]) -> int:
        return int(state.get("next_id", 0))

    @query_method
    def programs(self, state: StateView, args: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"program": p.id, "version": p.version, "kind": p.kind, "summary": p.summary}
                for p in PROGRAMS.values()]
