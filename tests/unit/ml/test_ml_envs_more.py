"""Acrobot, MountainCar and the continuing Queue task: oracle protocol and gym agreement."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.ml import dqn
from learnchain.ml.coins import derive_seed
from learnchain.ml.envs import EnvError, make_env
from learnchain.ml.envs_more import QueueOracle
from learnchain.ml.fixedpoint import SCALE, from_fp


@pytest.mark.parametrize("name", ["Acrobot-v1", "MountainCar-v0"])
def test_classic_control_step_matches_gymnasium_from_the_same_state(name: str) -> None:
    env = make_env(name)
    ref = gym.make(name).unwrapped
    ref.reset(seed=0)
    state = env.reset(b"s")
    for t in range(40):
        action = t % env.n_actions
        ref.state = np.array([from_fp(v) for v in state[:-1]], dtype=np.float64)
        _, reward, terminated, _, _ = ref.step(action)
        out = env.step(state, action, derive_seed(b"s", t))
        assert out.reward_fp == int(reward) * SCALE
        assert out.terminated == terminated
        assert np.allclose([from_fp(v) for v in out.reached_state[:-1]], ref.state, atol=1e-9)
        state = out.next_state


@pytest.mark.parametrize(("name", "limit"), [("Acrobot-v1", 500), ("MountainCar-v0", 200)])
def test_episodes_truncate_at_the_gym_time_limit(name: str, limit: int) -> None:
    env = make_env(name)
    state = env.reset(b"r")
    for t in range(limit):
        out = env.step(state, 1, derive_seed(b"r", t))  # action 1: no torque / no push
        assert not out.terminated
        state = out.next_state
    assert out.truncated and out.next_state == env.reset(derive_seed(b"r", limit - 1))


def test_mountaincar_reset_in_gym_range_and_features_are_unit_scale() -> None:
    env = make_env("MountainCar-v0")
    for i in range(30):
        s = env.reset(derive_seed(b"m", i))
        assert -0.6 <= from_fp(s[0]) <= -0.4 and s[1] == 0 and s[2] == 0
        assert all(abs(v) <= SCALE for v in env.observe(s))


def test_acrobot_features_are_cos_sin_and_scaled_velocities() -> None:
    env = make_env("Acrobot-v1")
    obs = env.observe((0, 0, 0, 0, 0))
    assert obs == (SCALE, 0, SCALE, 0, 0, 0)


def test_queue_never_ends_and_stays_in_range() -> None:
    env = make_env("Queue-v0")
    state = env.reset(b"q")
    total = 0
    for t in range(2000):
        out = env.step(state, t % 2 if t % 7 else 0, derive_seed(b"q", t))
        assert not out.done and out.next_state == out.reached_state
        assert all(0 <= v <= QueueOracle.CAPACITY for v in out.next_state[:2])
        assert out.reward_fp <= 0
        total += out.reward_fp
        state = out.next_state
    assert state[-1] == 2000 and total < 0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 20), st.integers(0, 20), st.integers(0, 1), st.binary(max_size=8))
def test_queue_reward_is_holding_cost_plus_drop_penalty(q0: int, q1: int, a: int,
                                                         seed: bytes) -> None:
    env = QueueOracle()
    out = env.step((q0, q1, 5), a, seed)
    n0, n1 = out.next_state[:2]
    before = [q0, q1]
    # jobs are conserved: arrivals = served + dropped + growth, with at most 2 arrivals
    growth = (n0 + n1) - (q0 + q1)
    assert -2 <= growth <= 2
    units = out.reward_fp // (SCALE // 10)
    dropped = (-units - (n0 + n1)) // 10
    assert units == -(n0 + n1) - 10 * dropped and dropped >= 0
    assert before[1 - a] - 1 <= out.next_state[1 - a] <= before[1 - a]  # untouched queue


def test_queue_rejects_states_out_of_range() -> None:
    env = make_env("Queue-v0")
    with pytest.raises(EnvError):
        env.step((21, 0, 0), 0, b"x")
    with pytest.raises(EnvError):
        env.step((-1, 0, 0), 0, b"x")


def test_continuing_evaluation_is_a_per_step_average_over_a_horizon() -> None:
    env = make_env("Queue-v0")
    hyper = dqn.DQNConfig(hidden=(8,))
    params = dqn.init_params(dqn.NetSpec(env.obs_dim, env.n_actions, (8,)), b"p")
    score = dqn.evaluate_greedy(params, "Queue-v0", 3, b"e")
    assert score == dqn.evaluate_greedy(params, "Queue-v0", 3, b"e", horizon=200)
    assert -(2 * QueueOracle.CAPACITY + 10) <= score < 0
    assert hyper.hidden == (8,)


def test_learning_on_the_continuing_task_improves_on_the_random_start() -> None:
    res = dqn.learn_offline("Queue-v0", 1500, 1, b"queue-learn",
                            hyper=dqn.DQNConfig(hidden=(32, 32)), learning_starts=200,
                            eps=dqn.EpsilonSchedule(decay_steps=1000), eval_every=1500,
                            eval_episodes=4, solve_return=None)
    assert res.env_steps == 1500 and res.grad_steps == 1301 and res.episode_returns == []
    params0 = dqn.init_params(dqn.NetSpec(2, 2, (32, 32)), b"x")
    start = dqn.evaluate_greedy(params0, "Queue-v0", 4, b"eval")
    end = dqn.evaluate_greedy(res.params, "Queue-v0", 4, b"eval")
    assert end > start
