"""More oracle environments: Acrobot, MountainCar and a continuing queueing task.

Same protocol as ``learnchain.ml.envs`` (stateless, reconstructible from the fixed-point state
the chain records; randomness only from coins on the step seed). Registered on import of
``learnchain.ml.envs`` (its registry imports this module at the end).

* ``Acrobot-v1`` and ``MountainCar-v0`` drive Gymnasium's classic-control dynamics through
  ``unwrapped.state`` exactly as ``CartPole-v1`` does (float64 inside, fixed point outside;
  the same cross-platform caveat about libm ``sin``/``cos``).
* ``LunarLander`` is *not* offered: its Box2D world (bodies, contacts, random terrain) cannot
  be rebuilt from a state vector, so no verifier could replay a step from ``S_t``; replaying
  the whole episode from its actions would cost O(t) per block. (The ``Box2D`` wheel does
  install from PyPI, but gymnasium's box2d package also needs ``pygame``.)
* ``Queue-v0`` is the continual task the paper targets ("ongoing environments"): integer
  dynamics, exact on every CPU, and it never terminates or truncates.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from learnchain.ml.coins import coin_below
from learnchain.ml.envs import EnvError, OracleEnv, State
from learnchain.ml.fixedpoint import SCALE, FpVector, from_fp, to_fp


class AcrobotOracle(OracleEnv):
    """Gymnasium ``Acrobot-v1`` (RK4, dt 0.2, no torque noise), 500-step limit from ``t``.

    Core state ``(θ1, θ2, dθ1, dθ2)`` in fixed point; reset is uniform on the 1e-9 grid of
    ``[-0.1, 0.1]`` per component by coins (gym's reset distribution). Reward -1 per step,
    0 on the terminating step (tip above the bar). Features are gym's observation
    ``(cos θ1, sin θ1, cos θ2, sin θ2, dθ1, dθ2)`` with the velocities scaled to about unit
    range (divided by 4π and 9π).
    """

    name = "Acrobot-v1"
    n_actions = 3
    obs_dim = 6
    core_dim = 4
    max_episode_steps = 500
    RESET_HALF_WIDTH_FP: ClassVar[int] = SCALE // 10

    def __init__(self) -> None:
        import gymnasium as gym

        self._env = gym.make("Acrobot-v1").unwrapped

    def reset_core(self, seed: bytes) -> State:
        w = self.RESET_HALF_WIDTH_FP
        return tuple(coin_below(seed, "acrobot/reset", i, 2 * w + 1) - w for i in range(4))

    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        env = self._env
        env.state = np.array([from_fp(v) for v in core], dtype=np.float64)
        _, reward, terminated, _, _ = env.step(action)
        core2 = tuple(to_fp(float(v)) for v in env.state)
        return core2, to_fp(float(reward)), bool(terminated)

    def observe_core(self, core: State) -> FpVector:
        t1, t2, d1, d2 = (from_fp(v) for v in core)
        return (to_fp(math.cos(t1)), to_fp(math.sin(t1)), to_fp(math.cos(t2)),
                to_fp(math.sin(t2)), to_fp(d1 / (4 * math.pi)), to_fp(d2 / (9 * math.pi)))


class MountainCarOracle(OracleEnv):
    """Gymnasium ``MountainCar-v0``, 200-step limit from ``t``.

    Core state ``(position, velocity)``; reset position uniform on the 1e-9 grid of
    ``[-0.6, -0.4]`` by coins, velocity 0 (gym's distribution). Reward -1 per step; terminates
    at the flag. Features: position and velocity scaled to about ``[-1, 1]``.
    """

    name = "MountainCar-v0"
    n_actions = 3
    obs_dim = 2
    core_dim = 2
    max_episode_steps = 200

    def __init__(self) -> None:
        import gymnasium as gym

        self._env = gym.make("MountainCar-v0").unwrapped

    def reset_core(self, seed: bytes) -> State:
        low = -6 * SCALE // 10
        return (low + coin_below(seed, "mountaincar/reset", 0, 2 * SCALE // 10 + 1), 0)

    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        env = self._env
        env.state = np.array([from_fp(v) for v in core], dtype=np.float64)
        _, reward, terminated, _, _ = env.step(action)
        core2 = tuple(to_fp(float(v)) for v in env.state)
        return core2, to_fp(float(reward)), bool(terminated)

    def observe_core(self, core: State) -> FpVector:
        pos, vel = core
        return ((pos + 3 * SCALE // 10) * 10 // 9, vel * 1000 // 70)


class QueueOracle(OracleEnv):
    """A continuing routing task: two queues, one fast and one slow server, no episodes.

    Core state ``(q0, q1)`` (jobs waiting, each capped at ``CAPACITY``). Each step
    ``arrivals`` jobs arrive (0, 1 or 2 with probabilities 0.3/0.4/0.3, by coin) and the
    action routes all of them to queue 0 or queue 1; then server 0 completes one job with
    probability 0.7 and server 1 with probability 0.4 (coins). Jobs beyond the capacity are
    dropped. Reward in tenths: ``-(q0 + q1) - 10 * dropped`` (holding cost and a drop
    penalty). Nothing ever terminates or truncates (``max_episode_steps`` only bounds the
    clock, at 2**62 steps), so learning is continual: the chain is one unending trajectory
    and greedy quality is measured as the average reward over a fixed horizon
    (``evaluate_greedy`` with ``horizon``). Integer-only: exact on every CPU.
    """

    name = "Queue-v0"
    n_actions = 2
    obs_dim = 2
    core_dim = 2
    max_episode_steps = 2**62
    continuing: ClassVar[bool] = True
    eval_horizon: ClassVar[int] = 200
    CAPACITY: ClassVar[int] = 20
    SERVE_PPM: ClassVar[tuple[int, int]] = (700_000, 400_000)
    REWARD_UNIT_FP: ClassVar[int] = SCALE // 10

    def reset_core(self, seed: bytes) -> State:
        return (0, 0)

    def dynamics(self, core: State, action: int, seed: bytes) -> tuple[State, int, bool]:
        q = list(core)
        if not all(0 <= v <= self.CAPACITY for v in q):
            raise EnvError(f"{self.name}: queues {core} outside [0, {self.CAPACITY}]")
        u = coin_below(seed, "queue/arrivals", 0, 10)
        arrivals = 0 if u < 3 else (1 if u < 7 else 2)
        q[action] += arrivals
        dropped = max(0, q[action] - self.CAPACITY)
        q[action] -= dropped
        for i in (0, 1):
            if q[i] and coin_below(seed, "queue/serve", i, 1_000_000) < self.SERVE_PPM[i]:
                q[i] -= 1
        units = -(q[0] + q[1]) - 10 * dropped
        return (q[0], q[1]), units * self.REWARD_UNIT_FP, False

    def validate_state(self, state: State) -> None:
        super().validate_state(state)
        if not all(0 <= v <= self.CAPACITY for v in state[:2]):
            raise EnvError(f"{self.name}: state {state} out of range")

    def observe_core(self, core: State) -> FpVector:
        return tuple(v * SCALE // 10 for v in core)


MORE_ENVS = (AcrobotOracle, MountainCarOracle, QueueOracle)
