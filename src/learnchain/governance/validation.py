"""Action validation (§8.8): the static business rules between the policy and the network.

The policy proposes one of five actions; ``validate_action`` decides whether the network may
carry it out.  It checks the static bounds on the difficulty and on the number of miners and
the robustly feasible region of the mining calculus (§6.4): an action may not leave the
region, and when the network already sits outside it (e.g. after a hash-rate surge) only
moves that bring it closer are allowed.  A refused action becomes a no-op and is counted,
exactly as §8.8 describes; the engine then learns that the move had no effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from learnchain.governance.engine_limits import FeasibleRegion


class Action(IntEnum):
    """The action set A of §8.3 plus the no-op the validation layer maps refusals to."""

    D_INCREASE = 0
    D_DECREASE = 1
    MINER_START = 2
    MINER_STOP = 3
    NO_OP = 4


N_ACTIONS = len(Action)


class InvalidAction(ValueError):
    """The proposed action breaks a bound or leaves the robustly feasible region."""


@dataclass(frozen=True)
class Bounds:
    """Static business bounds (inclusive)."""

    d_min: int = 1
    d_max: int = 64
    s_min: int = 2
    s_max: int = 12

    def __post_init__(self) -> None:
        if not 0 <= self.d_min <= self.d_max <= 255:
            raise ValueError(f"need 0 <= d_min <= d_max <= 255, got {self.d_min}, {self.d_max}")
        if not 1 <= self.s_min <= self.s_max:
            raise ValueError(f"need 1 <= s_min <= s_max, got {self.s_min}, {self.s_max}")


@dataclass(frozen=True)
class ControlState:
    """What the validator looks at: difficulty, miners in the set, miners available to start."""

    difficulty: int
    miners: int
    idle: int


def _distance(region: FeasibleRegion, s: int, d: int) -> float:
    """Bits by which d lies outside the feasible difficulty range of s (inf: s infeasible)."""
    rng = region.d_range.get(s)
    if rng is None:
        return float("inf")
    return float(max(rng[0] - d, 0, d - rng[1]))


def apply_action(action: Action, st: ControlState) -> ControlState:
    """The control state after an action, without any check."""
    d, s, idle = st.difficulty, st.miners, st.idle
    if action is Action.D_INCREASE:
        d += 1
    elif action is Action.D_DECREASE:
        d -= 1
    elif action is Action.MINER_START:
        s, idle = s + 1, idle - 1
    elif action is Action.MINER_STOP:
        s, idle = s - 1, idle + 1
    return ControlState(d, s, idle)


def validate_action(action: int, st: ControlState, bounds: Bounds,
                    region: FeasibleRegion | None = None) -> ControlState:
    """The control state the action leads to; raises InvalidAction if it is not allowed."""
    try:
        act = Action(action)
    except ValueError:
        raise InvalidAction(f"unknown action {action!r}; actions are 0..{N_ACTIONS - 1}") from None
    if act is Action.NO_OP:
        return st
    new = apply_action(act, st)
    if not bounds.d_min <= new.difficulty <= bounds.d_max:
        raise InvalidAction(f"{act.name}: difficulty {new.difficulty} outside "
                            f"[{bounds.d_min}, {bounds.d_max}]")
    if not bounds.s_min <= new.miners <= bounds.s_max:
        raise InvalidAction(f"{act.name}: {new.miners} miners outside "
                            f"[{bounds.s_min}, {bounds.s_max}]")
    if new.idle < 0:
        raise InvalidAction(f"{act.name}: no idle miner is available to start")
    if region is not None:
        after = _distance(region, new.miners, new.difficulty)
        if after > 0 and after >= _distance(region, st.miners, st.difficulty):
            raise InvalidAction(f"{act.name}: (s={new.miners}, d={new.difficulty}) is outside "
                                "the robustly feasible region of the mining calculus")
    return new


@dataclass
class ActionValidator:
    """Turns refused actions into no-ops and counts them (per reason and in total)."""

    bounds: Bounds
    invalid: int = 0
    reasons: list[str] = field(default_factory=list)

    def filter(self, action: int, st: ControlState,
               region: FeasibleRegion | None = None) -> tuple[Action, ControlState]:
        try:
            return Action(action), validate_action(action, st, self.bounds, region)
        except InvalidAction as exc:
            self.invalid += 1
            if len(self.reasons) < 1000:
                self.reasons.append(str(exc))
            return Action.NO_OP, st
