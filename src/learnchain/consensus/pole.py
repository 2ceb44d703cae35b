"""`pole`: proof of learning (Liu et al.; seed 001), with governed PoW between settlements.

A training task of the `tasks` app that has closed (test set opened, reveals in, winner fixed
by the app's pure rules) is *due*. Its winner's next block is a **PoLe block**: no hash search,
the learning was the work, and the header carries the settlement for every node to recompute::

    difficulty, extra      as in `pow` (the difficulty in force; extra = 0)
    pole  {task, winner, model, hp, train_ppm, test_ppm, candidates: [[address, model,
           train_ppm, test_ppm], ...]}

`verify` recomputes each field from the parent state: the task is due, the proposer is its
winner, the winner's revealed model hashes to `model`, and the integer-inference accuracies of
the winner on the training split and on the opened test set equal `train_ppm`/`test_ppm`
(recomputed, not read back). A due task's winner may not propose ordinary PoW blocks (its block
must settle the task). Every other block is a governed-PoW block (`consensus/pow.GovernedPow`),
so the chain never stalls when no task is open or a winner stays silent; a task whose winner
does not propose within the settle window is settled by fallback in the app (winner still paid,
no PoLe block). A PoLe block weighs twice a PoW block of the same difficulty in fork choice.
The coinbase is the governed `block_reward` in both cases.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from learnchain.apps.tasks import rules as R
from learnchain.apps.tasks.app import APP_NAME, get_task, model_params, test_set
from learnchain.apps.tasks.models import model_hash
from learnchain.consensus.base import ConsensusEngine, ConsensusParams
from learnchain.consensus.pow import GovernedPow
from learnchain.core.errors import InvalidBlock
from learnchain.core.state import StateView
from learnchain.core.types import Block, BlockHeader

POLE_KEYS = frozenset({"task", "winner", "model", "hp", "train_ppm", "test_ppm", "candidates"})


def is_pole(header: BlockHeader) -> bool:
    return "pole" in header.engine_fields


class PoLeEngine(ConsensusEngine):
    name = "pole"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.pow = GovernedPow(config)
        self.chain: Any = None
        self.stats = {"pole_blocks_verified": 0}

    def attach(self, chain: Any) -> None:
        self.chain = chain

    def default_params(self) -> dict[str, Any]:
        return self.pow.default_params()

    def validate_params(self, params: dict[str, Any]) -> None:
        self.pow.validate_params(params)

    # ----- reading the tasks app ---------------------------------------------------------

    def _state(self) -> StateView | None:
        if self.chain is None or APP_NAME not in self.chain.executor.apps:
            return None
        return StateView(self.chain.state, APP_NAME, writable=False)

    def due_for(self, state: StateView, proposer: bytes, height: int) -> dict[str, Any] | None:
        """The lowest-id due task this proposer won and may settle at `height`."""
        for task_id in sorted(state.get("due", [])):
            task = get_task(state, task_id)
            if task["winner"]["address"] == proposer and height > R.close_height(task):
                return task
        return None

    def has_priority(self, proposer: bytes, parent: BlockHeader) -> bool:
        """A winner whose next block settles its task: it proposes first (see Node), so a
        task settles by PoLe in its winner's block rather than by the race's luck."""
        state = self._state()
        return state is not None and self.due_for(state, proposer, parent.height + 1) is not None

    def settlement(self, state: StateView, task: dict[str, Any]) -> dict[str, Any]:
        """The PoLe fields for a due task, recomputed from state (training and test accuracy
        by integer inference; this is the verification cost `bench_pole` measures)."""
        win = task["winner"]
        params = model_params(state, task["id"], win["address"])
        return {"task": task["id"], "winner": win["address"], "model": model_hash(params),
                "hp": task["hp"],
                "train_ppm": R.evaluate(task, params, win["address"], R.train_set(task)),
                "test_ppm": R.evaluate(task, params, win["address"],
                                       test_set(state, task["id"])),
                "candidates": [[r["address"], r["model"], r["train_ppm"], r["test_ppm"]]
                               for r in task["reveals"]]}

    # ----- engine seam -------------------------------------------------------------------

    def check_header(self, header: BlockHeader) -> None:
        fields = header.engine_fields
        if not is_pole(header):
            self.pow.check_header(header)
            return
        if set(fields) != {"difficulty", "extra", "pole"} or fields["extra"] != 0:
            raise InvalidBlock("pole header fields must be exactly {difficulty, extra=0, pole}")
        if not isinstance(fields["difficulty"], int) or not 0 <= fields["difficulty"] <= 255:
            raise InvalidBlock("pole header must declare an integer difficulty in [0, 255]")
        pole = fields["pole"]
        if not isinstance(pole, dict) or set(pole) != POLE_KEYS:
            raise InvalidBlock(f"pole settlement must have exactly the keys {sorted(POLE_KEYS)}")

    def verify(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        header = block.header
        state = self._state()
        due = None if state is None else self.due_for(state, header.proposer, header.height)
        if not is_pole(header):
            if due is not None:
                raise InvalidBlock(f"proposer won task {due['id']}: its block must be the PoLe "
                                   "block settling it")
            self.pow.verify(block, parent, cp)
            return
        if header.engine_fields["difficulty"] != cp.params["difficulty"]:
            raise InvalidBlock("pole block declares a difficulty other than the one in force")
        claimed = header.engine_fields["pole"]
        if due is None or state is None:
            raise InvalidBlock("pole block settles no task this proposer won and may settle now")
        if claimed.get("task") != due["id"]:
            raise InvalidBlock(f"pole block names task {claimed.get('task')}; the proposer's "
                               f"due task is {due['id']}")
        expected = self.settlement(state, due)
        for key in sorted(POLE_KEYS):
            if claimed[key] != expected[key]:
                raise InvalidBlock(f"pole field {key!r} does not recompute: block says "
                                   f"{claimed[key]!r}, the chain gives {expected[key]!r}")
        self.stats["pole_blocks_verified"] += 1

    def prepare(self, header: BlockHeader, cp: ConsensusParams) -> BlockHeader:
        header = self.pow.prepare(header, cp)
        state = self._state()
        due = None if state is None else self.due_for(state, header.proposer, header.height)
        if due is None:
            return header
        return replace(header, engine_fields={**header.engine_fields,
                                              "pole": self.settlement(state, due)})

    def seal(self, header: BlockHeader, cp: ConsensusParams,
             stop: threading.Event) -> BlockHeader | None:
        if is_pole(header):
            return header  # the training was the work; the signature binds the winner
        return self.pow.seal(header, cp, stop)

    def reward(self, header: BlockHeader, cp: ConsensusParams) -> int:
        return self.pow.reward(header, cp)

    def work(self, header: BlockHeader) -> int:
        return self.pow.work(header) * (2 if is_pole(header) else 1)
