"""Oracle environments: reconstructible, reproducible, integer-exact where promised."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from learnchain.ml.coins import coin_below, derive_seed
from learnchain.ml.envs import (
    ENV_REGISTRY,
    CartPoleOracle,
    EnvError,
    InventoryOracle,
    StepOutcome,
    make_env,
    register_env,
)
from learnchain.ml.fixedpoint import SCALE, from_fp, to_fp


def _rollout(env_name: str, n: int, seed: bytes) -> list[StepOutcome]:
    env = make_env(env_name)
    state = env.reset(derive_seed(seed, 0))
    outs = []
    for t in range(n):
        out = env.step(state, t % env.n_actions, derive_seed(seed, t + 1))
        outs.append(out)
        state = out.next_state
    return outs


@pytest.mark.parametrize("name", sorted(ENV_REGISTRY))
def test_rollout_reproducible(name: str) -> None:
    a = _rollout(name, 300, b"chain")
    assert a == _rollout(name, 300, b"chain")
    assert a != _rollout(name, 300, b"other")
    for out in a:
        assert all(type(v) is int for v in out.next_state)
        assert type(out.reward_fp) is int


@pytest.mark.parametrize("name", sorted(ENV_REGISTRY))
def test_step_is_a_pure_function_of_state_action_seed(name: str) -> None:
    env = make_env(name)
    s = env.reset(b"x")
    first = env.step(s, 1, b"k")
    env.step(env.reset(b"y"), 0, b"z")  # interleave an unrelated call on the same object
    assert env.step(s, 1, b"k") == first
    assert make_env(name).step(s, 1, b"k") == first


def test_cartpole_reset_in_gym_range() -> None:
    env = CartPoleOracle()
    for i in range(50):
        s = env.reset(derive_seed(b"r", i))
        assert s[-1] == 0
        assert all(abs(v) <= 5 * 10**7 for v in s[:4])


def test_cartpole_matches_native_gym_step_up_to_quantisation() -> None:
    env = CartPoleOracle()
    native = gym.make("CartPole-v1").unwrapped
    native.reset(seed=0)
    state = env.reset(b"q")
    for t in range(40):
        action = t % 2
        native.state = np.array([from_fp(v) for v in state[:4]], dtype=np.float64)
        native.steps_beyond_terminated = None
        _, r, term, _, _ = native.step(action)
        out = env.step(state, action, b"s")
        assert out.reached_state[:4] == tuple(to_fp(float(v)) for v in native.state)
        assert out.reward_fp == to_fp(r) == SCALE
        assert out.terminated == term
        if out.done:
            break
        state = out.next_state


def test_done_continues_from_reset_with_same_seed() -> None:
    env = CartPoleOracle()
    falling = (0, 0, 209_000_000, 2 * SCALE, 7)  # pole about to pass 12 degrees
    out = env.step(falling, 1, b"seed")
    assert out.terminated and out.done
    assert out.next_state == env.reset(b"seed")
    assert out.reached_state[-1] == 8 and out.reached_state != out.next_state


def test_truncation_at_time_limit() -> None:
    env = CartPoleOracle()
    out = env.step((0, 0, 0, 0, 499), 0, b"t")
    assert out.truncated and not out.terminated
    assert out.next_state == env.reset(b"t")
    assert out.reached_state[-1] == 500


def test_inventory_is_exact_integer_arithmetic() -> None:
    env = InventoryOracle()
    seed = b"demand"
    demand = coin_below(seed, "inventory/demand", 0, 5)
    out = env.step((2, 0, 10), 3, seed)
    stocked = 5
    sold = min(stocked, demand)
    units = 4 * sold - 2 * 3 - 1 * (stocked - sold) - 3 * (demand - sold)
    assert out.reached_state == (stocked - sold, demand, 11)
    assert out.reward_fp == units * SCALE // 10
    assert env.observe((5, 2, 25)) == (SCALE // 2, SCALE // 2, SCALE // 2)


def test_inventory_episode_length() -> None:
    env = InventoryOracle()
    out = env.step((0, 0, 49), 0, b"x")
    assert out.truncated and out.next_state == env.reset(b"x")


@pytest.mark.parametrize(
    ("state", "action"),
    [((0, 0, 0, 0, 0), 2), ((0, 0, 0, 0), 0), ((0, 0, 0, 0, 500), 0),
     ((0, 0, 0.0, 0, 0), 0), ((0, 0, 0, 0, 0), True)],
)
def test_invalid_inputs_rejected(state: tuple, action: int) -> None:
    with pytest.raises(EnvError):
        CartPoleOracle().step(state, action, b"s")


def test_inventory_rejects_out_of_range_state() -> None:
    with pytest.raises(EnvError):
        InventoryOracle().step((11, 0, 0), 0, b"s")


def test_registry() -> None:
    assert isinstance(make_env("CartPole-v1"), CartPoleOracle)
    assert isinstance(make_env("Inventory-v0"), InventoryOracle)
    with pytest.raises(EnvError):
        make_env("Nope-v0")
    with pytest.raises(EnvError):
        register_env("CartPole-v1", CartPoleOracle)
