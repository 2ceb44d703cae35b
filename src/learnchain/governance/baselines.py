"""Classic difficulty controllers, behind the same interface as the learned engine.

A controller sees the recent blocks and the control state and proposes one action of the
§8.3 action set per block; the same objects drive the simulator and live mode, so the
comparison is between decision rules, not between plumbing.  The classic rules only move the
difficulty (that is what they do on Bitcoin and Ethereum); only the learned engine also starts
and stops miners.  Difficulty on a governed-PoW chain is a whole number of leading zero bits,
so a controller that wants a multi-bit change issues one step per block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from learnchain.governance.features import BlockRecord
from learnchain.governance.validation import Action, ControlState


class Controller(Protocol):
    name: str

    def reset(self) -> None: ...

    def decide(self, blocks: Sequence[BlockRecord], state: ControlState) -> int: ...


@dataclass
class FixedDifficulty:
    """Never changes anything: the difficulty set at genesis stays."""

    name: str = "fixed"

    def reset(self) -> None:
        return None

    def decide(self, blocks: Sequence[BlockRecord], state: ControlState) -> int:
        return int(Action.NO_OP)


@dataclass
class BitcoinRetarget:
    """Every ``interval`` blocks: move d by log2(set_point / mean time), at most ±2 bits.

    Bitcoin retargets every 2016 blocks by the ratio of expected to actual time, clamped to a
    factor of 4 (= 2 bits); ``interval`` is scaled down to the horizon of our runs.
    """

    set_point: float
    interval: int = 16
    name: str = "bitcoin"
    _seen: int = 0
    _pending: int = 0

    def reset(self) -> None:
        self._seen, self._pending = 0, 0

    def decide(self, blocks: Sequence[BlockRecord], state: ControlState) -> int:
        self._seen += 1
        if self._seen % self.interval == 0 and len(blocks) >= self.interval:
            window = blocks[-self.interval:]
            mean = sum(b.mining_time for b in window) / len(window)
            if mean > 0:
                self._pending = max(-2, min(2, round(math.log2(self.set_point / mean))))
        if self._pending > 0:
            self._pending -= 1
            return int(Action.D_INCREASE)
        if self._pending < 0:
            self._pending += 1
            return int(Action.D_DECREASE)
        return int(Action.NO_OP)


@dataclass
class ProportionalController:
    """Ethereum-style per-block rule on a fractional log-difficulty.

    Ethereum moves difficulty every block by D/2048·(1 - t/T) (clamped); in bits that is
    ``x += gain·(1 - t/set_point)``, clamped below at ``-max_down``.  The chain can only hold
    whole bits, so the controller requests a step whenever round(x) differs from d.
    """

    set_point: float
    gain: float = 0.15
    max_down: float = 3.0
    name: str = "proportional"
    _x: float | None = field(default=None, repr=False)

    def reset(self) -> None:
        self._x = None

    def decide(self, blocks: Sequence[BlockRecord], state: ControlState) -> int:
        if self._x is None or abs(self._x - state.difficulty) > 1.0:
            self._x = float(state.difficulty)  # (re)anchor on the chain's actual value
        if blocks:
            t = blocks[-1].mining_time
            self._x += max(self.gain * (1.0 - t / self.set_point), -self.max_down * self.gain)
        want = round(self._x)
        if want > state.difficulty:
            return int(Action.D_INCREASE)
        if want < state.difficulty:
            return int(Action.D_DECREASE)
        return int(Action.NO_OP)


def make_baseline(name: str, set_point: float) -> Controller:
    """A fresh classic controller by name (fixed, bitcoin, proportional)."""
    if name == "fixed":
        return FixedDifficulty()
    if name == "bitcoin":
        return BitcoinRetarget(set_point)
    if name == "proportional":
        return ProportionalController(set_point)
    raise ValueError(f"unknown baseline {name!r}; choose fixed, bitcoin or proportional")


BASELINES = ("fixed", "bitcoin", "proportional")
