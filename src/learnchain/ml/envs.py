"""Oracle environments: the MDP whose episode is the chain's growth.

An oracle is a *pure function* of consensus data:
``step(S_t, A_t, seed) -> (S_{t+1}, R_{t+1}, done)``. The environment object holds no state
between calls; every call reconstructs the simulator from ``S_t``. States and rewards are
tuples of ints / ints (fixed point, ``SCALE = 10**9``) so that blocks can store them and every
node can compare them exactly.

State layout (all envs): ``(*core, t)`` where ``t`` is the step index inside the current
episode. Keeping ``t`` in the state makes the time limit (truncation) a function of the state,
not of hidden wrapper counters, so any node can re-execute any block's step.

On ``done`` (terminated or truncated) the chain continues from ``reset(seed)`` with the *same*
seed that was passed to ``step``; ``StepOutcome.reached_state`` still carries the state the
action actually led to, which is what a DQN transition needs (truncation must bootstrap).

Envs are looked up by name in ``ENV_REGISTRY`` so the consensus parameters can name one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from learnchain.ml.coins import coin_below
from learnchain.ml.fixedpoint import SCALE, FpVector, from_fp, to_fp

State = tuple[int, ...]


class EnvError(ValueError):
    """A state, action or env name is not valid for the oracle (a block to reject)."""


@dataclass(frozen=True)
class StepOutcome:
    """Result of one oracle step; ``next_state`` is what the chain records as ``S_{t+1}``."""

    next_state: State
    reached_state: State
    reward_fp: int
    terminated: bool
    truncated: bool

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class OracleEnv(ABC):
    """Stateless, reconstructible environment. Subclasses define the core dynamics only."""

    name: ClassVar[str]
    n_actions: ClassVar[int]
    obs_dim: ClassVar[int]
    core_dim: ClassVar[int]
    max_episode_steps: ClassVar[int]

    # -- subclass hooks -----------------------------------------------------------------
    @abstractmethod
    def reset_core(self, seed: bytes) -> State:
        """Initial core state drawn from coins on ``seed``."""

    @abstractmethod
    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        """``(core', reward_fp, terminated)``; any randomness must come from coins on seed."""

    @abstractmethod
    def observe_core(self, core: State) -> FpVector:
        """Q-network features (fixed point, roughly unit scale) of a core state."""

    # -- protocol -------------------------------------------------------------------------
    def reset(self, seed: bytes) -> State:
        return (*self.reset_core(seed), 0)

    def validate_state(self, state: State) -> None:
        if not isinstance(state, tuple) or len(state) != self.core_dim + 1:
            raise EnvError(f"{self.name}: state must be a tuple of {self.core_dim + 1} ints")
        if any(not isinstance(v, int) or isinstance(v, bool) for v in state):
            raise EnvError(f"{self.name}: state components must be ints")
        if not 0 <= state[-1] < self.max_episode_steps:
            raise EnvError(f"{self.name}: episode step {state[-1]} out of range")

    def validate_action(self, action: int) -> None:
        if not isinstance(action, int) or isinstance(action, bool):
            raise EnvError(f"{self.name}: action must be an int")
        if not 0 <= action < self.n_actions:
            raise EnvError(f"{self.name}: action {action} not in [0, {self.n_actions})")

    def step(self, state: State, action: int, seed: bytes) -> StepOutcome:
        self.validate_state(state)
        self.validate_action(action)
        core, t = state[:-1], state[-1]
        core2, reward_fp, terminated = self.dynamics(core, action, seed)
        t2 = t + 1
        truncated = (not terminated) and t2 >= self.max_episode_steps
        reached = (*core2, t2)
        nxt = self.reset(seed) if (terminated or truncated) else reached
        return StepOutcome(nxt, reached, reward_fp, terminated, truncated)

    def observe(self, state: State) -> FpVector:
        """Features for the Q-network (drops the episode clock, see env docstrings)."""
        return self.observe_core(tuple(state[: self.core_dim]))


class CartPoleOracle(OracleEnv):
    """Gymnasium ``CartPole-v1`` driven through ``unwrapped.state``.

    Step: fp ints -> float64 (``from_fp``, exact) -> ``unwrapped.step`` -> float64 state ->
    fp ints with ``to_fp`` (round half to even on the exact float value). The 500-step limit
    is applied here from ``t`` (the gym ``TimeLimit`` wrapper is bypassed).

    Reset does not use numpy's RNG: each of the four components is
    ``coin_below(seed, "cartpole/reset", i, 10**8 + 1) - 5 * 10**7``, i.e. uniform on the
    1e-9 grid of ``[-0.05, 0.05]`` -- gym's reset distribution, but exact on every platform.

    Cross-platform caveat: gym evaluates ``np.cos``/``np.sin`` in float64; numpy may dispatch
    these to SIMD kernels whose last-ulp results depend on the CPU. Quantising to 1e-9 hides a
    1-ulp difference unless it straddles a rounding boundary (probability ~1e-7 per
    component), so CartPole is exact across identical platforms and almost always across
    others. ``Inventory-v0`` is the fully integer alternative.
    """

    name = "CartPole-v1"
    n_actions = 2
    obs_dim = 4
    core_dim = 4
    max_episode_steps = 500
    RESET_HALF_WIDTH_FP: ClassVar[int] = 5 * 10**7

    def __init__(self) -> None:
        import gymnasium as gym

        self._env = gym.make("CartPole-v1").unwrapped

    def reset_core(self, seed: bytes) -> State:
        w = self.RESET_HALF_WIDTH_FP
        return tuple(coin_below(seed, "cartpole/reset", i, 2 * w + 1) - w for i in range(4))

    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        env = self._env
        env.state = np.array([from_fp(v) for v in core], dtype=np.float64)
        env.steps_beyond_terminated = None
        _, reward, terminated, _, _ = env.step(action)
        core2 = tuple(to_fp(float(v)) for v in env.state)
        return core2, to_fp(float(reward)), bool(terminated)

    def observe_core(self, core: State) -> FpVector:
        return core


class InventoryOracle(OracleEnv):
    """Integer inventory-control task: exact on every CPU (no floats anywhere).

    Core state ``(stock, last_demand)``; action = units ordered in ``{0, 1, 2, 3}`` (arrive
    at once, stock capped at ``CAPACITY``). Daily demand is uniform on ``{0..4}`` from
    ``coin_below(seed, "inventory/demand", 0, 5)``. Reward in tenths:
    ``4*sold - 2*ordered - 1*stock_left - 3*unmet`` (times ``SCALE/10``). Episodes last 50
    days and never terminate early. Features are stock, last demand and the clock scaled to
    ``[0, 1]`` (the clock matters near the horizon).
    """

    name = "Inventory-v0"
    n_actions = 4
    obs_dim = 3
    core_dim = 2
    max_episode_steps = 50
    CAPACITY: ClassVar[int] = 10
    MAX_DEMAND: ClassVar[int] = 4
    PRICE, ORDER_COST, HOLDING_COST, STOCKOUT_COST = 4, 2, 1, 3
    REWARD_UNIT_FP: ClassVar[int] = SCALE // 10

    def reset_core(self, seed: bytes) -> State:
        return (coin_below(seed, "inventory/reset", 0, self.CAPACITY + 1), 0)

    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        stock, _ = core
        if not 0 <= stock <= self.CAPACITY:
            raise EnvError(f"{self.name}: stock {stock} outside [0, {self.CAPACITY}]")
        demand = coin_below(seed, "inventory/demand", 0, self.MAX_DEMAND + 1)
        stocked = min(self.CAPACITY, stock + action)
        sold = min(stocked, demand)
        left = stocked - sold
        unmet = demand - sold
        units = (
            self.PRICE * sold
            - self.ORDER_COST * action
            - self.HOLDING_COST * left
            - self.STOCKOUT_COST * unmet
        )
        return (left, demand), units * self.REWARD_UNIT_FP, False

    def validate_state(self, state: State) -> None:
        super().validate_state(state)
        if not 0 <= state[0] <= self.CAPACITY or not 0 <= state[1] <= self.MAX_DEMAND:
            raise EnvError(f"{self.name}: state {state} out of range")

    def observe(self, state: State) -> FpVector:
        stock, demand, t = state
        return (
            stock * SCALE // self.CAPACITY,
            demand * SCALE // self.MAX_DEMAND,
            t * SCALE // self.max_episode_steps,
        )

    def observe_core(self, core: State) -> FpVector:
        return self.observe((*core, 0))


ENV_REGISTRY: dict[str, Callable[[], OracleEnv]] = {
    CartPoleOracle.name: CartPoleOracle,
    InventoryOracle.name: InventoryOracle,
}


def _register_more() -> None:
    from learnchain.ml.envs_more import MORE_ENVS  # here: envs_more imports this module

    for cls in MORE_ENVS:
        ENV_REGISTRY.setdefault(cls.name, cls)


def register_env(name: str, factory: Callable[[], OracleEnv]) -> None:
    """Add an environment; names are consensus parameters, so re-registration is refused."""
    if name in ENV_REGISTRY:
        raise EnvError(f"environment {name!r} already registered")
    ENV_REGISTRY[name] = factory


def make_env(name: str) -> OracleEnv:
    try:
        factory = ENV_REGISTRY[name]
    except KeyError:
        raise EnvError(f"unknown environment {name!r}; known: {sorted(ENV_REGISTRY)}") from None
    return factory()


_register_more()
