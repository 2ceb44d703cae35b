"""Feature preprocessing (§8.1 ``preprocess: B -> S``), shared by the simulator and live mode.

Both the Gymnasium environment and the live controller reduce the last blocks to the same
``BlockRecord`` list and call the same functions, so a policy trained in simulation reads a
real chain exactly the way it read the simulator.

Per block (§8.3) the triplet is (approximated hash rate, mining time, difficulty), scaled to
roughly unit range: ``log2(H_est / H_need) / 4``, ``mining_time / target`` (clipped to [0, 6])
and ``(d - d_now) / 4``, with ``H_est = 2^d / mining_time`` the rate that explains the block,
``d_now`` the difficulty of the newest block and ``H_need = 2^d_now / robust_target`` the rate
at which the current difficulty would hit the robust target.  Hash rate and difficulty are
thus read *relative to the current difficulty*, never against an absolute level: a policy
trained on a simulated network of 10^6 H/s machines reads a devnet of Python miners (or a
chain at the whitepaper's 60-bit difficulties) the same way.  Optional extras (§8.3
"additional features"):
σ_winning_partner of §8.9 over a window, normalised by the window size, and the active miner
count as a fraction of the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockRecord:
    """One block as the engine sees it: its race time, difficulty and who won it."""

    mining_time: float  # seconds since the parent block
    difficulty: int
    miners: int  # size of the miner set the block was mined under
    partner: int  # index of the partner owning the winning miner (-1: unknown)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features the Q-network reads and how they are scaled."""

    k: int = 8
    target: float = 10.0
    robust_factor: float = 0.8
    partners: int = 3
    sigma_window: int = 32
    s_max: int = 12
    sigma_feature: bool = True
    miners_feature: bool = True

    @property
    def robust_target(self) -> float:
        return self.robust_factor * self.target

    @property
    def dim(self) -> int:
        return 3 * self.k + int(self.sigma_feature) + int(self.miners_feature)


def sigma_winning_partner(winners: Sequence[int], partners: int) -> float:
    """§8.9: sqrt(Σ_i (w_i - w̄)² / (N - 1)), w_i the blocks partner i won in the window.

    The paper writes N - 1 with N undefined; we read it as the sample standard deviation
    over the P partners (N = P), the only reading that is defined for every window.
    """
    if partners < 2:
        return 0.0
    w = np.zeros(partners)
    for p in winners:
        if 0 <= p < partners:
            w[p] += 1
    return float(np.sqrt(((w - w.mean()) ** 2).sum() / (partners - 1)))


def smoothed_time(blocks: Sequence[BlockRecord], window: int) -> float:
    """Mean mining time of the last ``window`` blocks (the quantity reward and terminal read)."""
    tail = blocks[-window:]
    return sum(b.mining_time for b in tail) / max(len(tail), 1)


def estimated_rate(blocks: Sequence[BlockRecord]) -> float:
    """Total hash rate (hashes/s) that best explains the blocks: Σ 2^d / Σ mining time."""
    total_t = sum(b.mining_time for b in blocks)
    if total_t <= 0:
        return math.inf
    return sum(2.0 ** b.difficulty for b in blocks) / total_t


def preprocess(blocks: Sequence[BlockRecord], spec: FeatureSpec,
               miners_now: int | None = None) -> np.ndarray:
    """The state vector S for the last ``k`` blocks (oldest first; padded by repeating)."""
    if not blocks:
        raise ValueError("preprocess needs at least one block")
    tail = list(blocks[-spec.k:])
    tail = [tail[0]] * (spec.k - len(tail)) + tail
    out = np.empty(spec.dim, dtype=np.float32)
    d_now = tail[-1].difficulty
    log_need = d_now - math.log2(spec.robust_target)
    floor = 1e-3 * spec.target
    for j, b in enumerate(tail):
        t = max(b.mining_time, floor)
        out[3 * j] = np.clip((b.difficulty - math.log2(t) - log_need) / 4.0, -8.0, 8.0)
        out[3 * j + 1] = min(t / spec.target, 6.0)
        out[3 * j + 2] = np.clip((b.difficulty - d_now) / 4.0, -8.0, 8.0)
    i = 3 * spec.k
    if spec.sigma_feature:
        win = [b.partner for b in blocks[-spec.sigma_window:]]
        out[i] = sigma_winning_partner(win, spec.partners) / max(len(win), 1)
        i += 1
    if spec.miners_feature:
        s = blocks[-1].miners if miners_now is None else miners_now
        out[i] = s / spec.s_max
    return out
