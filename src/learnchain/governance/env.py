"""A Gymnasium environment of a governed proof-of-work network (§8.3), one step per block.

The network: a pool of machines owned by ``partners`` consortium partners, each with its own
hash rate (heterogeneous, lognormal around ``base_rate``).  ``s`` of them are in the miner
set.  Every block is an exact race: miner i needs a geometric number of hashes at success
probability 2^-d (the calculus's race model, ``engine_limits.sample_hashes``) at its current
rate, starting when it is ready; the first to finish wins and the block time is its finish
time.  Around that race:

* **spin-up latency** — a started miner hashes only ``spin_up`` seconds after the decision;
* **failures** — a machine in the set fails with ``fail_prob`` per block and stops hashing
  (it stays in the set, like a killed node, until repaired after ``repair_blocks``);
* **drift** — per-machine rates and a global load factor follow mean-reverting log random walks;
* **scenarios** — ``load`` (rates halve for a while), ``failure`` (half the set fails at
  once), ``surge`` (rates x4), ``partner`` (partner 0 grows its rate to x4, unbalancing who
  wins) or ``steady``; ``None`` draws one per episode (the training mixture).

State, reward and terminal are §8.3's: the last k (hash rate, mining time, difficulty)
triplets (see ``features.py``; optionally σ_winning_partner, §8.9), reward
``-m·((robust_target - t)/target)² + 1`` and terminal when ``t`` leaves robust_target ±
threshold·target.  ``t`` is the mean of the last ``smooth`` mining times: one block's time is
exponential (coefficient of variation 1), so the paper's single-block terminal would end
almost every episode by luck; ``smooth=1`` restores the literal reading.

Actions go through the §8.8 validator (bounds plus the calculus's robustly feasible region at
the current estimated per-miner hash time); refused actions are no-ops, counted in ``info``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from learnchain.governance.engine_limits import FeasibleRegion, feasible_region, sample_hashes
from learnchain.governance.features import (
    BlockRecord,
    FeatureSpec,
    estimated_rate,
    preprocess,
    smoothed_time,
)
from learnchain.governance.validation import (
    N_ACTIONS,
    Action,
    ActionValidator,
    Bounds,
    ControlState,
)

SCENARIOS = ("steady", "load", "failure", "surge", "partner")


@dataclass(frozen=True)
class EnvConfig:
    """Every knob of the simulated network; times in seconds, rates in hashes per second."""

    k: int = 8
    target: float = 10.0
    robust_factor: float = 0.8
    m: float = 4.0
    threshold: float = 0.7  # terminal band half-width, in targets
    smooth: int = 8
    max_steps: int = 400
    terminate: bool = True
    partners: int = 3
    miners_per_partner: int = 4
    initial_miners: int = 6
    base_rate: float = 1e6
    rate_spread: float = 0.5  # lognormal sigma of the machines' base rates
    bounds: Bounds = field(default_factory=lambda: Bounds(d_min=8, d_max=48, s_min=2, s_max=12))
    use_region: bool = True
    spin_up: float = 5.0
    fail_prob: float = 0.002
    repair_blocks: int = 60
    drift: float = 0.03
    load_vol: float = 0.03
    scenario: str | None = None
    shock_at: int | None = None  # block of the shock; None: drawn in [k, max_steps/2]
    initial_offset: int | None = None  # bits the start difficulty is off; None: drawn in ±1
    sigma_feature: bool = True
    miners_feature: bool = True

    def __post_init__(self) -> None:
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS} or None, got {self.scenario!r}")
        if self.k < 1 or self.smooth < 1 or self.max_steps < 1:
            raise ValueError("k, smooth and max_steps must be >= 1")
        if not 0 < self.initial_miners <= self.partners * self.miners_per_partner:
            raise ValueError("initial_miners must be in [1, partners * miners_per_partner]")

    @property
    def robust_target(self) -> float:
        return self.robust_factor * self.target

    @property
    def pool(self) -> int:
        return self.partners * self.miners_per_partner

    def nominal_difficulty(self) -> int:
        """d whose expected block time at the nominal rates is closest to robust_target."""
        rate = self.initial_miners * self.base_rate
        return round(math.log2(self.robust_target * rate))

    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec(k=self.k, target=self.target, robust_factor=self.robust_factor,
                           partners=self.partners, sigma_window=4 * self.k,
                           s_max=self.bounds.s_max, sigma_feature=self.sigma_feature,
                           miners_feature=self.miners_feature)

    def with_(self, **changes: Any) -> EnvConfig:
        return replace(self, **changes)


def reward_of(t: float, cfg: EnvConfig) -> float:
    """§8.3 reward on the smoothed mining time (scaled by target² so m is unit-free)."""
    return 1.0 - cfg.m * ((cfg.robust_target - t) / cfg.target) ** 2


def is_terminal(t: float, cfg: EnvConfig) -> bool:
    """§8.3 terminal: the smoothed mining time left robust_target ± threshold."""
    return abs(t - cfg.robust_target) > cfg.threshold * cfg.target


class GovernedPowEnv(gym.Env[np.ndarray, int]):
    """One step = one block: validate and apply the action, drift, race, observe."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None) -> None:
        self.cfg = config or EnvConfig()
        self.spec_features = self.cfg.feature_spec()
        dim = self.spec_features.dim
        self.observation_space = spaces.Box(-8.0, 8.0, shape=(dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.validator = ActionValidator(self.cfg.bounds)
        self.blocks: list[BlockRecord] = []

    # ------------------------------------------------------------------ dynamics
    def _draw_scenario(self) -> None:
        cfg, rng = self.cfg, self.np_random
        self.scenario = cfg.scenario or SCENARIOS[int(rng.integers(len(SCENARIOS)))]
        hi = max(cfg.k + 1, cfg.max_steps // 2)
        self.shock_at = cfg.shock_at if cfg.shock_at is not None else int(
            rng.integers(cfg.k, hi + 1))

    def _scenario_factor(self) -> np.ndarray:
        """Per-machine rate multiplier the scenario imposes at the current block."""
        f = np.ones(self.cfg.pool)
        t, s0 = self.t, self.shock_at
        if self.scenario == "load" and s0 <= t < s0 + 100:
            f *= 0.5
        elif self.scenario == "surge" and t >= s0:
            f *= 4.0
        elif self.scenario == "partner" and t >= s0:
            grow = min((t - s0) / 150.0, 1.0)
            f[self.owner == 0] *= 1.0 + 3.0 * grow
        return f

    def _drift(self) -> None:
        cfg, rng = self.cfg, self.np_random
        self.log_drift = 0.97 * self.log_drift + cfg.drift * rng.standard_normal(cfg.pool)
        self.log_load = 0.97 * self.log_load + cfg.load_vol * float(rng.standard_normal())
        broken = self.failed_until > self.t
        fails = (rng.random(cfg.pool) < cfg.fail_prob) & self.in_set & ~broken
        if self.scenario == "failure" and self.t == self.shock_at:
            members = np.flatnonzero(self.in_set & ~broken)
            fails[members[: len(members) // 2]] = True
        self.failed_until[fails] = self.t + cfg.repair_blocks

    def rates(self) -> np.ndarray:
        """Current hash rate of every machine (0 for broken ones), hashes per second."""
        r = self.base * np.exp(self.log_drift + self.log_load) * self._scenario_factor()
        return np.where(self.failed_until > self.t, 0.0, r)

    def _race(self) -> tuple[float, int]:
        """Exact race of the machines in the set; returns (block time, winning machine)."""
        rates = self.rates()
        live = np.flatnonzero(self.in_set & (rates > 0))
        if live.size == 0:
            # nobody can mine: the chain stalls for the worst time the env allows
            return 6.0 * self.cfg.target, -1
        hashes = sample_hashes(self.np_random, self.d, live.size)
        start = np.maximum(self.ready_at[live] - self.clock, 0.0)
        finish = start + hashes / rates[live]
        j = int(np.argmin(finish))
        return float(finish[j]), int(live[j])

    def _wins(self) -> np.ndarray:
        w = np.zeros(self.cfg.partners)
        for b in self.blocks[-self.spec_features.sigma_window:]:
            if b.partner >= 0:
                w[b.partner] += 1
        return w

    def control_state(self) -> ControlState:
        members = int(self.in_set.sum())
        return ControlState(self.d, members, self.cfg.pool - members)

    def region(self) -> FeasibleRegion | None:
        """Calculus region at the estimated per-miner hash time of the last k blocks."""
        if not self.cfg.use_region:
            return None
        rate = estimated_rate(self.blocks[-self.cfg.k:])
        s = max(int(self.in_set.sum()), 1)
        if not math.isfinite(rate) or rate <= 0:
            return None
        b = self.cfg.bounds
        return feasible_region(s / rate, self.cfg.target, b.s_min, b.s_max, b.d_min, b.d_max)

    def _apply(self, action: Action) -> None:
        wins = self._wins()
        if action is Action.D_INCREASE:
            self.d += 1
        elif action is Action.D_DECREASE:
            self.d -= 1
        elif action is Action.MINER_START:
            # bring in an idle machine of the partner that won least (§8.9 balance)
            idle = np.flatnonzero(~self.in_set)
            j = int(idle[np.argmin(wins[self.owner[idle]] * 1000 + idle)])
            self.in_set[j] = True
            self.ready_at[j] = self.clock + self.cfg.spin_up
        elif action is Action.MINER_STOP:
            members = np.flatnonzero(self.in_set)
            j = int(members[np.argmax(wins[self.owner[members]] * 1000 + members)])
            self.in_set[j] = False

    def _mine_block(self) -> BlockRecord:
        self._drift()
        dt, winner = self._race()
        self.clock += dt
        rec = BlockRecord(dt, self.d, int(self.in_set.sum()),
                          int(self.owner[winner]) if winner >= 0 else -1)
        self.blocks.append(rec)
        self.t += 1
        return rec

    def _obs(self) -> np.ndarray:
        return preprocess(self.blocks, self.spec_features, int(self.in_set.sum()))

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        cfg, rng = self.cfg, self.np_random
        self._draw_scenario()
        self.owner = np.repeat(np.arange(cfg.partners), cfg.miners_per_partner)
        self.base = cfg.base_rate * np.exp(cfg.rate_spread * rng.standard_normal(cfg.pool)
                                           - cfg.rate_spread ** 2 / 2)
        self.log_drift = np.zeros(cfg.pool)
        self.log_load = 0.0
        self.failed_until = np.full(cfg.pool, -(10**9), dtype=np.int64)
        self.ready_at = np.zeros(cfg.pool)
        self.in_set = np.zeros(cfg.pool, dtype=bool)
        for i in range(cfg.initial_miners):  # round-robin over partners
            p, j = i % cfg.partners, i // cfg.partners
            self.in_set[p * cfg.miners_per_partner + j] = True
        offset = cfg.initial_offset if cfg.initial_offset is not None else int(
            rng.integers(-1, 2))
        self.d = int(np.clip(cfg.nominal_difficulty() + offset, cfg.bounds.d_min,
                             cfg.bounds.d_max))
        self.clock = 0.0
        self.t = -cfg.k  # warm-up blocks fill the state before step 0
        self.blocks = []
        self.validator = ActionValidator(cfg.bounds)
        self.governance_txs = 0
        for _ in range(cfg.k):
            self._mine_block()
        return self._obs(), {"scenario": self.scenario, "shock_at": self.shock_at}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        act, _ = self.validator.filter(int(action), self.control_state(), self.region())
        if act is not Action.NO_OP:
            self.governance_txs += 1
            self._apply(act)
        rec = self._mine_block()
        t = smoothed_time(self.blocks, self.cfg.smooth)
        terminated = self.cfg.terminate and is_terminal(t, self.cfg)
        truncated = self.t >= self.cfg.max_steps and not terminated
        info = {"mining_time": rec.mining_time, "smoothed": t, "difficulty": self.d,
                "miners": rec.miners, "partner": rec.partner, "applied": int(act),
                "invalid_actions": self.validator.invalid,
                "governance_txs": self.governance_txs, "scenario": self.scenario,
                "shock_at": self.shock_at, "t": self.t}
        return self._obs(), reward_of(t, self.cfg), bool(terminated), bool(truncated), info
