"""Live mode: steer a running governed-PoW chain from its blocks, as the genesis controller.

The loop reads the canonical headers from a node's API, reduces them to the same
``BlockRecord`` list the simulator produces (mining time = timestamp gap to the parent,
difficulty from the header, winning partner from the proposer), asks the policy (the DQN
engine or a classic baseline) for an action, validates it (§8.8, bounds plus the calculus
region at the estimated per-miner hash time) and, if it survives, signs and submits
``consensus.set_params`` (difficulty ±1) or ``consensus.set_miners`` (one miner in or out)
with the controller key.  Every decision is therefore a transaction on chain.

One decision per block, and never two in flight: after a transaction the loop waits until it
is included *and* a block has been mined under the new parameters, so each decision sees the
effect of the previous one.  After every decision the loop writes a checkpoint (atomic
rename): the last height decided on, the pending transaction, counters and the policy's
internal state.  If the process dies the chain simply keeps its last parameters (they are
consensus state); a restarted loop reloads the checkpoint and carries on without repeating a
decision for a height it already handled.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from learnchain.core.crypto import PrivateKey, parse_address, to_checksum_address
from learnchain.governance.baselines import Controller
from learnchain.governance.engine_limits import FeasibleRegion, feasible_region
from learnchain.governance.features import BlockRecord, estimated_rate, smoothed_time
from learnchain.governance.validation import (
    Action,
    ActionValidator,
    Bounds,
    ControlState,
)
from learnchain.net.client import ApiClientError, NodeClient

log = logging.getLogger("learnchain.governance.live")

CHECKPOINT_FORMAT = "learnchain-governance-live/v1"


class LiveError(ValueError):
    """The live engine cannot act on this chain (wrong key, wrong engine, bad checkpoint)."""


@dataclass
class LiveState:
    """Everything the loop must remember across a crash (the checkpoint's content)."""

    policy: str
    last_height: int = 0  # highest block a decision was taken on
    pending: str | None = None  # 0x hash of the governance tx in flight
    pending_height: int = 0  # head height when it was sent
    wait_until_height: int = 0  # decide again only once a block above this exists
    decisions: int = 0
    governance_txs: int = 0
    invalid_actions: int = 0
    restarts: int = 0
    controller_state: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, **{f.name: getattr(self, f.name)
                                                 for f in fields(self)}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveState:
        if data.get("format") != CHECKPOINT_FORMAT:
            raise LiveError("checkpoint format mismatch; delete it to start afresh")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def save_checkpoint(path: Path, state: LiveState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1))
    tmp.replace(path)


def load_checkpoint(path: Path, policy: str) -> LiveState:
    if not path.exists():
        return LiveState(policy)
    try:
        state = LiveState.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise LiveError(f"checkpoint {path} is unreadable ({exc}); delete it to start afresh"
                        ) from None
    if state.policy != policy:
        raise LiveError(f"checkpoint {path} belongs to policy {state.policy!r}, not {policy!r}; "
                        "use another --state file")
    state.restarts += 1
    return state


def _private_fields(obj: Any) -> dict[str, Any]:
    """A policy's scalar internal state (baseline counters); networks are not state here."""
    return {k: v for k, v in vars(obj).items()
            if k.startswith("_") and (v is None or isinstance(v, int | float | str))}


@dataclass
class LiveConfig:
    """What the loop needs besides the node: target time, bounds, the miner pool."""

    target: float
    robust_factor: float = 0.8
    bounds: Bounds = field(default_factory=lambda: Bounds(d_min=1, d_max=40, s_min=1, s_max=32))
    pool: list[bytes] = field(default_factory=list)  # every address that may mine
    partner_of: dict[bytes, int] = field(default_factory=dict)
    window: int = 8
    use_region: bool = True

    @property
    def robust_target(self) -> float:
        return self.robust_factor * self.target


class LiveEngine:
    """One governance loop against one node; ``step()`` is a single poll."""

    def __init__(self, client: NodeClient, key: PrivateKey, policy: Controller,
                 config: LiveConfig, checkpoint: Path) -> None:
        self.client = client
        self.key = key
        self.policy = policy
        self.config = config
        self.checkpoint = checkpoint
        self.state = load_checkpoint(checkpoint, policy.name)
        for k, v in self.state.controller_state.items():
            setattr(policy, k, v)
        self.validator = ActionValidator(config.bounds)
        self._check_controller()

    # -- chain reads ----------------------------------------------------------------------
    def params(self) -> tuple[int, list[bytes], bytes | None]:
        res = self.client.query("consensus", "params", {})
        miners = [parse_address(m) for m in res["miners"]]
        controller = parse_address(res["controller"]) if res["controller"] else None
        return int(res["params"]["difficulty"]), miners, controller

    def _check_controller(self) -> None:
        status = self.client.status()
        if status.get("engine") != "pow":
            raise LiveError(f"the node runs the {status.get('engine')!r} engine; the "
                            "governance engine steers governed proof of work ('pow') only")
        _, _, controller = self.params()
        if controller != self.key.address:
            shown = to_checksum_address(controller) if controller else "nobody"
            raise LiveError(f"key {to_checksum_address(self.key.address)} is not the consensus "
                            f"controller ({shown}); only the controller may govern")

    def recent_blocks(self, head: int, miners: int) -> list[BlockRecord]:
        """The last ``window`` blocks (above genesis) as BlockRecords."""
        n = self.config.window * 4
        start = max(0, head - n)
        headers = self.client.headers(start, head - start + 1)
        out: list[BlockRecord] = []
        for prev, cur in itertools.pairwise(headers):
            if cur["height"] < 2:  # genesis timestamp is fixed long before the devnet ran
                continue
            dt = max(cur["timestamp_ms"] - prev["timestamp_ms"], 1) / 1000.0
            partner = self.config.partner_of.get(parse_address(cur["proposer"]), -1)
            out.append(BlockRecord(dt, int(cur["engine_fields"]["difficulty"]), miners, partner))
        return out

    def region(self, blocks: Sequence[BlockRecord], miners: int) -> FeasibleRegion | None:
        if not self.config.use_region or not blocks:
            return None
        rate = estimated_rate(blocks[-self.config.window:])
        if not math.isfinite(rate) or rate <= 0:
            return None
        b = self.config.bounds
        return feasible_region(miners / rate, self.config.target, max(b.s_min, 1), b.s_max,
                               b.d_min, b.d_max)

    # -- one poll -------------------------------------------------------------------------
    def step(self) -> dict[str, Any] | None:
        """Poll once; returns the decision record if a decision was taken."""
        st = self.state
        head = int(self.client.status()["height"])
        if st.pending is not None:
            try:
                found = self.client.transaction(bytes.fromhex(st.pending[2:]))
            except ApiClientError:
                found = {"status": "dropped"}
            if found["status"] == "included":
                st.wait_until_height = int(found["height"])
                st.pending = None
            elif found["status"] == "dropped":
                log.warning("governance tx %s was dropped; deciding afresh", st.pending)
                st.pending = None
            else:
                return None
        if head <= max(st.last_height, st.wait_until_height) or head < 2:
            return None
        difficulty, miners, _ = self.params()
        blocks = self.recent_blocks(head, len(miners))
        if not blocks:
            return None
        self._anchor_features()
        idle = [a for a in self.config.pool if a not in miners]
        cs = ControlState(difficulty, len(miners), len(idle))
        proposed = self.policy.decide(blocks, cs)
        invalid_before = self.validator.invalid
        act, _ = self.validator.filter(proposed, cs, self.region(blocks, len(miners)))
        st.invalid_actions += self.validator.invalid - invalid_before
        record: dict[str, Any] = {
            "height": head, "proposed": Action(proposed).name, "applied": act.name,
            "difficulty": difficulty, "miners": len(miners),
            "smoothed_time": round(smoothed_time(blocks, self.config.window), 4),
            "time": time.time(),
        }
        tx = self._send(act, difficulty, miners, idle, blocks)
        if tx is not None:
            st.pending, st.pending_height = "0x" + tx.hash.hex(), head
            st.governance_txs += 1
            record["tx"] = st.pending
        st.last_height = head
        st.decisions += 1
        st.controller_state = _private_fields(self.policy)
        st.history = ([*st.history, record])[-500:]
        save_checkpoint(self.checkpoint, st)
        return record

    def _anchor_features(self) -> None:
        """Point a learned policy's features at this chain's target (features are relative
        to the current difficulty, so the target is all that differs between chains)."""
        features = getattr(self.policy, "features", None)
        if features is not None:
            self.policy.features = replace(features, target=self.config.target,
                                           robust_factor=self.config.robust_factor)

    def _wins(self, blocks: Sequence[BlockRecord]) -> dict[int, int]:
        wins: dict[int, int] = {}
        for b in blocks[-4 * self.config.window:]:
            wins[b.partner] = wins.get(b.partner, 0) + 1
        return wins

    def _send(self, act: Action, difficulty: int, miners: list[bytes], idle: list[bytes],
              blocks: Sequence[BlockRecord]) -> Any:
        if act is Action.NO_OP:
            return None
        if act in (Action.D_INCREASE, Action.D_DECREASE):
            d = difficulty + (1 if act is Action.D_INCREASE else -1)
            return self.client.send(self.key, "consensus", "set_params",
                                    {"params": {"difficulty": d}})
        wins = self._wins(blocks)
        score = {a: wins.get(self.config.partner_of.get(a, -1), 0) for a in [*miners, *idle]}
        if act is Action.MINER_START:  # the idle miner of the partner that won least
            pick = min(idle, key=lambda a: (score[a], a))
            new = [*miners, pick]
        else:  # MINER_STOP: the miner of the partner that won most
            pick = max(miners, key=lambda a: (score[a], a))
            new = [m for m in miners if m != pick]
        return self.client.send(self.key, "consensus", "set_miners", {"miners": new})

    def run(self, *, until: Callable[[LiveEngine], bool] | None = None, poll: float = 0.25,
            on_decision: Callable[[dict[str, Any]], None] | None = None) -> LiveState:
        """Poll until ``until(self)`` is true (or forever); node outages are retried."""
        while until is None or not until(self):
            try:
                record = self.step()
            except ApiClientError as exc:
                log.warning("node unreachable, retrying: %s", exc)
                record = None
                time.sleep(1.0)
            if record is not None and on_decision is not None:
                on_decision(record)
            time.sleep(poll)
        return self.state
